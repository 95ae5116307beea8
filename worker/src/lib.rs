//! A Cloudflare Worker serving Feishu tenant_access_tokens: a drop-in for
//! Feishu's own endpoint, cached in the isolate's memory, then Workers KV
//! (binding `TOKENS`), then Feishu. All token logic is the core crate's.
//!
//! Everything but the settings parser is wasm32-only; natively only that
//! parser and its tests build.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

mod config;
#[cfg(target_arch = "wasm32")]
mod cors;
#[cfg(target_arch = "wasm32")]
mod kv_source;
#[cfg(target_arch = "wasm32")]
mod managed;
#[cfg(target_arch = "wasm32")]
mod reply;
#[cfg(target_arch = "wasm32")]
mod routes;

#[cfg(target_arch = "wasm32")]
#[worker::event(fetch)]
async fn fetch(
    req: worker::Request,
    env: worker::Env,
    _ctx: worker::Context,
) -> worker::Result<worker::Response> {
    routes::handle(req, &env).await
}
