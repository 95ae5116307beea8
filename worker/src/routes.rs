//! Routing and request checks. Nothing a caller sends can produce a 500.

use crate::config::Config;
use crate::cors::Cors;
use crate::kv_source::{KvThenUpstream, longest_fetch_ms};
use crate::managed;
use crate::reply::{self, Local};
use feishu_tenant_token::js::{FetchTransport, JsClock};
use feishu_tenant_token::json::{self, Member, Value};
use feishu_tenant_token::wire::TENANT_TOKEN_PATH;
use feishu_tenant_token::{Clock, Keyed, TokenClient, TokenRequest, Upstream, kv};
use std::cell::RefCell;
use std::rc::Rc;
use worker::{Env, Method, Request, Response, Result, console_log};

/// Largest request body accepted (issue #3: 16 KiB). Feishu's own body is
/// two short strings; even 4 KiB tokens fit with room to spare.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

const HEALTH_PATH: &str = "/healthz";

type Client = TokenClient<KvThenUpstream<Upstream<FetchTransport, JsClock>>, JsClock>;

thread_local! {
    /// The isolate's memory layer, shared by every request it serves, so
    /// concurrent requests for one key make one KV read and one upstream call.
    static CLIENT: RefCell<Option<Rc<Client>>> = const { RefCell::new(None) };
}

pub async fn handle(req: Request, env: &Env) -> Result<Response> {
    let started = JsClock.now_ms();
    let (method, path) = (req.method(), req.path());
    let config = Config::parse(|name| env.var(name).ok().map(|v| v.to_string()));
    let resp = match &config {
        Ok(config) => route(req, env, config).await?,
        Err(why) => reply::local(
            Local::Misconfigured,
            &format!("worker misconfigured: {why}"),
        )?,
    };
    if config.as_ref().is_ok_and(|c| c.log_requests) {
        let ms = JsClock.now_ms().saturating_sub(started);
        log_request(&method, &path, &resp, ms);
    }
    Ok(resp)
}

/// One JSON line per request. Only what helps operate the Worker: never a
/// token, a request body or a header value a caller controls (but the path).
fn log_request(method: &Method, path: &str, resp: &Response, ms: u64) {
    let header = |name: &str| resp.headers().get(name).ok().flatten().unwrap_or_default();
    let route = if path == TENANT_TOKEN_PATH || path == HEALTH_PATH || path == managed::EVENTS_PATH
    {
        path
    } else if managed::tenant_in_path(path).is_some() {
        managed::TENANTS_ROUTE
    } else {
        "(other)"
    };
    let line = json::object(&[
        ("route", Member::Str(route)),
        ("method", Member::Str(method.as_ref())),
        ("status", Member::Int(i64::from(resp.status_code()))),
        ("cache", Member::Str(&header("x-cache"))),
        ("layer", Member::Str(&header("x-cache-layer"))),
        ("timing", Member::Str(&header("server-timing"))),
        ("ms", Member::Int(i64::try_from(ms).unwrap_or(i64::MAX))),
    ]);
    console_log!("{line}");
}

async fn route(req: Request, env: &Env, config: &Config) -> Result<Response> {
    let origin = req.headers().get("origin")?;
    let cors = Cors::new(&config.allowed_origins, origin.clone());
    let path = req.path();
    let tenant = managed::tenant_in_path(&path).map(str::to_owned);
    let known = path == TENANT_TOKEN_PATH || path == HEALTH_PATH || tenant.is_some();
    let resp = match req.method() {
        Method::Options if known && origin.is_some() => {
            if !cors.is_allowed() {
                return reply::local(
                    Local::OriginNotAllowed,
                    "this origin is not in ALLOWED_ORIGINS",
                );
            }
            let resp = Response::empty()?.with_status(204);
            reply::with_headers(resp, &cors.preflight_headers()?)
        }
        Method::Post if path == TENANT_TOKEN_PATH => tenant_token(req, env, config).await,
        // Server to server (Feishu): no CORS.
        Method::Post if path == managed::EVENTS_PATH => {
            return managed::events(req, env, config).await;
        }
        Method::Get if tenant.is_some() => {
            let raw = tenant.as_deref().unwrap_or_default();
            managed::tenant_token(req, env, config, raw).await
        }
        Method::Get | Method::Head if path == HEALTH_PATH => {
            reply::json_response(200, r#"{"code":0,"msg":"ok"}"#.to_owned())
        }
        _ if path == TENANT_TOKEN_PATH => method_not_allowed("POST, OPTIONS"),
        _ if path == HEALTH_PATH => method_not_allowed("GET, HEAD, OPTIONS"),
        _ if tenant.is_some() => method_not_allowed("GET, OPTIONS"),
        _ if path == managed::EVENTS_PATH => return method_not_allowed("POST"),
        _ => reply::local(Local::NotFound, "no such path"),
    }?;
    cors.apply(resp)
}

fn method_not_allowed(allow: &str) -> Result<Response> {
    let mut resp = reply::local(Local::MethodNotAllowed, &format!("use {allow}"))?;
    resp.headers_mut().set("allow", allow)?;
    Ok(resp)
}

async fn tenant_token(mut req: Request, env: &Env, config: &Config) -> Result<Response> {
    let content_type = req.headers().get("content-type")?.unwrap_or_default();
    if !is_json(&content_type) {
        return reply::local(
            Local::UnsupportedMediaType,
            "content-type must be application/json",
        );
    }
    let bytes = match read_body(&mut req, MAX_BODY_BYTES).await? {
        Ok(b) => b,
        Err(refusal) => return Ok(refusal),
    };
    let request = match parse_body(&bytes) {
        Ok(r) => r,
        Err((kind, msg)) => return reply::local(kind, &msg),
    };
    let client = match client(env, config) {
        Ok(c) => c,
        Err(why) => return reply::local(Local::Misconfigured, &why),
    };
    // `Cache-Control: no-cache` forces a refresh past memory and KV, e.g. after
    // an API answered 99991663; throttled per key by the core.
    let forced = wants_refresh(&req);
    let answer = if forced {
        client.refresh_served(&request).await
    } else {
        client.get_served(&request).await
    };
    reply::token_answer(answer, forced)
}

/// `Cache-Control: no-cache` (any case, among other directives).
pub fn wants_refresh(req: &Request) -> bool {
    req.headers()
        .get("cache-control")
        .ok()
        .flatten()
        .is_some_and(|v| {
            v.split(',')
                .any(|d| d.trim().eq_ignore_ascii_case("no-cache"))
        })
}

/// The request body, or the answer refusing it: larger than `max` bytes
/// (by its declared length, before reading, or by what arrived) or unreadable.
pub async fn read_body(
    req: &mut Request,
    max: usize,
) -> Result<core::result::Result<Vec<u8>, Response>> {
    let too_large = || {
        reply::local(
            Local::TooLarge,
            &format!("request body is larger than {max} bytes"),
        )
    };
    let declared = req.headers().get("content-length")?;
    if declared
        .and_then(|l| l.trim().parse::<u64>().ok())
        .is_some_and(|l| l > max as u64)
    {
        return too_large().map(Err);
    }
    let Ok(bytes) = req.bytes().await else {
        return reply::local(Local::BadBody, "the request body could not be read").map(Err);
    };
    if bytes.len() > max {
        return too_large().map(Err);
    }
    Ok(Ok(bytes))
}

/// `application/json`, any case, with or without parameters.
fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
}

/// Feishu's request body -> a validated request, or why not.
fn parse_body(bytes: &[u8]) -> core::result::Result<TokenRequest, (Local, String)> {
    let text = core::str::from_utf8(bytes)
        .map_err(|_| (Local::BadBody, "body is not UTF-8".to_owned()))?;
    let value =
        json::parse(text).map_err(|e| (Local::BadBody, format!("body is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err((Local::BadBody, "body must be a JSON object".to_owned()));
    }
    let field = |name: &str| match value.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err((Local::InvalidField, format!("{name} must be a string"))),
    };
    let app = field("app_access_token")?;
    let tenant = field("tenant_key")?;
    TokenRequest::parse(app, tenant).map_err(|e| (Local::InvalidField, e.message().to_owned()))
}

fn pass_through_kv_key(request: &TokenRequest) -> String {
    kv::kv_key(&request.cache_key())
}

fn client(env: &Env, config: &Config) -> core::result::Result<Rc<Client>, String> {
    if let Some(c) = CLIENT.with(|c| c.borrow().clone()) {
        return Ok(c);
    }
    let kv = env
        .kv("TOKENS")
        .map_err(|_| "worker misconfigured: no KV namespace bound as TOKENS".to_owned())?;
    let transport = FetchTransport::new(None, config.timeout_ms)?;
    let upstream =
        Upstream::new(transport, JsClock, config.base_url.clone()).with_retry(config.retry);
    let longest = longest_fetch_ms(config.retry, config.timeout_ms);
    let client = Rc::new(TokenClient::new(
        KvThenUpstream::new(
            kv,
            upstream,
            Box::new(pass_through_kv_key),
            config.freshness,
            longest,
        ),
        JsClock,
        config.freshness,
    ));
    CLIENT.with(|c| *c.borrow_mut() = Some(Rc::clone(&client)));
    Ok(client)
}
