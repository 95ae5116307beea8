// Browsers and bundlers: fetch the .wasm beside this file (bundlers recognise
// the `new URL(..., import.meta.url)` pattern and emit it as an asset).
import init from "./feishu_tenant_token.js";

await init({ module_or_path: new URL("./feishu_tenant_token_bg.wasm", import.meta.url) });

export { getTenantAccessToken, SelfBuiltAppClient, TenantTokenClient } from "./feishu_tenant_token.js";
