// Node, Deno and Bun: `feishu-tenant-token/store-app` (see node.js).
import { readFileSync } from "node:fs";
import { initSync } from "./store_app.js";

initSync({ module: readFileSync(new URL("./store_app_bg.wasm", import.meta.url)) });

export { getAppAccessToken, resendAppTicket, parseEvent, StoreAppClient } from "./store_app.js";
