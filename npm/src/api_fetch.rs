//! `fetch` on every client: the host's own `fetch` with the tenant token in
//! `Authorization`, returning the host's `Response` with its body unread.
//! Where the call may go, whether an answer refuses the token and whether
//! to replay are the core's (`api_call`); this file is the JS around them.

use crate::errors;
use crate::serve::{Client, start_now};
use feishu_tenant_token::api_call::{self, Body, Next};
use feishu_tenant_token::host::{FetchTransport, HostJson, refuses_token};
use feishu_tenant_token::{BaseUrl, Error, Source, TokenGrant};
use js_sys::{ArrayBuffer, Object, Promise, Reflect};
use std::cell::Cell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, FormData, Headers, ReadableStream, Response, UrlSearchParams};

/// What a client's `fetch` needs besides its token cache.
pub(crate) struct ApiCalls {
    base_url: BaseUrl,
    /// The same host (or caller's) fetch the token requests use.
    net: FetchTransport,
    /// Calls replayed with a fresh token after Feishu refused the first.
    recoveries: Cell<u64>,
}

impl ApiCalls {
    pub(crate) fn new(base_url: BaseUrl, net: FetchTransport) -> Self {
        Self {
            base_url,
            net,
            recoveries: Cell::new(0),
        }
    }

    pub(crate) fn recoveries(&self) -> u64 {
        self.recoveries.get()
    }
}

/// A call for `request`'s token; `tenant_key` names the cache entries a
/// refused token may be dropped from (`None`: the client's one token).
pub(crate) fn call<S>(
    client: &Rc<Client<S>>,
    api: &Rc<ApiCalls>,
    request: Result<S::Request, Error>,
    tenant_key: Option<String>,
    input: JsValue,
    init: JsValue,
) -> Promise
where
    S: Source + 'static,
    S::Request: 'static,
{
    let prepared = request.and_then(|r| Ok((r, prepare(&api.base_url, &input, &init)?)));
    let (request, prepared) = match prepared {
        Ok(p) => p,
        Err(e) => return Promise::reject(&errors::to_js(&e)),
    };
    let (client, api) = (Rc::clone(client), Rc::clone(api));
    start_now(async move {
        let Prepared {
            url,
            init,
            headers,
            body,
        } = prepared;
        let token = |g: &TokenGrant| format!("Bearer {}", g.token.expose_secret());
        let mut grant = client.get(&request).await.map_err(|e| errors::to_js(&e))?;
        let mut replays = 0;
        loop {
            headers.set("authorization", &token(&grant))?;
            let sent = api.net.fetch_raw(&url, &init)?;
            let response: Response = JsFuture::from(Promise::resolve(&sent)).await?.dyn_into()?;
            let refused = refuses_token(&response, &HostJson).await;
            if refused {
                // Compare-and-invalidate: only while the cache still holds it.
                client.invalidate_token(&grant.token, tenant_key.as_deref());
            }
            match api_call::after_answer(refused, replays, body) {
                Next::Return => return Ok(response.into()),
                Next::Replay => {
                    grant = client.get(&request).await.map_err(|e| errors::to_js(&e))?;
                    replays += 1;
                    api.recoveries.set(api.recoveries.get() + 1);
                }
            }
        }
    })
}

struct Prepared {
    url: String,
    /// The caller's `init`, copied, with our `headers`.
    init: Object,
    headers: Headers,
    body: Body,
}

/// Checks the call before any token is fetched or anything sent.
fn prepare(base: &BaseUrl, input: &JsValue, init: &JsValue) -> Result<Prepared, Error> {
    let text = match input.as_string() {
        Some(s) => s,
        // A URL object; a Request is refused (its headers and body are its own).
        None if input.is_instance_of::<web_sys::Url>() => {
            String::from(input.unchecked_ref::<Object>().to_string())
        }
        None => {
            return Err(Error::invalid_input(
                "input must be a path or a URL (a string or URL object)",
            ));
        }
    };
    let url = api_call::resolve(base, &text)?;
    let copy = Object::new();
    if !init.is_undefined() && !init.is_null() {
        if !init.is_object() {
            return Err(Error::invalid_input("init must be an object"));
        }
        Object::assign(&copy, init.unchecked_ref());
    }
    let given = Reflect::get(&copy, &"headers".into()).unwrap_or(JsValue::UNDEFINED);
    let headers = if given.is_undefined() || given.is_null() {
        Headers::new()
    } else {
        Headers::new_with_str_sequence_sequence(&given)
    }
    .map_err(|_| Error::invalid_input("init.headers is not a valid set of headers"))?;
    if headers.has("authorization").unwrap_or(true) {
        return Err(Error::invalid_input(
            "init.headers must not set Authorization: the client sets the tenant token",
        ));
    }
    let _ = Reflect::set(&copy, &"headers".into(), &headers);
    let body = Reflect::get(&copy, &"body".into()).unwrap_or(JsValue::UNDEFINED);
    Ok(Prepared {
        url,
        init: copy,
        headers,
        body: body_kind(&body),
    })
}

/// Bodies the host can send twice; a stream (or anything unknown) is sent once.
fn body_kind(body: &JsValue) -> Body {
    let replayable = body.is_undefined()
        || body.is_null()
        || body.is_string()
        || body.is_instance_of::<ArrayBuffer>()
        || ArrayBuffer::is_view(body)
        || body.is_instance_of::<Blob>()
        || body.is_instance_of::<FormData>()
        || body.is_instance_of::<UrlSearchParams>();
    if replayable && !body.is_instance_of::<ReadableStream>() {
        Body::Replayable
    } else {
        Body::Stream
    }
}
