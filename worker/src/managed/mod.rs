//! Managed (store-app) mode: the Worker holds one app's id and secret,
//! receives its `app_ticket`s at `POST /feishu/events` (`events.rs`) and
//! serves its tenants' tokens at `GET /v1/tenants/{tenant_key}/tenant_access_token`
//! to services presenting an API key (`endpoints.rs`; keys checked by
//! `keys::api_keys`). The chain itself is the core's (`store_app`);
//! `sources::chain` builds it over KV and the coordinator.

#[cfg(target_arch = "wasm32")]
pub mod endpoints;
#[cfg(target_arch = "wasm32")]
pub mod events;

#[cfg(target_arch = "wasm32")]
pub(crate) fn ack() -> worker::Result<worker::Response> {
    crate::http::reply::json_response(200, r#"{"code":0,"msg":"ok"}"#.to_owned())
}
