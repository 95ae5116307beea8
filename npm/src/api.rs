//! What the npm package's main entry exports. Doc comments here become the
//! JSDoc of the generated `.d.ts`, so they speak to JS users.

use crate::api_fetch::{ApiCalls, ClientFetch};
use crate::errors;
use crate::fast_path::KeyMemo;
use crate::options::{self, Options};
use crate::serve::{self, Client, settle, start_now};
use crate::types::{InitArg, InputArg, OptionsArg, RequestArg};
use feishu_tenant_token::host::{FetchTransport, JsClock};
use feishu_tenant_token::{Error, Freshness, TokenClient, TokenRequest, Upstream};
use js_sys::Promise;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

type Tenants = Upstream<FetchTransport, JsClock>;

pub(crate) fn transport(o: &Options) -> Result<FetchTransport, Error> {
    FetchTransport::new(o.fetch.clone(), o.timeout_ms).map_err(|m| Error::invalid_input(&m))
}

/// Feishu at `baseUrl`, with the options' transport and retries.
pub(crate) fn upstream(o: &Options) -> Result<Tenants, Error> {
    Ok(Upstream::new(transport(o)?, JsClock, o.base_url.clone()).with_retry(o.retry))
}

pub(crate) fn arg(options: Option<OptionsArg>) -> JsValue {
    options.map_or(JsValue::UNDEFINED, JsValue::from)
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
            let o = options::options(&arg(options))?;
            let req = options::token_request(&request)?;
            // A client whose freshness rule never lets a token be cached: one
            // request, and the same code path as `TenantTokenClient.get`.
            let once = TokenClient::new(upstream(&o)?, JsClock, Freshness::new(u64::MAX));
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
    inner: Rc<Client<Tenants>>,
    fetch: ClientFetch,
    keys: KeyMemo,
}

/// A `fetch` call's request, and the tenant whose entries a refused token
/// may leave.
fn fetch_request(value: &JsValue) -> (Result<TokenRequest, Error>, Option<String>) {
    let request = options::token_request(value);
    let tenant = request
        .as_ref()
        .ok()
        .map(|r| r.tenant_key.as_str().to_owned());
    (request, tenant)
}

#[wasm_bindgen(js_class = TenantTokenClient)]
impl JsTenantTokenClient {
    /// Throws a `FeishuTokenError` with code `INVALID_INPUT` for bad options.
    #[wasm_bindgen(constructor)]
    pub fn new(options: Option<OptionsArg>) -> Result<JsTenantTokenClient, JsValue> {
        let build = || -> Result<Self, Error> {
            let o = options::options(&arg(options))?;
            let freshness = Freshness::new(o.min_validity_secs);
            let api = ApiCalls::new(o.base_url.clone(), transport(&o)?);
            let inner = Rc::new(TokenClient::new(upstream(&o)?, JsClock, freshness));
            let fetch = ClientFetch::new(&inner, api, fetch_request);
            Ok(Self {
                inner,
                fetch,
                keys: KeyMemo::default(),
            })
        };
        build().map_err(|e| errors::to_js(&e))
    }

    /// The tenant's token, from the cache or from Feishu. Rejects with a
    /// `FeishuTokenError`; errors are never cached.
    #[wasm_bindgen(unchecked_return_type = "Promise<TenantToken>")]
    pub fn get(&self, request: &RequestArg) -> Promise {
        let usual = self
            .keys
            .with_usual_key(request, |key| serve::cached(&self.inner, key));
        if let Some(Some(hit)) = usual {
            return hit;
        }
        match options::token_request(request) {
            // The usual request's key was looked up already: a miss.
            Ok(r) if usual.is_some() => serve::fetch(&self.inner, r),
            Ok(r) => serve::cached(&self.inner, &self.keys.bindings.key(&r))
                .unwrap_or_else(|| serve::fetch(&self.inner, r)),
            Err(e) => Promise::reject(&errors::to_js(&e)),
        }
    }

    /// Drops the tenant's cached tokens (for every app), e.g. after an API
    /// answered 99991663 "tenant access token invalid"; with `token`, only an
    /// entry still holding exactly that token (a late rejection of an old
    /// token never evicts its replacement). Returns how many went.
    pub fn invalidate(
        &self,
        #[wasm_bindgen(js_name = tenantKey)] tenant_key: &str,
        token: Option<String>,
    ) -> u32 {
        serve::invalidate(&self.inner, Some(tenant_key), token, || {
            self.inner.invalidate(tenant_key)
        })
    }

    /// Calls a Feishu API with the tenant's token: the host's `fetch(input,
    /// init)` with `Authorization: Bearer <tenant token>`, resolving to its
    /// `Response`, body unread. `input` is a path (resolved against `baseUrl`)
    /// or a URL on `baseUrl`'s origin; anything else rejects with
    /// `INVALID_INPUT` and nothing is sent. When the answer's JSON code is
    /// 99991663 or 99991665, that exact token is dropped and the request is
    /// sent once more with a fresh one (unless its body is a stream).
    #[wasm_bindgen(unchecked_return_type = "Promise<Response>")]
    pub fn fetch(&self, request: RequestArg, input: InputArg, init: Option<InitArg>) -> Promise {
        let cached = self
            .keys
            .with_usual_key(&request, |key| {
                self.inner.with_cached(key, |g, _| g.token.clone())
            })
            .flatten();
        self.fetch.call(cached, &request, input, init)
    }

    /// Counters since the client was made.
    #[wasm_bindgen(unchecked_return_type = "ClientStats")]
    pub fn stats(&self) -> JsValue {
        serve::stats(&self.inner, self.fetch.recoveries())
    }
}
