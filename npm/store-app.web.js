// Browsers and bundlers: `feishu-tenant-token/store-app` (see web.js).
import init from "./store_app.js";

await init({ module_or_path: new URL("./store_app_bg.wasm", import.meta.url) });

export { getAppAccessToken, resendAppTicket, parseEvent, StoreAppClient } from "./store_app.js";
