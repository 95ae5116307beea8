export { getTenantAccessToken, SelfBuiltAppClient, TenantTokenClient } from "./feishu_tenant_token.js";
export type {
  ClientOptions,
  ClientStats,
  FeishuTokenError,
  FeishuTokenErrorCode,
  FetchFunction,
  SelfBuiltAppClientOptions,
  TenantToken,
  TokenRequest,
} from "./feishu_tenant_token.js";
