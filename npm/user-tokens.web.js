// Browsers and bundlers: `feishu-tenant-token/user-tokens` (see web.js).
import init from "./user_tokens.js";

await init({ module_or_path: new URL("./user_tokens_bg.wasm", import.meta.url) });

export { UserTokenClient, createPkce } from "./user_tokens.js";
