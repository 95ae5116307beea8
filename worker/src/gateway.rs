//! The gateway: every `/open-apis/*` request the token endpoints do not
//! answer goes on to `FEISHU_BASE_URL` (never another host) with its method,
//! path, query, headers (less those `forward::forwarded` drops) and body,
//! streamed both ways, nothing cached. A small JSON answer saying the bearer
//! token was refused (99991663/99991665, `host::refuses_token`, the check the
//! npm clients' `fetch` uses too) evicts that token from this isolate's
//! memory and from KV (compare-and-delete). With `X-Tenant-Key`
//! and an API key, a managed call: the Worker puts the tenant's token in,
//! and replays once with a fresh one if Feishu refused it.

use crate::body;
use crate::config::Config;
use crate::forward::{self, BodyPlan, MAX_REPLAY_BODY_BYTES, TENANT_HEADER};
use crate::kv_layer::{self, Eviction};
use crate::log;
use crate::managed;
use crate::reply::{self, Local};
use crate::request::read_body;
use crate::state;
use crate::token_route::{self, json_body};
use feishu_tenant_token::api_call;
use feishu_tenant_token::host::refuses_token;
use feishu_tenant_token::{SerdeJson, TenantAccessToken, TenantKey};
use serde::Serialize;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use worker::{Env, Fetch, Request, Response, Result};

/// The body sent upstream.
enum Outgoing {
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

fn pass_through_off() -> Result<Response> {
    reply::local(Local::NotFound, "no such path (PASS_THROUGH is off)")
}

/// Any other `/open-apis/*` path: pass-through, or a managed call when the
/// request names a tenant with `X-Tenant-Key`.
pub async fn open_api(req: Request, env: &Env, config: &Config) -> Result<Response> {
    if !config.pass_through {
        return pass_through_off();
    }
    if req.headers().get(TENANT_HEADER)?.is_some() {
        return managed_call(req, env, config).await;
    }
    // GET and HEAD carry no body upstream (fetch refuses one), whatever came.
    let method = req.inner().method();
    let body = if method.eq_ignore_ascii_case("GET") || method.eq_ignore_ascii_case("HEAD") {
        Outgoing::None
    } else {
        Outgoing::Stream(req.inner().body())
    };
    pass_on(&req, env, config, body).await
}

/// `POST /open-apis/auth/v3/app_ticket/resend`: for the managed app (same id
/// and secret), through its once-a-minute limit; for any other app, on to
/// Feishu with the body as sent.
pub async fn ticket_resend(mut req: Request, env: &Env, config: &Config) -> Result<Response> {
    let bytes = match json_body(&mut req).await? {
        Ok(b) => b,
        Err(refusal) => return Ok(refusal),
    };
    let app = match body::internal_request(&bytes) {
        Ok(a) => a,
        Err(r) => return token_route::refused(r),
    };
    if let Some(managed) = managed::is_managed_app(config, &app) {
        return managed::resend(env, config, managed).await;
    }
    if !config.pass_through {
        return pass_through_off();
    }
    pass_on(&req, env, config, Outgoing::Bytes(bytes)).await
}

/// Passes the request on as it is; a refusal of its bearer token evicts it.
async fn pass_on(req: &Request, env: &Env, config: &Config, body: Outgoing) -> Result<Response> {
    // An API key is the Worker's secret: it is never sent on to Feishu.
    if let Some(m) = &config.managed
        && managed::authorised(req, m)
    {
        return reply::local(
            Local::InvalidField,
            "an API key call needs `X-Tenant-Key: <tenant_key>`; the key is never sent to Feishu",
        );
    }
    let resp = match send(req, config, None, &body).await? {
        Ok(r) => r,
        Err(refusal) => return Ok(refusal),
    };
    let header = req.headers().get("authorization")?.unwrap_or_default();
    let Some(token) = forward::bearer(&header) else {
        return Ok(resp.into());
    };
    let (resp, refused) = match examined(resp).await? {
        Ok(r) => r,
        Err(failed) => return Ok(failed),
    };
    if refused {
        evict(env, &TenantAccessToken::new(token), "pass_through").await;
    }
    Ok(resp.into())
}

/// The answer, and whether it says the token was refused. A JSON answer
/// declared at most 64 KiB (`api_call::worth_inspecting`) is read whole and
/// passed on as the same bytes (cheaper than copying its stream, and its
/// `Content-Length` stays); one of unknown length (an error) is checked on a
/// bounded copy by `host::refuses_token`; anything else is not read.
async fn examined(
    resp: web_sys::Response,
) -> Result<core::result::Result<(web_sys::Response, bool), Response>> {
    let h = resp.headers();
    let (ct, len) = (h.get("content-type")?, h.get("content-length")?);
    // No body to read (HEAD, 204, 304: the runtime gives those a null body).
    if resp.body().is_none()
        || !api_call::worth_inspecting(resp.status(), ct.as_deref(), len.as_deref())
    {
        return Ok(Ok((resp, false)));
    }
    if len.is_none() {
        let refused = refuses_token(&resp, &SerdeJson).await;
        return Ok(Ok((resp, refused)));
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
    let refused = String::from_utf8(bytes.to_vec())
        .is_ok_and(|text| api_call::token_refused(&SerdeJson, &text));
    let same = init_like(&resp).and_then(|init| {
        web_sys::Response::new_with_opt_buffer_source_and_init(Some(&bytes), &init)
    });
    let Ok(same) = same else {
        return reply::local(
            Local::UpstreamBadAnswer,
            "Feishu's answer could not be passed on",
        )
        .map(Err);
    };
    Ok(Ok((same, refused)))
}

/// A managed API call: API key, then the tenant's token in `Authorization`;
/// a refused token is evicted and the call replayed once with a fresh one
/// when its body was kept.
async fn managed_call(mut req: Request, env: &Env, config: &Config) -> Result<Response> {
    let managed = match managed::api_caller(&req, config)? {
        Ok(m) => m,
        Err(refusal) => return Ok(refusal),
    };
    let raw_tenant = req.headers().get(TENANT_HEADER)?.unwrap_or_default();
    let tenant_key = match TenantKey::parse(raw_tenant.trim()) {
        Ok(t) => t,
        Err(e) => return reply::local(Local::InvalidField, e.message()),
    };
    let chain = match state::managed(env, config, managed) {
        Ok(c) => c,
        Err(why) => return reply::local(Local::Misconfigured, &why),
    };
    let length = req.headers().get("content-length")?;
    let stream = req.inner().body();
    let plan = forward::body_plan(&req.inner().method(), length.as_deref(), stream.is_some());
    let body = match plan {
        BodyPlan::None => Outgoing::None,
        BodyPlan::Keep => match read_body(&mut req, MAX_REPLAY_BODY_BYTES as usize).await? {
            Ok(b) => Outgoing::Bytes(b),
            Err(refusal) => return Ok(refusal),
        },
        BodyPlan::Stream => Outgoing::Stream(stream),
    };
    let request = chain.request(tenant_key);
    let tenants = chain.tenants();
    let token = match tenants.get(&request).await {
        Ok(g) => g.token,
        Err(e) => return reply::upstream_error(&e),
    };
    let resp = match send(&req, config, Some(&token), &body).await? {
        Ok(r) => r,
        Err(refusal) => return Ok(refusal),
    };
    let (resp, refused) = match examined(resp).await? {
        Ok(r) => r,
        Err(failed) => return Ok(failed),
    };
    if !refused {
        return Ok(resp.into());
    }
    evict(env, &token, "managed_call").await;
    if plan == BodyPlan::Stream {
        // The body went with the first send: the refusal goes back as it is.
        return Ok(resp.into());
    }
    let fresh = match tenants.replace(&request, &token).await {
        Ok(g) => g.token,
        Err(e) => return reply::upstream_error(&e),
    };
    Ok(match send(&req, config, Some(&fresh), &body).await? {
        Ok(r) => r.into(),
        Err(refusal) => refusal,
    })
}

/// One request to `FEISHU_BASE_URL` + the caller's path and query, with
/// the caller's headers (those that go on), `token` in `Authorization` if
/// given, and `body`. Redirects come back as they are: the Worker itself
/// never follows one to another host.
async fn send(
    req: &Request,
    config: &Config,
    token: Option<&TenantAccessToken>,
    body: &Outgoing,
) -> Result<core::result::Result<web_sys::Response, Response>> {
    let target = forward::path_and_query(&req.inner().url());
    let headers = web_sys::Headers::new()?;
    let incoming = req.headers();
    let connection = incoming.get("connection")?.unwrap_or_default();
    for (name, value) in incoming.entries() {
        if forward::forwarded(&name, &connection) {
            headers.append(&name, &value)?;
        }
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
        web_sys::Request::new_with_str_and_init(&config.base_url.join(&target), &init)
    else {
        // The runtime would not build it (a method or header fetch refuses).
        return reply::local(Local::BadBody, "this request cannot be passed on to Feishu").map(Err);
    };
    match Fetch::Request(upstream.into()).send().await {
        Ok(r) => Ok(Ok(mutable(r)?)),
        // The runtime's message names the failure, never a header value.
        Err(e) => reply::local(
            Local::UpstreamUnreachable,
            &format!("Feishu could not be reached: {e}"),
        )
        .map(Err),
    }
}

/// The same answer (status, status text, headers, the body stream
/// untouched) with headers the Worker may add to (CORS, `vary`): a fetched
/// answer's own headers are immutable.
fn mutable(resp: Response) -> Result<web_sys::Response> {
    let edge = web_sys::Response::from(resp);
    let body = edge.body();
    Ok(web_sys::Response::new_with_opt_readable_stream_and_init(
        body.as_ref(),
        &init_like(&edge)?,
    )?)
}

/// `resp`'s status, status text and a mutable copy of its headers: the head
/// of an answer whose body the Worker supplies.
fn init_like(resp: &web_sys::Response) -> core::result::Result<web_sys::ResponseInit, JsValue> {
    let init = web_sys::ResponseInit::new();
    init.set_status(resp.status());
    init.set_status_text(&resp.status_text());
    init.set_headers(&web_sys::Headers::new_with_headers(&resp.headers())?.into());
    Ok(init)
}

/// Forgets a refused token: this isolate's memory, then KV (compare-and-
/// delete through the reverse index). One log line, never the token.
async fn evict(env: &Env, token: &TenantAccessToken, via: &'static str) {
    let memory = state::forget_refused(token);
    let kv = match state::kv(env) {
        Ok(kv) => kv_layer::evict_refused(&kv, token).await,
        Err(_) => Eviction {
            failed: true,
            ..Eviction::default()
        },
    };
    #[derive(Serialize)]
    struct Line {
        event: &'static str,
        via: &'static str,
        memory_entries: usize,
        kv_evicted: usize,
        kv_kept_newer: usize,
        kv_failed: bool,
    }
    log::info(&Line {
        event: "token_refused",
        via,
        memory_entries: memory,
        kv_evicted: kv.evicted,
        kv_kept_newer: kv.replaced,
        kv_failed: kv.failed,
    });
}
