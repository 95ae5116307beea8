//! Every response the Worker writes: Feishu's shape for tokens and upstream
//! errors, `{"code","msg","error"}` with a local code for everything else.

use crate::cache::layer::{Layer, Trace};
use crate::log::json;
use feishu_tenant_token::host::JsClock;
use feishu_tenant_token::{Clock, Error, ErrorCode, Served, Source, TokenClient, TokenGrant};
use serde::Serialize;
use worker::{Headers, Response, Result};

/// `{"code","msg","error"}`: a local error, or an upstream one we name.
#[derive(Serialize)]
struct Refusal<'a> {
    code: i64,
    msg: &'a str,
    error: &'a str,
}

/// Feishu's own error shape, passed on.
#[derive(Serialize)]
struct FeishuError<'a> {
    code: i64,
    msg: &'a str,
}

/// Which member carries the token in Feishu's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Member {
    TenantAccessToken,
    AppAccessToken,
}

/// Feishu's token answer (one of the two token members).
#[derive(Serialize)]
struct TokenAnswer<'a> {
    code: i64,
    msg: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant_access_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    app_access_token: Option<&'a str>,
    expire: u64,
}

/// Local error codes, documented in docs/worker.md ("Errors") next to Feishu's. They sit
/// outside Feishu's ranges so a client can tell the two apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Local {
    BadBody,
    InvalidField,
    OriginNotAllowed,
    NotFound,
    MethodNotAllowed,
    TooLarge,
    UnsupportedMediaType,
    Misconfigured,
    UpstreamUnreachable,
    UpstreamBadAnswer,
    UpstreamTimeout,
    /// Managed mode: no or a wrong API key.
    Unauthorized,
    /// Managed mode: no app_ticket yet; Feishu was asked to push one.
    TicketMissing,
    /// An agent key's gateway token used outside the key's allow-list.
    KeyNotAllowed,
    /// An agent key over one of its own `limits`.
    KeyLimited,
    /// An agent key's limits could not be counted (its object unbound or
    /// unreachable): the call is not sent.
    KeyLedgerUnavailable,
    /// An app past `QUOTA_AGENT_SHARE` of its `MONTHLY_QUOTA`: agent-key
    /// calls wait for the next month (services with API keys go on).
    QuotaReserved,
    /// The admin API: no, or a wrong, admin credential.
    AdminUnauthorized,
    /// The admin API: a state-changing call from another origin, or
    /// without the page's own header (CSRF).
    AdminForbidden,
    /// The admin API: the key registry could not be asked or refused.
    RegistryUnavailable,
    /// Events: the app's event log could not record a callback (its
    /// object unreachable or failing); Feishu delivers it again.
    EventLogUnavailable,
    /// User tokens: the user must sign in (again).
    SignedOut,
    /// User tokens: a sign-in's callback that cannot finish.
    SignInRefused,
}

impl Local {
    /// (`code`, HTTP status, stable name)
    pub const fn parts(self) -> (i64, u16, &'static str) {
        match self {
            Local::BadBody => (40000, 400, "BAD_BODY"),
            Local::InvalidField => (40001, 400, "INVALID_INPUT"),
            Local::OriginNotAllowed => (40300, 403, "ORIGIN_NOT_ALLOWED"),
            Local::NotFound => (40400, 404, "NOT_FOUND"),
            Local::MethodNotAllowed => (40500, 405, "METHOD_NOT_ALLOWED"),
            Local::TooLarge => (41300, 413, "BODY_TOO_LARGE"),
            Local::UnsupportedMediaType => (41500, 415, "UNSUPPORTED_MEDIA_TYPE"),
            Local::Misconfigured => (50000, 500, "MISCONFIGURED"),
            Local::UpstreamUnreachable => (50200, 502, "NETWORK_ERROR"),
            Local::UpstreamBadAnswer => (50201, 502, "BAD_UPSTREAM_ANSWER"),
            Local::UpstreamTimeout => (50400, 504, "TIMEOUT"),
            Local::Unauthorized => (40100, 401, "UNAUTHORIZED"),
            Local::TicketMissing => (50300, 503, "APP_TICKET_MISSING"),
            Local::KeyNotAllowed => (40301, 403, "KEY_NOT_ALLOWED"),
            Local::KeyLimited => (42901, 429, "KEY_LIMITED"),
            Local::KeyLedgerUnavailable => (50301, 503, "KEY_LEDGER_UNAVAILABLE"),
            Local::QuotaReserved => (42902, 429, "QUOTA_RESERVED"),
            Local::AdminUnauthorized => (40103, 401, "ADMIN_UNAUTHORIZED"),
            Local::AdminForbidden => (40302, 403, "ADMIN_FORBIDDEN"),
            Local::RegistryUnavailable => (50302, 503, "KEY_REGISTRY_UNAVAILABLE"),
            Local::EventLogUnavailable => (50303, 503, "EVENT_LOG_UNAVAILABLE"),
            Local::SignedOut => (40102, 401, "SIGNED_OUT"),
            Local::SignInRefused => (40002, 400, "SIGN_IN_REFUSED"),
        }
    }
}

/// Feishu's own answer to a wrong app secret (10015), given where the
/// Worker refuses a secret itself and sends nothing.
pub fn wrong_secret() -> Result<Response> {
    json_response(
        400,
        r#"{"code":10015,"msg":"app secret invalid"}"#.to_owned(),
    )
}

pub fn json_response(status: u16, body: String) -> Result<Response> {
    let mut resp = Response::from_bytes(body.into_bytes())?.with_status(status);
    let h = resp.headers_mut();
    h.set("content-type", "application/json; charset=utf-8")?;
    h.set("cache-control", "no-store")?;
    Ok(resp)
}

pub fn local(kind: Local, msg: &str) -> Result<Response> {
    let (code, status, name) = kind.parts();
    json_response(
        status,
        json(&Refusal {
            code,
            msg,
            error: name,
        }),
    )
}

/// A call that would wait past `RATE_LIMIT_WAIT_MS` for Feishu's frequency
/// limit: Feishu's own refusal shape (HTTP 429, code 99991400), with
/// `Retry-After` and `x-ogw-ratelimit-reset` in whole seconds, so a client
/// that handles Feishu's limit handles this one.
pub fn rate_limited(retry_after_secs: u64, waited_ms: u64) -> Result<Response> {
    let msg = format!(
        "request trigger frequency limit: the gateway held this call {waited_ms} ms and it would wait {retry_after_secs} s more, past RATE_LIMIT_WAIT_MS"
    );
    let mut resp = json_response(
        429,
        json(&Refusal {
            code: feishu_tenant_token::rate_limit::FREQUENCY_LIMITED,
            msg: &msg,
            error: "RATE_LIMITED",
        }),
    )?;
    let secs = retry_after_secs.max(1).to_string();
    let h = resp.headers_mut();
    h.set("retry-after", &secs)?;
    h.set(feishu_tenant_token::rate_limit::RESET_HEADER, &secs)?;
    h.set("x-ratelimit-waited-ms", &waited_ms.to_string())?;
    Ok(resp)
}

pub fn with_headers(mut resp: Response, headers: &Headers) -> Result<Response> {
    for (k, v) in headers.entries() {
        resp.headers_mut().set(&k, &v)?;
    }
    Ok(resp)
}

/// A token in Feishu's shape; `expire` is the seconds left at `now_ms`.
pub fn token(
    grant: &TokenGrant,
    now_ms: u64,
    served: &Served<Trace>,
    member: Member,
) -> Result<Response> {
    let token = grant.token.expose_secret();
    let mut resp = json_response(
        200,
        json(&TokenAnswer {
            code: 0,
            msg: "ok",
            tenant_access_token: (member == Member::TenantAccessToken).then_some(token),
            app_access_token: (member == Member::AppAccessToken).then_some(token),
            expire: grant.remaining_secs(now_ms),
        }),
    )?;
    let (trace, coalesced) = match served {
        Served::Memory | Served::Stale => (None, false),
        Served::Fetched(t) => (Some(t), false),
        Served::Joined(t) => (Some(t), true),
    };
    let (hit, layer, timing) = match trace {
        None if matches!(served, Served::Stale) => ("STALE", "memory", "memory;dur=0".to_owned()),
        None => ("HIT", "memory", "memory;dur=0".to_owned()),
        Some(Trace {
            layer: Layer::StaleKv,
            kv_ms,
            upstream_ms,
        }) => (
            "STALE",
            "kv",
            format!("kv;dur={kv_ms}, upstream;dur={}", upstream_ms.unwrap_or(0)),
        ),
        Some(Trace {
            layer: Layer::Kv,
            kv_ms,
            ..
        }) => ("HIT", "kv", format!("kv;dur={kv_ms}")),
        Some(Trace {
            layer: Layer::Upstream,
            kv_ms,
            upstream_ms,
        }) => (
            "MISS",
            "upstream",
            format!("kv;dur={kv_ms}, upstream;dur={}", upstream_ms.unwrap_or(0)),
        ),
        Some(Trace {
            layer: Layer::Coordinator,
            kv_ms,
            upstream_ms,
        }) => (
            "MISS",
            "coordinator",
            format!(
                "kv;dur={kv_ms}, coordinator;dur={}",
                upstream_ms.unwrap_or(0)
            ),
        ),
    };
    let h = resp.headers_mut();
    h.set("x-cache", hit)?;
    h.set("x-cache-layer", layer)?;
    h.set("server-timing", &timing)?;
    if coalesced {
        h.set("x-cache-coalesced", "1")?;
    }
    Ok(resp)
}

/// The token for `request` from `client`, past memory and KV when `forced`
/// (`Cache-Control: no-cache`, throttled per key by the core), in Feishu's
/// shape with the token in `member`: every token endpoint answers this way,
/// telling `handed_out` which token it handed out.
pub async fn served_token<S: Source<Meta = Trace>>(
    client: &TokenClient<S, JsClock>,
    request: &S::Request,
    forced: bool,
    member: Member,
    handed_out: impl FnOnce(&TokenGrant),
) -> Result<Response> {
    let answer = if forced {
        client.refresh_served(request).await
    } else {
        client.get_served(request).await
    };
    if let Ok((grant, _)) = &answer {
        handed_out(grant);
    }
    token_answer(answer, forced, member)
}

/// What a token request gets: the token in `member` (with `x-refresh:
/// done|throttled` for a forced refresh), or the failure.
pub fn token_answer(
    answer: core::result::Result<(TokenGrant, Served<Trace>), Error>,
    forced: bool,
    member: Member,
) -> Result<Response> {
    let (grant, served) = match answer {
        Ok(a) => a,
        Err(e) => return upstream_error(&e),
    };
    let mut resp = token(&grant, JsClock.now_ms(), &served, member)?;
    if forced {
        let how = if matches!(served, Served::Memory) {
            "throttled"
        } else {
            "done"
        };
        resp.headers_mut().set("x-refresh", how)?;
    }
    Ok(resp)
}

/// An upstream failure: Feishu's own `code`/`msg` when Feishu answered with
/// them, a local code otherwise.
pub fn upstream_error(e: &Error) -> Result<Response> {
    match e.code() {
        ErrorCode::FeishuApiError | ErrorCode::RateLimited if e.feishu_code().is_some() => {
            let status = match e.code() {
                ErrorCode::RateLimited => 429,
                _ => e.http_status().filter(|s| *s >= 400).unwrap_or(400),
            };
            let mut resp = json_response(
                status,
                json(&FeishuError {
                    code: e.feishu_code().unwrap_or_default(),
                    msg: e.feishu_msg().unwrap_or_default(),
                }),
            )?;
            rate_limit_headers(&mut resp, e)?;
            Ok(resp)
        }
        ErrorCode::RateLimited => {
            let mut resp = json_response(
                429,
                json(&Refusal {
                    code: feishu_tenant_token::wire::RATE_LIMITED_CODE,
                    msg: e.message(),
                    error: "RATE_LIMITED",
                }),
            )?;
            rate_limit_headers(&mut resp, e)?;
            Ok(resp)
        }
        ErrorCode::Timeout => local(Local::UpstreamTimeout, e.message()),
        ErrorCode::AppTicketMissing => {
            let mut resp = local(Local::TicketMissing, e.message())?;
            let secs = e.retry_after_secs().unwrap_or(1).to_string();
            resp.headers_mut().set("retry-after", &secs)?;
            Ok(resp)
        }
        ErrorCode::InvalidSignature
        | ErrorCode::StaleEvent
        | ErrorCode::InvalidVerificationToken
        | ErrorCode::DecryptionFailed
        | ErrorCode::InvalidEvent => event_rejected(e),
        ErrorCode::NetworkError => local(Local::UpstreamUnreachable, e.message()),
        ErrorCode::InvalidInput => local(Local::InvalidField, e.message()),
        // HTTP_ERROR, INVALID_RESPONSE, a FEISHU_API_ERROR without a code,
        // and any class added later: Feishu's answer was not usable.
        _ => local(Local::UpstreamBadAnswer, e.message()),
    }
}

/// An event the callback refused: 401, with the reason's stable name.
pub fn event_rejected(e: &Error) -> Result<Response> {
    json_response(
        401,
        json(&Refusal {
            code: EVENT_REJECTED_CODE,
            msg: e.message(),
            error: e.code().as_str(),
        }),
    )
}

/// The local code of every refused event (the `error` member says why).
pub const EVENT_REJECTED_CODE: i64 = 40101;

fn rate_limit_headers(resp: &mut Response, e: &Error) -> Result<()> {
    if e.code() == ErrorCode::RateLimited {
        let secs = e.retry_after_secs().unwrap_or(1).to_string();
        resp.headers_mut().set("retry-after", &secs)?;
        resp.headers_mut().set("x-ogw-ratelimit-reset", &secs)?;
    }
    Ok(())
}
