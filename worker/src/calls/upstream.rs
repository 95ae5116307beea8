//! One request to Feishu on a caller's behalf, and a look at its answer for
//! a refused token.

use crate::calls::forward;
use crate::config::{Brand, Config};
use crate::http::reply::{self, Local};
use crate::keys::ours::carries_ours;
use feishu_tenant_token::api_call;
use feishu_tenant_token::host::answer_code;
use feishu_tenant_token::{AccessToken, SerdeJson};
use wasm_bindgen::JsCast;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use worker::{Request, Response, Result};

/// The body sent upstream.
pub enum Outgoing {
    None,
    Bytes(Vec<u8>),
    /// The caller's own stream, passed on as it arrives (sent at most once).
    Stream(Option<web_sys::ReadableStream>),
}

impl Outgoing {
    fn js(&self) -> Option<JsValue> {
        match self {
            Outgoing::None => None,
            Outgoing::Bytes(b) if b.is_empty() => None,
            Outgoing::Bytes(b) => Some(js_sys::Uint8Array::from(b.as_slice()).into()),
            Outgoing::Stream(s) => s.clone().map(JsValue::from),
        }
    }
}

/// What the gateway learnt of an answer.
#[derive(Clone, Copy, Debug, Default)]
pub struct Verdict {
    /// It says the token was refused (99991663/99991665).
    pub refused: bool,
    /// Feishu's `code`, when the answer was read (whole, or a bounded copy
    /// of a chunked one).
    pub code: Option<i64>,
}

/// The answer, and whether it says the token was refused. A success (any
/// status below 400) goes back as Feishu's stream, never read nor copied:
/// Feishu refuses a token with HTTP 400. An error that is JSON declared at
/// most 64 KiB (`api_call::worth_inspecting`) is read whole and passed on as
/// the same bytes (cheaper than copying its stream, and its `Content-Length`
/// stays); one of unknown length is read from a bounded copy
/// (`host::answer_code`); anything else is not read.
pub async fn examined(
    resp: web_sys::Response,
) -> Result<core::result::Result<(web_sys::Response, Verdict), Response>> {
    // A success is passed on before any header is read.
    if !api_call::may_refuse(resp.status()) {
        return Ok(Ok((resp, Verdict::default())));
    }
    let h = resp.headers();
    let (ct, len) = (h.get("content-type")?, h.get("content-length")?);
    // No body to read (HEAD, 204, 304: the runtime gives those a null body).
    if resp.body().is_none()
        || !api_call::worth_inspecting(resp.status(), ct.as_deref(), len.as_deref())
    {
        return Ok(Ok((resp, Verdict::default())));
    }
    if len.is_none() {
        // Chunked: the same code read off a bounded copy, so every refusal
        // (tenant, app and user tokens) is seen in both forms.
        let code = answer_code(&resp, &SerdeJson).await;
        let verdict = Verdict {
            refused: code.is_some_and(api_call::refuses_token),
            code,
        };
        return Ok(Ok((resp, verdict)));
    }
    let read = match resp.array_buffer() {
        Ok(p) => JsFuture::from(p).await,
        Err(e) => Err(e),
    };
    let Ok(buffer) = read else {
        return reply::local(
            Local::UpstreamUnreachable,
            "Feishu's answer broke off before its end",
        )
        .map(Err);
    };
    let bytes = js_sys::Uint8Array::new(&buffer);
    // (`token_refused` itself ignores anything over the inspection bound.)
    let text = String::from_utf8(bytes.to_vec()).ok();
    let code = text
        .as_deref()
        .and_then(|text| api_call::answer_code(&SerdeJson, text));
    let verdict = Verdict {
        refused: code.is_some_and(api_call::refuses_token),
        code,
    };
    // The monthly quota spent: Feishu's answer with what it means in `msg`.
    if code == Some(forward::QUOTA_EXHAUSTED)
        && let Some(explained) = text.as_deref().and_then(forward::quota_explained)
    {
        let headers = kept(&resp);
        // The length changed: the runtime declares the new one.
        headers.delete("content-length")?;
        let init = web_sys::ResponseInit::new();
        init.set_status(resp.status());
        init.set_headers(&headers.into());
        if let Ok(answer) = web_sys::Response::new_with_opt_str_and_init(Some(&explained), &init) {
            return Ok(Ok((answer, verdict)));
        }
    }
    let same =
        web_sys::Response::new_with_opt_buffer_source_and_init(Some(&bytes), &init_like(&resp));
    let Ok(same) = same else {
        return reply::local(
            Local::UpstreamBadAnswer,
            "Feishu's answer could not be passed on",
        )
        .map(Err);
    };
    Ok(Ok((same, verdict)))
}

/// One request to the brand's base URL (`FEISHU_BASE_URL`, or
/// `LARK_BASE_URL` under `/lark`) + the caller's path and query, with
/// the caller's headers (those that go on), `token` in `Authorization` if
/// given, and `body`. Redirects come back as they are: the Worker itself
/// never follows one to another host.
pub async fn send(
    req: &Request,
    config: &Config,
    token: Option<&AccessToken>,
    body: &Outgoing,
) -> Result<core::result::Result<web_sys::Response, Response>> {
    let url = req.inner().url();
    let target = forward::path_and_query(&url);
    // Under `/lark` for Lark: its API knows the path without the prefix.
    let (_, target) = Brand::of_path(&target);
    // The caller's headers that go on, copied by the runtime in one step;
    // their values joined for one look for the Worker's own credentials (an
    // API key, an agent key and a gateway token are never sent: the
    // `Authorization` of a managed, agent or user call is replaced below).
    // Reading them name by name from wasm was a quarter of the gateway's own
    // work per call (profiled in workerd).
    let copied = FORWARD.with(|(names, prefixes)| {
        forwarded_headers(&req.inner().headers(), names, prefixes, token.is_some())
    });
    let headers: web_sys::Headers = copied.get(0).unchecked_into();
    let values = copied.get(1).as_string().unwrap_or_default();
    if carries_ours(&values, config.api_keys.as_slice()) {
        return reply::local(
            Local::InvalidField,
            "this request carries one of the Worker's own credentials (an API key, an agent key or a gateway token): none is ever sent to Feishu (a managed call takes an API key as `Authorization: Bearer <key>` with `X-Tenant-Key` or `X-User-Id`; an agent uses its gateway token as the bearer)",
        )
        .map(Err);
    }
    if let Some(t) = token {
        headers.set("authorization", &format!("Bearer {}", t.expose_secret()))?;
    }
    let init = web_sys::RequestInit::new();
    init.set_method(&req.inner().method());
    init.set_headers(&headers);
    init.set_redirect(web_sys::RequestRedirect::Manual);
    if let Some(b) = body.js() {
        init.set_body(&b);
    }
    let Ok(upstream) =
        web_sys::Request::new_with_str_and_init(&config.base_url.join(target), &init)
    else {
        // The runtime would not build it (a method or header fetch refuses).
        return reply::local(Local::BadBody, "this request cannot be passed on to Feishu").map(Err);
    };
    // The runtime's own fetch, straight: its answer as it came (headers
    // immutable; `passed_on` makes the caller's), no conversions between.
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let answered = JsFuture::from(global.fetch_with_request(&upstream))
        .await
        .and_then(|r| r.dyn_into::<web_sys::Response>());
    match answered {
        Ok(r) => Ok(Ok(r)),
        // The runtime's message names the failure, never a header value.
        Err(e) => reply::local(
            Local::UpstreamUnreachable,
            &format!("Feishu could not be reached: {}", worker::Error::from(e)),
        )
        .map(Err),
    }
}

/// Feishu's answer as the caller gets it: its status, the headers that come
/// back (`forward::answer_header_kept`, applied by the runtime in one step),
/// mutable for the Worker's own (CORS, `vary`), and its body stream
/// untouched. The only copy of the answer's head on the way out: building
/// it through intermediate `Response`s, and reading the headers name by
/// name from wasm, were most of the gateway's own work per call (profiled
/// in workerd; `bench/RESULTS.md`, the gateway's own work).
pub fn passed_on(resp: web_sys::Response) -> Response {
    let builder = worker::ResponseBuilder::new()
        .with_status(resp.status())
        .with_headers(worker::Headers(kept(&resp)));
    match resp.body() {
        Some(stream) => builder.stream(stream),
        None => builder.empty(),
    }
}

thread_local! {
    /// `forward::REQUEST_DROPPED_NAMES` and `_PREFIXES` as JS arrays, made once.
    static FORWARD: (js_sys::Array, js_sys::Array) = (
        forward::REQUEST_DROPPED_NAMES.iter().map(|n| JsValue::from_str(n)).collect(),
        forward::REQUEST_DROPPED_PREFIXES.iter().map(|p| JsValue::from_str(p)).collect(),
    );
    /// `forward::ANSWER_DROPPED_PREFIXES` and `_NAMES` as JS arrays, made once.
    static KEPT: (js_sys::Array, js_sys::Array) = (
        forward::ANSWER_DROPPED_PREFIXES.iter().map(|p| JsValue::from_str(p)).collect(),
        forward::ANSWER_DROPPED_NAMES.iter().map(|n| JsValue::from_str(n)).collect(),
    );
}

#[wasm_bindgen::prelude::wasm_bindgen(inline_js = "
export function forwardedHeaders(incoming, names, prefixes, replacesAuthorization) {
  const named = (incoming.get('connection') ?? '').split(',').map((t) => t.trim().toLowerCase());
  const h = new Headers();
  const values = [];
  for (const [name, value] of incoming) {
    if (names.includes(name) || named.includes(name) || prefixes.some((p) => name.startsWith(p))) continue;
    h.append(name, value);
    if (!(replacesAuthorization && name === 'authorization')) values.push(value);
  }
  return [h, values.join('\\n')];
}
export function keptHeaders(from, prefixes, names) {
  const h = new Headers(from);
  for (const name of [...h.keys()]) {
    if (names.includes(name) || prefixes.some((p) => name.startsWith(p))) h.delete(name);
  }
  return h;
}
")]
extern "C" {
    /// `[the headers of incoming that go on, their values joined by a line
    /// break]`: without the names in `names`, those the `Connection` header
    /// names, and those starting with one of `prefixes` (lower case, as
    /// `Headers` gives names); the `Authorization` value left out of the
    /// joined values when `replaces_authorization`.
    #[wasm_bindgen(js_name = forwardedHeaders)]
    fn forwarded_headers(
        incoming: &web_sys::Headers,
        names: &js_sys::Array,
        prefixes: &js_sys::Array,
        replaces_authorization: bool,
    ) -> js_sys::Array;

    /// A mutable copy of `from` without the names in `names` or starting
    /// with one of `prefixes` (lower case, as `Headers` gives names).
    #[wasm_bindgen(js_name = keptHeaders)]
    fn kept_headers(
        from: &web_sys::Headers,
        prefixes: &js_sys::Array,
        names: &js_sys::Array,
    ) -> web_sys::Headers;
}

/// `resp`'s status, status text and a mutable copy of the headers that come
/// back (`forward::answer_header_kept`): the head of an answer whose body the
/// Worker supplies.
fn init_like(resp: &web_sys::Response) -> web_sys::ResponseInit {
    let init = web_sys::ResponseInit::new();
    init.set_status(resp.status());
    init.set_status_text(&resp.status_text());
    init.set_headers(&kept(resp).into());
    init
}

/// A mutable copy of the headers of `resp` that come back to the caller.
fn kept(resp: &web_sys::Response) -> web_sys::Headers {
    KEPT.with(|(prefixes, names)| kept_headers(&resp.headers(), prefixes, names))
}
