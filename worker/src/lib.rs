//! A Cloudflare Worker serving Feishu tenant_access_tokens: a drop-in for
//! Feishu's own endpoint, cached in the isolate's memory, then Workers KV
//! (binding `TOKENS`), then Feishu. All token logic is the core crate's.

mod config;
mod cors;
mod kv_source;
mod reply;
mod routes;

use worker::{Context, Env, Request, Response, Result, event};

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    routes::handle(req, &env).await
}
