//! A Cloudflare Worker serving Feishu's token endpoints: a drop-in for
//! Feishu's own, cached in the isolate's memory, then Workers KV (binding
//! `TOKENS`), then Feishu; a gateway passing every other `/open-apis/*` call
//! on; and, with an app's secrets, the whole store-app chain (managed mode).
//! All token logic is the core crate's. `docs/design.md` walks a request
//! through these folders:
//!
//! - `http/`: routes, the way every request goes, reading bodies, replies, CORS;
//! - `tokens/`: the token endpoints and how their clients are built;
//! - `gateway/`: pass-through, forwarding rules, managed calls, eviction;
//! - `managed/`: store-app mode (API keys, the chain, events);
//! - `cache/`: the KV layer and its binding;
//! - `coordinator/`: the optional Durable Object and what isolates ask it;
//! - `state.rs`: the isolate's slots; `config.rs`: the settings.
//!
//! The pure parts (settings, routes, request bodies, forwarding rules, the KV
//! layer's rules) build natively and are tested there; the rest is wasm32-only.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

mod agents;
mod cache;
mod config;
mod coordinator;
mod gateway;
mod http;
mod managed;
mod tokens;
mod users;

#[cfg(target_arch = "wasm32")]
mod log;
#[cfg(target_arch = "wasm32")]
mod state;

#[cfg(target_arch = "wasm32")]
#[worker::event(fetch)]
async fn fetch(
    req: worker::Request,
    env: worker::Env,
    _ctx: worker::Context,
) -> worker::Result<worker::Response> {
    http::dispatch::handle(req, &env).await
}
