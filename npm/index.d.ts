export { getTenantAccessToken, TenantTokenClient } from "./feishu_tenant_token.js";
export type {
  ClientOptions,
  ClientStats,
  FeishuTokenError,
  FeishuTokenErrorCode,
  FetchFunction,
  TenantToken,
  TokenRequest,
} from "./feishu_tenant_token.js";
