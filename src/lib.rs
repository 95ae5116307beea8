//! Obtain and cache Feishu / Lark `tenant_access_token`s: the core shared by
//! the npm package (`npm/`) and the Cloudflare Worker (`worker/`).
//!
//! The core does no I/O of its own: wire types with serde derives, request
//! builders and response parsers, the freshness rule over an injected
//! [`Clock`], and a [`TokenClient`] (cache + single-flight) over a
//! [`Source`] that ends in a [`Transport`]. On `wasm32`, [`host`] binds the
//! transport and the clock to the host's global `fetch` and `Date.now()`.
//! `docs/design.md` maps where each rule lives.

pub mod api_call;
pub mod api_path;
pub mod app;
pub mod cache_key;
pub mod client;
pub mod error;
#[cfg(feature = "store-app")]
pub mod event;
pub mod fast_path;
pub mod freshness;
pub mod json;
pub mod kv;
pub mod rate_limit;
pub mod retry;
pub mod secret;
pub mod self_built;
pub mod source;
#[cfg(feature = "store-app")]
pub mod store_app;
pub mod transport;
#[cfg(feature = "user-tokens")]
pub mod user_token;
pub mod validate;
pub mod wire;

mod redact;

#[cfg(target_arch = "wasm32")]
pub mod host;

pub use app::AppCredentials;
pub use cache_key::{AppBinding, CacheKey};
pub use client::{FORCED_REFRESH_MIN_INTERVAL_MS, Served, Stats, TokenClient};
pub use error::{Error, ErrorCode};
pub use fast_path::BindingMemo;
pub use freshness::{Clock, DEFAULT_MIN_VALIDITY_SECS, Freshness, TokenGrant};
pub use json::{Loose, ReadJson, SerdeJson};
pub use retry::RetryPolicy;
pub use secret::{AccessToken, AppAccessToken};
pub use source::{JoinWait, Keyed, Source, Upstream, fetch_tenant_token};
pub use transport::{HttpRequest, HttpResponse, Method, Timer, Transport, TransportError};
pub use validate::{BaseUrl, FEISHU_BASE_URL, LARK_BASE_URL, TenantKey, TokenRequest};
