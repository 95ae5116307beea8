// Node, Deno and Bun: `feishu-tenant-token/user-tokens` (see node.js).
import { readFileSync } from "node:fs";
import { initSync } from "./user_tokens.js";

const WASM = "user_tokens_bg.wasm";
let bytes;
try {
  // A literal URL: bundlers that copy assets (webpack, Vite) recognise only this form.
  bytes = readFileSync(new URL("./user_tokens_bg.wasm", import.meta.url));
} catch (cause) {
  // Most often a bundle (esbuild, webpack, ncc) that left the .wasm behind.
  throw new Error(
    `feishu-tenant-token/user-tokens: cannot read ${WASM} beside this module (${cause?.message ?? cause}). ` +
      `If this code is bundled, import "feishu-tenant-token/user-tokens/embedded" instead (the same API, the .wasm inside the JS), ` +
      `or copy node_modules/feishu-tenant-token/${WASM} beside the bundle.`,
    { cause },
  );
}
initSync({ module: bytes });

export { UserTokenClient, createPkce } from "./user_tokens.js";
