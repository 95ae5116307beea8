//! `fetch` on every client: the host's own `fetch` with the tenant token in
//! `Authorization`, returning the host's `Response` with its body unread.
//! Where the call may go, whether an answer refuses the token and whether
//! to replay are the core's (`api_call`); this file is the JS around them.
//! The call's loop is written once for every client ([`CallToken`] hides
//! which): one copy of its state machine per `.wasm`, not one per client.

use crate::errors;
use crate::fast_path;
use crate::serve::{Client, start_now};
use crate::types::{InitArg, InputArg};
use core::future::Future;
use core::pin::Pin;
use feishu_tenant_token::api_call::{self, Body, Next};
use feishu_tenant_token::host::{FetchTransport, HostJson, refuses_token};
use feishu_tenant_token::{AccessToken, BaseUrl, Error, Source};
use js_sys::{Array, Object, Promise};
use std::cell::Cell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, Response};

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

type Fresh = Pin<Box<dyn Future<Output = Result<AccessToken, Error>>>>;

/// A call's side of its client: a token for its request (the cache's, or
/// Feishu's), and dropping one that Feishu refused.
trait CallToken {
    fn fresh(&self) -> Fresh;
    fn refused(&self, token: &AccessToken);
}

/// A client and one call's request; `tenant_key` names the cache entries a
/// refused token may be dropped from (`None`: the client's one token).
struct ForRequest<S: Source> {
    client: Rc<Client<S>>,
    request: Rc<S::Request>,
    tenant_key: Option<String>,
}

impl<S> CallToken for ForRequest<S>
where
    S: Source + 'static,
    S::Request: 'static,
{
    fn fresh(&self) -> Fresh {
        let (client, request) = (Rc::clone(&self.client), Rc::clone(&self.request));
        Box::pin(async move { client.get(&request).await.map(|g| g.token) })
    }

    fn refused(&self, token: &AccessToken) {
        // Compare-and-invalidate: only while the cache still holds it.
        self.client
            .invalidate_token(token, self.tenant_key.as_deref());
    }
}

/// How a client makes a call's [`CallToken`] from the request the caller
/// passed (`undefined` for clients that take none).
type TokensOf = Rc<dyn Fn(&JsValue) -> Result<Box<dyn CallToken>, Error>>;

/// A client's `fetch`: its [`ApiCalls`], how it reads a call's request, and
/// its way back into Rust for an answer the JS fast path did not pass on
/// (`(answer, token sent, request, input, init)`, the last three as the
/// caller gave them), made once per client.
pub(crate) struct ClientFetch {
    api: Rc<ApiCalls>,
    tokens_of: TokensOf,
    recover: Closure<dyn Fn(JsValue, String, JsValue, JsValue, JsValue) -> Promise>,
}

impl ClientFetch {
    /// `request_of` reads the caller's request (and names the tenant whose
    /// cache entries a refused token may be dropped from; `None`: the
    /// client's one token).
    pub(crate) fn new<S, R>(client: &Rc<Client<S>>, api: ApiCalls, request_of: R) -> Self
    where
        S: Source + 'static,
        S::Request: 'static,
        R: Fn(&JsValue) -> (Result<S::Request, Error>, Option<String>) + 'static,
    {
        let client = Rc::clone(client);
        let tokens_of: TokensOf = Rc::new(move |value| {
            let (request, tenant_key) = request_of(value);
            Ok(Box::new(ForRequest {
                client: Rc::clone(&client),
                request: Rc::new(request?),
                tenant_key,
            }) as Box<dyn CallToken>)
        });
        Self::with(Rc::new(api), tokens_of)
    }

    fn with(api: Rc<ApiCalls>, tokens_of: TokensOf) -> Self {
        let (a, t) = (Rc::clone(&api), Rc::clone(&tokens_of));
        let recover = Closure::new(
            move |answer: JsValue,
                  token: String,
                  request: JsValue,
                  input: JsValue,
                  init: JsValue| {
                let first = Some((answer, AccessToken::new(token)));
                call_from(&a, t(&request), &input, &init, first)
            },
        );
        Self {
            api,
            tokens_of,
            recover,
        }
    }

    pub(crate) fn recoveries(&self) -> u64 {
        self.api.recoveries()
    }

    /// A call with `request`'s token. With `cached`, the token the cache
    /// holds for it (looked up by the caller's fast path), the call goes out
    /// now and an answer below 400 goes back from JS untouched
    /// (`fast_path::pass_or_recover`): a Rust future per call was most of
    /// what `fetch` cost over a bare `fetch` (bench row 3b, profiled).
    /// Anything else goes through the Rust call, which reads the caller's
    /// `request`, `input` and `init` again.
    pub(crate) fn call(
        &self,
        cached: Option<AccessToken>,
        request: &JsValue,
        input: InputArg,
        init: Option<InitArg>,
    ) -> Promise {
        let (input, init) = (
            JsValue::from(input),
            init.map_or(JsValue::UNDEFINED, JsValue::from),
        );
        let Some(token) = cached else {
            return call_from(&self.api, (self.tokens_of)(request), &input, &init, None);
        };
        let sent = prepare(&self.api.base_url, &input, &init)
            .map_err(|e| errors::to_js(&e))
            .and_then(|p| {
                p.headers.set("authorization", &bearer(&token))?;
                self.api.net.fetch_raw(&p.url, &p.init)
            });
        match sent {
            Ok(sent) => fast_path::pass_or_recover(
                &sent,
                self.recover.as_ref(),
                token.expose_secret(),
                request,
                &input,
                &init,
            ),
            Err(e) => Promise::reject(&e),
        }
    }
}

fn bearer(token: &AccessToken) -> String {
    format!("Bearer {}", token.expose_secret())
}

/// The call in Rust: a token (`tokens`), sent, the answer checked for a
/// refusal, replayed once with a fresh token. With `first`, the answer a
/// token already got (from the fast path) is checked first.
fn call_from(
    api: &Rc<ApiCalls>,
    tokens: Result<Box<dyn CallToken>, Error>,
    input: &JsValue,
    init: &JsValue,
    first: Option<(JsValue, AccessToken)>,
) -> Promise {
    let prepared = tokens.and_then(|t| Ok((t, prepare(&api.base_url, input, init)?)));
    let (tokens, prepared) = match prepared {
        Ok(p) => p,
        Err(e) => return Promise::reject(&errors::to_js(&e)),
    };
    let api = Rc::clone(api);
    start_now(async move {
        let Prepared {
            url,
            init,
            headers,
            body,
        } = prepared;
        let fresh = |tokens: &dyn CallToken| {
            let f = tokens.fresh();
            async move { f.await.map_err(|e| errors::to_js(&e)) }
        };
        let (mut token, mut answer) = match first {
            Some((answer, token)) => (token, Some(answer)),
            None => (fresh(&*tokens).await?, None),
        };
        let mut replays = 0;
        loop {
            let sent = match answer.take() {
                Some(a) => a,
                None => {
                    headers.set("authorization", &bearer(&token))?;
                    let sent = api.net.fetch_raw(&url, &init)?;
                    JsFuture::from(Promise::resolve(&sent)).await?
                }
            };
            let response: Response = sent.dyn_into()?;
            let refused = refuses_token(&response, &HostJson).await;
            if refused {
                tokens.refused(&token);
            }
            match api_call::after_answer(refused, replays, body) {
                Next::Return => return Ok(response.into()),
                Next::Replay => {
                    token = fresh(&*tokens).await?;
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
    let made = copy_init(init);
    if let Some(refusal) = made.as_string() {
        return Err(Error::invalid_input(&refusal));
    }
    let made: Array = made.unchecked_into();
    let body = if made.get(2).is_truthy() {
        Body::Replayable
    } else {
        Body::Stream
    };
    Ok(Prepared {
        url,
        init: made.get(0).unchecked_into(),
        headers: made.get(1).unchecked_into(),
        body,
    })
}

// The caller's `init` copied with a `Headers` of its own, in one crossing
// (reading and copying it member by member from wasm was ten).
#[wasm_bindgen(inline_js = "
export function copyInit(init) {
  if (init !== undefined && init !== null && typeof init !== 'object') return 'init must be an object';
  const copy = Object.assign({}, init);
  let headers;
  try {
    headers = new Headers(copy.headers ?? undefined);
  } catch {
    return 'init.headers is not a valid set of headers';
  }
  if (headers.has('authorization')) {
    return 'init.headers must not set Authorization: the client sets the tenant token';
  }
  copy.headers = headers;
  const b = copy.body;
  const is = (name) => typeof globalThis[name] === 'function' && b instanceof globalThis[name];
  const again = b === undefined || b === null || typeof b === 'string' || b instanceof ArrayBuffer ||
    ArrayBuffer.isView(b) || is('Blob') || is('FormData') || is('URLSearchParams');
  return [copy, headers, again && !is('ReadableStream')];
}
")]
extern "C" {
    /// `[copy of init, its Headers, whether its body can be sent twice]`,
    /// or the message saying what is wrong with `init`.
    #[wasm_bindgen(js_name = copyInit)]
    fn copy_init(init: &JsValue) -> JsValue;
}
