//! Pass-through: the request goes on to Feishu as it came; a refusal of its
//! bearer token evicts that token. `app_ticket/resend` for the managed app
//! stays here (its once-a-minute limit).

use crate::config::Config;
use crate::gateway::evict::evict;
use crate::gateway::forward::{self, TENANT_HEADER};
use crate::gateway::managed_call::managed_call;
use crate::gateway::upstream::{Outgoing, examined, send};
use crate::http::reply::{self, Local};
use crate::http::request::json_body;
use crate::managed;
use crate::tokens::{body, endpoints::refused};
use feishu_tenant_token::AccessToken;
use worker::{Env, Request, Response, Result};

pub fn pass_through_off() -> Result<Response> {
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

/// `POST /callback/ws/endpoint`: passed on as it is (its body, the app's id
/// and secret, is streamed, never read or logged here).
pub async fn callback(req: Request, env: &Env, config: &Config) -> Result<Response> {
    if !config.pass_through {
        return pass_through_off();
    }
    let body = Outgoing::Stream(req.inner().body());
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
        Err(r) => return refused(r),
    };
    if let Some(managed) = managed::is_managed_app(config, &app) {
        return managed::endpoints::resend(env, config, managed).await;
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
        evict(env, &AccessToken::new(token), "pass_through").await;
    }
    Ok(resp.into())
}
