// Node, Deno and Bun: `feishu-tenant-token/store-app` (see node.js).
import { readFileSync } from "node:fs";
import { initSync } from "./store_app.js";

const WASM = "store_app_bg.wasm";
let bytes;
try {
  // A literal URL: bundlers that copy assets (webpack, Vite) recognise only this form.
  bytes = readFileSync(new URL("./store_app_bg.wasm", import.meta.url));
} catch (cause) {
  // Most often a bundle (esbuild, webpack, ncc) that left the .wasm behind.
  throw new Error(
    `feishu-tenant-token/store-app: cannot read ${WASM} beside this module (${cause?.message ?? cause}). ` +
      `If this code is bundled, import "feishu-tenant-token/store-app/embedded" instead (the same API, the .wasm inside the JS), ` +
      `or copy node_modules/feishu-tenant-token/${WASM} beside the bundle.`,
    { cause },
  );
}
initSync({ module: bytes });

export { getAppAccessToken, resendAppTicket, parseEvent, StoreAppClient } from "./store_app.js";
