//! The one path every npm client's token method takes (`TenantTokenClient.get`,
//! `SelfBuiltAppClient.tenantToken`, `StoreAppClient.tenantToken`): a lookup
//! by key first, and a hit settles at once without spawning a future (most
//! calls are hits); a miss starts the client's `get` with a checked request
//! right away.

use crate::errors;
use crate::fast_path;
use crate::options;
use core::future::Future;
use core::task::{Context, Poll, Waker};
use feishu_tenant_token::host::JsClock;
use feishu_tenant_token::{
    AccessToken, CacheKey, Clock, Error, Source, Stats, TokenClient, TokenGrant,
};
use js_sys::Promise;
use serde::Serialize;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

pub(crate) type Client<S> = TokenClient<S, JsClock>;

/// A promise already settled with the token cached under `key`, if it may be
/// served (the caller may have memoised the key, or hold it ready).
pub(crate) fn cached<S: Source>(client: &Client<S>, key: &CacheKey) -> Option<Promise> {
    let hit = client.with_cached(key, fast_path::token_result)?;
    Some(Promise::resolve(&hit))
}

/// The client's `get`, started at once (a miss, or a token it may not serve).
pub(crate) fn fetch<S>(client: &Rc<Client<S>>, request: S::Request) -> Promise
where
    S: Source + 'static,
    S::Request: 'static,
{
    let client = Rc::clone(client);
    start_now(async move { settle(client.get(&request).await) })
}

/// Settles a promise with `{ tenantAccessToken, expire, expiresAt }` or a
/// `FeishuTokenError`.
pub(crate) fn settle(result: Result<TokenGrant, Error>) -> Result<JsValue, JsValue> {
    match result {
        Ok(grant) => Ok(fast_path::token_result(&grant, JsClock.now_ms())),
        Err(e) => Err(errors::to_js(&e)),
    }
}

/// Runs `fut` up to its first await right now, then hands it to the executor.
/// `future_to_promise` alone would start it in a later microtask, behind
/// whatever the runtime has queued (undici's clean-up of the previous
/// response, say): measured, that delay was ~70 µs per cold get in Node.
/// Polling once with a no-op waker is sound: the executor polls again when it
/// takes the future over, registering its real waker.
pub(crate) fn start_now(fut: impl Future<Output = Result<JsValue, JsValue>> + 'static) -> Promise {
    let mut fut = Box::pin(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(Ok(v)) => Promise::resolve(&v),
        Poll::Ready(Err(e)) => Promise::reject(&e),
        Poll::Pending => future_to_promise(fut),
    }
}

/// Drops the tenant's cached tokens, or with `token` only an entry still
/// holding it (of `tenant_key`, when given); how many went.
pub(crate) fn invalidate<S: Source>(
    client: &Client<S>,
    tenant_key: Option<&str>,
    token: Option<String>,
    whole: impl FnOnce() -> usize,
) -> u32 {
    let n = match token {
        Some(t) => client.invalidate_token(&AccessToken::new(t), tenant_key),
        None => whole(),
    };
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// `ClientStats`, as the TypeScript declarations name its members.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StatsOut {
    hits: u64,
    misses: u64,
    upstream_calls: u64,
    coalesced_waits: u64,
    stale_served: u64,
    recoveries: u64,
}

/// The cache's counters, and `fetch` calls replayed after a refused token.
pub(crate) fn stats<S: Source>(client: &Client<S>, recoveries: u64) -> JsValue {
    let s: Stats = client.stats();
    options::to_js(&StatsOut {
        hits: s.hits,
        misses: s.misses,
        upstream_calls: s.upstream_calls,
        coalesced_waits: s.coalesced_waits,
        stale_served: s.stale_served,
        recoveries,
    })
}
