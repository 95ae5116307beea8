//! A managed API call (`X-Tenant-Key` with an API key): the Worker puts the
//! tenant's token in, and replays once with a fresh one if Feishu refused it.

use crate::config::Config;
use crate::gateway::evict::evict;
use crate::gateway::forward::{self, BodyPlan, MAX_REPLAY_BODY_BYTES, TENANT_HEADER};
use crate::gateway::upstream::{Outgoing, examined, send};
use crate::http::reply::{self, Local};
use crate::http::request::read_body;
use crate::managed;
use crate::state;
use feishu_tenant_token::TenantKey;
use worker::{Env, Request, Response, Result};

/// A managed API call: API key, then the tenant's token in `Authorization`;
/// a refused token is evicted and the call replayed once with a fresh one
/// when its body was kept.
pub async fn managed_call(mut req: Request, env: &Env, config: &Config) -> Result<Response> {
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
