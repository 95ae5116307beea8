// Cloudflare Workers / workerd: `feishu-tenant-token/store-app` (see workerd.js).
import wasmModule from "./store_app_bg.wasm";
import { initSync } from "./store_app.js";

initSync({ module: wasmModule });

export { getAppAccessToken, resendAppTicket, parseEvent, StoreAppClient } from "./store_app.js";
