//! Managed mode's token endpoints: a tenant's token for API-key holders,
//! the managed app's own app token, and its ticket resend.

use crate::cache::workers_kv::WorkerKv;
use crate::calls::replacement::{Origin, handed_out};
use crate::config::{Config, Managed};
use crate::coordinator::tickets::Tickets;
use crate::http::reply::{self, Local, Member};
use crate::http::request::wants_refresh;
use crate::keys::api_keys::api_caller;
use crate::managed::ack;
use crate::sources::clients::transport;
use crate::sources::state;
use feishu_tenant_token::host::JsClock;
use feishu_tenant_token::store_app::{self, TicketStore};
use feishu_tenant_token::{AppCredentials, Clock, Error, TenantKey, TokenGrant};
use worker::{Env, Request, Response, Result};

pub async fn tenant_token(
    req: Request,
    env: &Env,
    config: &Config,
    raw_tenant: &str,
) -> Result<Response> {
    let managed = match api_caller(&req, config)? {
        Ok(m) => m,
        Err(refusal) => return Ok(refusal),
    };
    // The path arrives percent-encoded; real tenant keys never need escapes,
    // so one is refused rather than decoded into something the check missed.
    if raw_tenant.contains('%') {
        return reply::local(
            Local::InvalidField,
            "tenant_key must not be percent-encoded",
        );
    }
    let tenant_key = match TenantKey::parse(raw_tenant) {
        Ok(t) => t,
        Err(e) => return reply::local(Local::InvalidField, e.message()),
    };
    let chain = match state::managed(env, config, managed) {
        Ok(c) => c,
        Err(why) => return reply::local(Local::Misconfigured, &why),
    };
    let request = chain.request(tenant_key.clone());
    let forced = wants_refresh(&req);
    let hand = |g: &TokenGrant| handed_out(config, g, || Origin::ManagedTenant(tenant_key));
    let member = Member::TenantAccessToken;
    reply::served_token(chain.tenants(), &request, forced, member, hand).await
}

/// `POST /open-apis/auth/v3/app_access_token` for the managed app: its own
/// app token from the chain (memory, KV, then Feishu with the ticket the
/// callback stored), whatever ticket the caller sent: only the callback
/// receives fresh tickets, and some SDKs send none.
pub async fn own_app_token(
    req: &Request,
    env: &Env,
    config: &Config,
    managed: &Managed,
) -> Result<Response> {
    let chain = match state::managed(env, config, managed) {
        Ok(c) => c,
        Err(why) => return reply::local(Local::Misconfigured, &why),
    };
    let apps = chain.apps();
    let forced = wants_refresh(req);
    let hand = |g: &TokenGrant| handed_out(config, g, || Origin::ManagedApp);
    reply::served_token(
        apps.client(),
        apps.request(),
        forced,
        Member::AppAccessToken,
        hand,
    )
    .await
}

/// `POST /open-apis/auth/v3/app_ticket/resend` for the managed app: at most
/// once a minute across isolates (the same KV marker the chain uses), then
/// Feishu's answer; within the minute `{"code":0,"msg":"ok"}` with
/// `x-resend: throttled`, since a push is already on its way.
pub async fn resend(env: &Env, config: &Config, managed: &Managed) -> Result<Response> {
    let kv = match WorkerKv::from_env(env) {
        Ok(kv) => kv,
        Err(why) => return reply::local(Local::Misconfigured, &why),
    };
    let tickets = Tickets::new(env, kv, managed.app.app_id().to_owned());
    let how = if !tickets.claim_resend(JsClock.now_ms()).await {
        "throttled"
    } else if let Err(e) = resend_ticket(config, &managed.app).await {
        tickets.release_resend().await;
        return reply::upstream_error(&e);
    } else {
        "sent"
    };
    let mut resp = ack()?;
    resp.headers_mut().set("x-resend", how)?;
    Ok(resp)
}

/// One `app_ticket/resend` round trip for `app` (the caller holds the
/// once-a-minute claim).
async fn resend_ticket(config: &Config, app: &AppCredentials) -> core::result::Result<(), Error> {
    let net = transport(config).map_err(|e| Error::invalid_input(&e))?;
    store_app::resend_ticket(&net, &config.base_url, app).await
}
