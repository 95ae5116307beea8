export { UserTokenClient, createPkce } from "./user_tokens.js";
export type {
  AuthorizeUrlOptions,
  ClientOptions,
  ExchangeOptions,
  FeishuTokenError,
  FeishuTokenErrorCode,
  FetchFunction,
  Pkce,
  SignedInUser,
  UserGrant,
  UserToken,
  UserTokenClientOptions,
  UserTokenStore,
  VersionedGrant,
} from "./user_tokens.js";
