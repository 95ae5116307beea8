// Node, Deno and Bun: read the .wasm beside this file and instantiate it
// synchronously (their fetch cannot load file: URLs, so the web loader won't do).
import { readFileSync } from "node:fs";
import { initSync } from "./feishu_tenant_token.js";

initSync({ module: readFileSync(new URL("./feishu_tenant_token_bg.wasm", import.meta.url)) });

export { getTenantAccessToken, SelfBuiltAppClient, TenantTokenClient } from "./feishu_tenant_token.js";
