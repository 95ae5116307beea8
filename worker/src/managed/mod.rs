//! Managed (store-app) mode: the Worker holds one app's id and secret,
//! receives its `app_ticket`s at `POST /feishu/events` (`events.rs`) and
//! serves its tenants' tokens at `GET /v1/tenants/{tenant_key}/tenant_access_token`
//! to services presenting an API key (`endpoints.rs`, keys in `auth.rs`).
//! The chain itself is the core's (`store_app`); `chain.rs` builds it over
//! KV and the coordinator.

#[cfg(target_arch = "wasm32")]
pub mod auth;
#[cfg(target_arch = "wasm32")]
pub mod chain;
#[cfg(target_arch = "wasm32")]
pub mod endpoints;
#[cfg(target_arch = "wasm32")]
pub mod events;

#[cfg(target_arch = "wasm32")]
pub use auth::{api_caller, holds_key, is_managed_app};

#[cfg(target_arch = "wasm32")]
fn managed_off() -> worker::Result<worker::Response> {
    crate::http::reply::local(
        crate::http::reply::Local::NotFound,
        "managed mode is off (set FEISHU_APP_ID and FEISHU_APP_SECRET)",
    )
}

#[cfg(target_arch = "wasm32")]
fn ack() -> worker::Result<worker::Response> {
    crate::http::reply::json_response(200, r#"{"code":0,"msg":"ok"}"#.to_owned())
}
