//! Obtain and cache Feishu / Lark store-app `tenant_access_token`s.
//!
//! The crate is a pure core (wire format, validation, freshness, cache with
//! single-flight) that does no I/O of its own; the host supplies a
//! [`transport::Transport`] and a [`freshness::Clock`]. On `wasm32` the `js`
//! module binds both to the host's global `fetch` and `Date.now()` and exports
//! the npm API.

#[cfg(feature = "store-app")]
pub mod base64;
pub mod cache_key;
pub mod client;
pub mod error;
#[cfg(feature = "store-app")]
pub mod event;
pub mod freshness;
pub mod json;
pub mod kv;
pub mod retry;
pub mod secret;
pub mod source;
#[cfg(feature = "store-app")]
pub mod store_app;
pub mod transport;
pub mod validate;
pub mod wire;

mod redact;
mod single_flight;

#[cfg(target_arch = "wasm32")]
pub mod js;

pub use cache_key::{AppBinding, CacheKey};
pub use client::{FORCED_REFRESH_MIN_INTERVAL_MS, Served, Stats, TokenClient};
pub use error::{Error, ErrorCode};
pub use freshness::{Clock, DEFAULT_MIN_VALIDITY_SECS, Freshness, TokenGrant};
pub use retry::RetryPolicy;
pub use secret::{AppAccessToken, TenantAccessToken};
pub use source::{JoinWait, Keyed, Source, Upstream, fetch_tenant_token};
pub use transport::{HttpRequest, HttpResponse, Transport, TransportError};
pub use validate::{BaseUrl, FEISHU_BASE_URL, LARK_BASE_URL, TenantKey, TokenRequest};
