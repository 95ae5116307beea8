// Node, Deno and Bun: read the .wasm beside this file and instantiate it
// synchronously (their fetch cannot load file: URLs, so the web loader won't do).
import { readFileSync } from "node:fs";
import { initSync } from "./feishu_tenant_token.js";

const WASM = "feishu_tenant_token_bg.wasm";
let bytes;
try {
  // A literal URL: bundlers that copy assets (webpack, Vite) recognise only this form.
  bytes = readFileSync(new URL("./feishu_tenant_token_bg.wasm", import.meta.url));
} catch (cause) {
  // Most often a bundle (esbuild, webpack, ncc) that left the .wasm behind.
  throw new Error(
    `feishu-tenant-token: cannot read ${WASM} beside this module (${cause?.message ?? cause}). ` +
      `If this code is bundled, import "feishu-tenant-token/embedded" instead (the same API, the .wasm inside the JS), ` +
      `or copy node_modules/feishu-tenant-token/${WASM} beside the bundle.`,
    { cause },
  );
}
initSync({ module: bytes });

export { getTenantAccessToken, SelfBuiltAppClient, TenantTokenClient } from "./feishu_tenant_token.js";
