//! `SelfBuiltAppClient`: a self-built (internal) app's own tenant token, from
//! its `app_id` and `app_secret`, with the same guarantees as
//! `TenantTokenClient` (single-flight, freshness, retries, stale-if-error).

use crate::api::{transport, upstream};
use crate::api_fetch::{ApiCalls, ClientFetch};
use crate::errors;
use crate::options::{RawOptions, as_object, from_js};
use crate::serve::{self, Client};
use crate::types::{InitArg, InputArg, SelfBuiltOptionsArg};
use feishu_tenant_token::host::{FetchTransport, JsClock};
use feishu_tenant_token::self_built::{Kind, SelfBuiltRequest, SelfBuiltSource};
use feishu_tenant_token::{Error, Freshness, TokenClient};
use js_sys::Promise;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

type Source = SelfBuiltSource<FetchTransport, JsClock>;

/// A self-built app's tenant token (`POST /open-apis/auth/v3/tenant_access_token/internal`),
/// cached with single-flight: concurrent calls share one request, and a cached
/// token is served only while at least `minValiditySecs` (default 1800) remain.
#[wasm_bindgen(js_name = SelfBuiltAppClient)]
pub struct JsSelfBuiltAppClient {
    inner: Rc<Client<Source>>,
    request: SelfBuiltRequest,
    fetch: ClientFetch,
}

#[wasm_bindgen(js_class = SelfBuiltAppClient)]
impl JsSelfBuiltAppClient {
    /// Throws a `FeishuTokenError` with code `INVALID_INPUT` for bad options.
    #[wasm_bindgen(constructor)]
    pub fn new(options: SelfBuiltOptionsArg) -> Result<JsSelfBuiltAppClient, JsValue> {
        Self::build(&options).map_err(|e| errors::to_js(&e))
    }

    fn build(options: &JsValue) -> Result<JsSelfBuiltAppClient, Error> {
        as_object(options, "options")?;
        let raw: RawOptions = from_js(options, "options")?;
        #[cfg(feature = "store-app")]
        if !raw.ticket_store.is_undefined() {
            return Err(Error::invalid_input(
                "unknown option `ticketStore` (self-built apps have no app_ticket)",
            ));
        }
        let app = raw.credentials()?;
        let o = raw.client_options()?;
        let api = ApiCalls::new(o.base_url.clone(), transport(&o)?);
        let source = SelfBuiltSource::new(Kind::TenantToken, upstream(&o)?);
        let request = SelfBuiltRequest::new(app);
        let client = TokenClient::new(source, JsClock, Freshness::new(o.min_validity_secs));
        let inner = Rc::new(client);
        let again = request.clone();
        let fetch = ClientFetch::new(&inner, api, move |_| (Ok(again.clone()), None));
        Ok(Self {
            inner,
            request,
            fetch,
        })
    }

    /// The app's tenant token, from the cache or from Feishu. Rejects with a
    /// `FeishuTokenError`; Feishu's refusals (10014 app disabled, 10015 wrong
    /// secret) are `FEISHU_API_ERROR` with `feishuCode`. Errors are never cached.
    #[wasm_bindgen(js_name = tenantToken, unchecked_return_type = "Promise<TenantToken>")]
    pub fn tenant_token(&self) -> Promise {
        serve::cached(&self.inner, self.request.key())
            .unwrap_or_else(|| serve::fetch(&self.inner, self.request.clone()))
    }

    /// Drops the cached token, e.g. after an API answered 99991663; with
    /// `token`, only while the cache still holds exactly that token. Returns
    /// how many went (0 or 1).
    pub fn invalidate(&self, token: Option<String>) -> u32 {
        serve::invalidate(&self.inner, None, token, || {
            self.inner.invalidate_request(&self.request)
        })
    }

    /// Calls a Feishu API with the app's tenant token: the host's `fetch`
    /// with `Authorization: Bearer <token>`, resolving to its `Response`, body
    /// unread; a refused token (99991663 / 99991665) is dropped and the
    /// request sent once more with a fresh one. See `TenantTokenClient.fetch`.
    #[wasm_bindgen(unchecked_return_type = "Promise<Response>")]
    pub fn fetch(&self, input: InputArg, init: Option<InitArg>) -> Promise {
        let cached = self
            .inner
            .with_cached(self.request.key(), |g, _| g.token.clone());
        self.fetch.call(cached, &JsValue::UNDEFINED, input, init)
    }

    /// Counters since the client was made.
    #[wasm_bindgen(unchecked_return_type = "ClientStats")]
    pub fn stats(&self) -> JsValue {
        serve::stats(&self.inner, self.fetch.recoveries())
    }
}
