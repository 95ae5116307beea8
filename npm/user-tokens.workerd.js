// Cloudflare Workers / workerd: `feishu-tenant-token/user-tokens` (see workerd.js).
import wasmModule from "./user_tokens_bg.wasm";
import { initSync } from "./user_tokens.js";

initSync({ module: wasmModule });

export { UserTokenClient, createPkce } from "./user_tokens.js";
