// Cloudflare Workers / workerd: compiling wasm from bytes at run time is not
// allowed there, so the .wasm is imported as a module (wrangler and Miniflare
// turn the import into a WebAssembly.Module).
import wasmModule from "./feishu_tenant_token_bg.wasm";
import { initSync } from "./feishu_tenant_token.js";

initSync({ module: wasmModule });

export { getTenantAccessToken, SelfBuiltAppClient, TenantTokenClient } from "./feishu_tenant_token.js";
