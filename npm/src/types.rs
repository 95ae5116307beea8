//! TypeScript declarations for the shapes the API takes and returns; the
//! functions' signatures refer to these by name.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/** What to fetch a token for. */
export interface TokenRequest {
  /** The app's `app_access_token` (step 2 of the store-app chain). */
  appAccessToken: string;
  /** The tenant's `tenant_key` (its id on Feishu). */
  tenantKey: string;
}

/** A tenant token and its lifetime. */
export interface TenantToken {
  tenantAccessToken: string;
  /** Whole seconds the token has left now. */
  expire: number;
  /** When the token stops working, in epoch milliseconds. */
  expiresAt: number;
}

/** The `fetch` to send requests with; defaults to the runtime's global one. */
export type FetchFunction = (input: string, init: RequestInit) => Promise<Response>;

export interface ClientOptions {
  /**
   * Where the auth endpoints live. Default `"https://open.feishu.cn"` (Feishu);
   * use `"https://open.larksuite.com"` for Lark, or a proxy. Plain `http://` is
   * accepted only for loopback hosts.
   */
  baseUrl?: string;
  /** Abort a request after this many milliseconds (1..600000). Default 10000. */
  timeoutMs?: number;
  /**
   * Serve a cached token only while at least this many seconds remain (0..7200).
   * Default 1800: Feishu's own rotation window, so a cached token carries the
   * same guarantee as a fresh one.
   */
  minValiditySecs?: number;
  /**
   * Retries after a network error, a timeout or an HTTP 5xx (exponential backoff,
   * full jitter), or after a rate limit once its reset time has passed (0..5).
   * Feishu API errors are never retried. Default 2.
   */
  retries?: number;
  /**
   * Waits between attempts must end within this many milliseconds of the first
   * attempt; a rate limit that resets later fails at once with `RATE_LIMITED`
   * and `retryAfterSecs` (0..600000). Default 20000.
   */
  deadlineMs?: number;
  /** A `fetch` to use instead of the global one (tests, proxies, instrumentation). */
  fetch?: FetchFunction;
}

/** A self-built app's credentials, from the developer console, and the options every client takes. */
export interface SelfBuiltAppClientOptions extends ClientOptions {
  appId: string;
  appSecret: string;
}

export interface ClientStats {
  /** `get`s answered from the cache. */
  hits: number;
  /** `get`s that found no servable token. */
  misses: number;
  /** Requests actually sent. */
  upstreamCalls: number;
  /** Misses that waited for a request another `get` had started. */
  coalescedWaits: number;
  /**
   * Answers that were a cached token past the freshness window (but with more
   * than 60 s left), served because the request to replace it failed.
   */
  staleServed: number;
  /** `fetch` calls sent again with a fresh token after Feishu refused the first (99991663 / 99991665). */
  recoveries: number;
}

/** The stable `code` of every error this package produces. */
export type FeishuTokenErrorCode =
  | "FEISHU_API_ERROR"
  | "RATE_LIMITED"
  | "HTTP_ERROR"
  | "INVALID_RESPONSE"
  | "NETWORK_ERROR"
  | "TIMEOUT"
  | "INVALID_INPUT"
  // Store-app mode (`feishu-tenant-token/store-app`) only:
  | "APP_TICKET_MISSING"
  | "INVALID_SIGNATURE"
  | "STALE_EVENT"
  | "INVALID_VERIFICATION_TOKEN"
  | "DECRYPTION_FAILED"
  | "INVALID_EVENT";

/** What every rejection of this package is. Messages never contain a secret. */
export interface FeishuTokenError extends Error {
  name: "FeishuTokenError";
  code: FeishuTokenErrorCode;
  /** Feishu's `code`, when Feishu answered with one. */
  feishuCode?: number;
  /** Feishu's `msg`, when Feishu answered with one. */
  feishuMsg?: string;
  /** The HTTP status, when an answer arrived. */
  httpStatus?: number;
  /**
   * For `RATE_LIMITED`: seconds until the limit resets (`x-ogw-ratelimit-reset`).
   * For `APP_TICKET_MISSING`: seconds to wait for Feishu to push a ticket.
   */
  retryAfterSecs?: number;
  /** The upstream body (at most 1 KiB, token values redacted), for diagnosis. */
  rawBody?: string;
}
"#;

#[wasm_bindgen]
extern "C" {
    /// A `ClientOptions` as received; checked by `options::options`.
    #[wasm_bindgen(typescript_type = "ClientOptions")]
    pub type OptionsArg;

    /// A `SelfBuiltAppClientOptions` as received; checked by `options::from_js`.
    #[wasm_bindgen(typescript_type = "SelfBuiltAppClientOptions")]
    pub type SelfBuiltOptionsArg;

    /// What `fetch` calls: a path or a URL; checked by `api_fetch`.
    #[wasm_bindgen(typescript_type = "string | URL")]
    pub type InputArg;

    /// `fetch`'s `init`, passed on with the client's `Authorization`.
    #[wasm_bindgen(typescript_type = "RequestInit")]
    pub type InitArg;

    /// A tenant key as received (a string); checked by `TenantKey::parse`.
    #[wasm_bindgen(typescript_type = "string")]
    pub type TenantKeyArg;

    /// A `TokenRequest` as received; checked by `options::token_request`.
    #[wasm_bindgen(typescript_type = "TokenRequest")]
    pub type RequestArg;
}
