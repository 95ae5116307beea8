//! What the npm package exports. Doc comments here become the JSDoc of the
//! generated `.d.ts`, so they speak to JS users.

use super::fetch::{FetchTransport, JsClock};
use super::record::Record;
use super::types::{OptionsArg, RequestArg};
use super::{convert, errors};
use crate::client::TokenClient;
use crate::error::Error;
use crate::freshness::{Clock, Freshness, TokenGrant};
use crate::source::Upstream;
use core::future::Future;
use core::task::{Context, Poll, Waker};
use js_sys::Promise;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

type Client = TokenClient<Upstream<FetchTransport, JsClock>, JsClock>;

pub(super) fn upstream(o: convert::Options) -> Result<Upstream<FetchTransport, JsClock>, Error> {
    let transport =
        FetchTransport::new(o.fetch, o.timeout_ms).map_err(|m| Error::invalid_input(&m))?;
    Ok(Upstream::new(transport, JsClock, o.base_url).with_retry(o.retry))
}

/// Settles a promise with `{ tenantAccessToken, expire, expiresAt }` or a
/// `FeishuTokenError`.
pub(super) fn settle(result: Result<TokenGrant, Error>) -> Result<JsValue, JsValue> {
    match result {
        Ok(grant) => Ok(convert::token_result(&grant, JsClock.now_ms())),
        Err(e) => Err(errors::to_js(&e)),
    }
}

/// Runs `fut` up to its first await right now, then hands it to the executor.
/// `future_to_promise` alone would start it in a later microtask, behind
/// whatever the runtime has queued (undici's clean-up of the previous
/// response, say): measured, that delay was ~70 µs per cold get in Node.
/// Polling once with a no-op waker is sound: the executor polls again when it
/// takes the future over, registering its real waker.
pub(super) fn start_now(fut: impl Future<Output = Result<JsValue, JsValue>> + 'static) -> Promise {
    let mut fut = Box::pin(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(Ok(v)) => Promise::resolve(&v),
        Poll::Ready(Err(e)) => Promise::reject(&e),
        Poll::Pending => future_to_promise(fut),
    }
}

/// Fetches one tenant's token from Feishu, with no caching (each call is one
/// request). Prefer `TenantTokenClient` in anything long-lived.
///
/// Rejects with a `FeishuTokenError` (see its `code`); invalid input is
/// rejected before anything is sent. `options.minValiditySecs` has no effect here.
#[wasm_bindgen(js_name = getTenantAccessToken, unchecked_return_type = "Promise<TenantToken>")]
pub fn get_tenant_access_token(request: RequestArg, options: Option<OptionsArg>) -> Promise {
    start_now(async move {
        let result = async {
            let o = convert::options(&options.map_or(JsValue::UNDEFINED, JsValue::from))?;
            let req = convert::token_request(&request)?;
            // A client whose freshness rule never lets a token be cached: one
            // request, and the same code path as `TenantTokenClient.get`
            // (sharing it keeps the `.wasm` smaller).
            let once = TokenClient::new(upstream(o)?, JsClock, Freshness::new(u64::MAX));
            once.get(&req).await
        };
        settle(result.await)
    })
}

/// A tenant-token cache with single-flight: concurrent `get`s for the same
/// app and tenant share one request, and a cached token is served only while
/// at least `minValiditySecs` (default 1800) of its life remain.
#[wasm_bindgen(js_name = TenantTokenClient)]
pub struct JsTenantTokenClient {
    inner: Rc<Client>,
}

#[wasm_bindgen(js_class = TenantTokenClient)]
impl JsTenantTokenClient {
    /// Throws a `FeishuTokenError` with code `INVALID_INPUT` for bad options.
    #[wasm_bindgen(constructor)]
    pub fn new(options: Option<OptionsArg>) -> Result<JsTenantTokenClient, JsValue> {
        let build = || -> Result<Client, Error> {
            let o = convert::options(&options.map_or(JsValue::UNDEFINED, JsValue::from))?;
            let freshness = Freshness::new(o.min_validity_secs);
            Ok(TokenClient::new(upstream(o)?, JsClock, freshness))
        };
        match build() {
            Ok(c) => Ok(Self { inner: Rc::new(c) }),
            Err(e) => Err(errors::to_js(&e)),
        }
    }

    /// The tenant's token, from the cache or from Feishu. Rejects with a
    /// `FeishuTokenError`; errors are never cached.
    #[wasm_bindgen(unchecked_return_type = "Promise<TenantToken>")]
    pub fn get(&self, request: RequestArg) -> Promise {
        let req = match convert::token_request(&request) {
            Ok(req) => req,
            Err(e) => return Promise::reject(&errors::to_js(&e)),
        };
        // A hit settles without spawning a future: most gets are hits.
        if let Some(hit) = self.inner.with_cached(&req, convert::token_result) {
            return Promise::resolve(&hit);
        }
        let client = Rc::clone(&self.inner);
        start_now(async move { settle(client.get(&req).await) })
    }

    /// Drops the tenant's cached tokens (for every app), e.g. after an API
    /// answered 99991663 "tenant access token invalid". Returns how many went.
    pub fn invalidate(&self, #[wasm_bindgen(js_name = tenantKey)] tenant_key: &str) -> u32 {
        u32::try_from(self.inner.invalidate(tenant_key)).unwrap_or(u32::MAX)
    }

    /// Counters since the client was made.
    #[wasm_bindgen(unchecked_return_type = "ClientStats")]
    pub fn stats(&self) -> JsValue {
        stats_object(self.inner.stats())
    }
}

pub(super) fn stats_object(s: crate::client::Stats) -> JsValue {
    {
        let obj = Record::new();
        obj.set_number(&"hits".into(), s.hits);
        obj.set_number(&"misses".into(), s.misses);
        obj.set_number(&"upstreamCalls".into(), s.upstream_calls);
        obj.set_number(&"coalescedWaits".into(), s.coalesced_waits);
        obj.set_number(&"staleServed".into(), s.stale_served);
        obj.into()
    }
}
