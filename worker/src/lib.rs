//! A Cloudflare Worker serving Feishu's token endpoints: a drop-in for
//! Feishu's own, cached in the isolate's memory, then Workers KV (binding
//! `TOKENS`), then Feishu; a gateway passing every other `/open-apis/*` call
//! on; and, with an app's secrets, the whole store-app chain (managed mode).
//! All token logic is the core crate's. `docs/design.md` walks a request
//! through these folders.
//!
//! The folders are layered: each imports only folders below it (drawn from
//! the imports by `python3 ../shared/tools/folder-graph.py worker/src`: no
//! pair imports each other). From the ground up:
//!
//! 1. `config/` (the settings, read once per isolate), `log.rs`;
//! 2. `cache/`: the KV layer, its binding, an object's storage, and the seam
//!    through which the layer asks the coordinator (`cache::ask`);
//! 3. `http/`: reading requests, every reply, CORS; `coordinator/`: how an
//!    isolate asks the coordinator's objects (the front side);
//! 4. `keys/`: the checks of the Worker's own credentials (API keys, agent
//!    keys' and gateway tokens' shapes, gateway tokens, the bearer);
//! 5. `sources/`: where tokens come from (request bodies, clients, the
//!    store-app chain, the isolate's slots); `limits/`: Feishu's frequency
//!    limits met per limit key (the isolate's pacers, the waiting, the
//!    question to the limits' object across isolates);
//! 6. `calls/`: calling Feishu for a caller (send, examine, evict, replace,
//!    replay: one `call_with` for managed, agent and user calls);
//! 7. features: `agents/`, `managed/` (store-app mode), then `users/` and
//!    `tokens/`, then `gateway/` (which hands calls to the others);
//! 8. `objects/`: the Durable Object classes;
//! 9. `router/`: the routes and the way every request goes; `lib.rs`.
//!
//! The pure parts (settings, routes, request bodies, forwarding rules, the KV
//! layer's rules) build natively and are tested there; the rest is wasm32-only.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

mod admin;
mod agents;
mod cache;
mod calls;
mod config;
mod coordinator;
mod events;
mod gateway;
mod http;
mod keys;
#[cfg(target_arch = "wasm32")]
mod limits;
mod managed;
mod objects;
mod router;
mod sources;
mod tokens;
mod usage;
mod users;

#[cfg(target_arch = "wasm32")]
mod log;

#[cfg(target_arch = "wasm32")]
#[worker::event(fetch)]
async fn fetch(
    req: worker::Request,
    env: worker::Env,
    ctx: worker::Context,
) -> worker::Result<worker::Response> {
    let resp = router::dispatch::handle(req, &env).await;
    // The calls counted while serving it go to their objects in the
    // background, a second later with the others (`usage::tally`).
    usage::tally::flush_later(&ctx, &env);
    resp
}
