export { getAppAccessToken, resendAppTicket, parseEvent, StoreAppClient } from "./store_app.js";
export type {
  AppCredentials,
  AppToken,
  AppTicketEvent,
  ClientOptions,
  ClientStats,
  FeishuEvent,
  FeishuTokenError,
  FeishuTokenErrorCode,
  FetchFunction,
  HeadersLike,
  OtherEvent,
  ParseEventOptions,
  StoreAppClientOptions,
  TenantToken,
  TicketStore,
  UrlVerificationEvent,
} from "./store_app.js";
