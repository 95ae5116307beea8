//! A Cloudflare Worker serving Feishu tenant_access_tokens: a drop-in for
//! Feishu's own endpoint, cached in the isolate's memory, then Workers KV
//! (binding `TOKENS`), then Feishu; and, with an app's secrets, the whole
//! store-app chain (managed mode). All token logic is the core crate's.
//!
//! The pure parts (settings, routes, request bodies, the KV layer's rules)
//! build natively and are tested there; the rest is wasm32-only.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

mod body;
mod config;
mod forward;
mod kv_layer;
mod route;

#[cfg(target_arch = "wasm32")]
mod coordinated;
#[cfg(target_arch = "wasm32")]
mod coordinator;
#[cfg(target_arch = "wasm32")]
mod cors;
#[cfg(target_arch = "wasm32")]
mod dispatch;
#[cfg(target_arch = "wasm32")]
mod gateway;
#[cfg(target_arch = "wasm32")]
mod kv_store;
#[cfg(target_arch = "wasm32")]
mod log;
#[cfg(target_arch = "wasm32")]
mod managed;
#[cfg(target_arch = "wasm32")]
mod object_store;
#[cfg(target_arch = "wasm32")]
mod reply;
#[cfg(target_arch = "wasm32")]
mod request;
#[cfg(target_arch = "wasm32")]
mod state;
#[cfg(target_arch = "wasm32")]
mod token_route;

#[cfg(target_arch = "wasm32")]
#[worker::event(fetch)]
async fn fetch(
    req: worker::Request,
    env: worker::Env,
    _ctx: worker::Context,
) -> worker::Result<worker::Response> {
    dispatch::handle(req, &env).await
}
