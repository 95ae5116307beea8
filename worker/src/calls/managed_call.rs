//! A call the Worker makes with a token of its own choosing: a managed call
//! (`X-Tenant-Key` with an API key: the tenant's token) or an agent's call
//! (a gateway token: its key's app or tenant token). The token goes in, and
//! if Feishu refused it, the call is replayed once with its replacement.

use crate::calls::evict::evict;
use crate::calls::forward::{self, BodyPlan, MAX_REPLAY_BODY_BYTES, TENANT_HEADER};
use crate::calls::limited::{answer, send_within_limits};
use crate::calls::replacement::Origin;
use crate::calls::upstream::{Outgoing, Verdict};
use crate::config::Config;
use crate::http::reply::{self, Local};
use crate::http::request::read_body;
use crate::keys::api_keys::api_caller;
use crate::usage::tally::{self, Caller};
use feishu_tenant_token::{AccessToken, TenantKey};
use worker::{Env, Request, Response, Result};

/// A managed API call: API key, then the tenant's token in `Authorization`.
pub async fn managed_call(req: Request, env: &Env, config: &Config) -> Result<Response> {
    let app = match api_caller(&req, config)? {
        Ok(managed) => managed.app.app_id().to_owned(),
        Err(refusal) => return Ok(refusal),
    };
    let raw_tenant = req.headers().get(TENANT_HEADER)?.unwrap_or_default();
    let tenant_key = match TenantKey::parse(raw_tenant.trim()) {
        Ok(t) => t,
        Err(e) => return reply::local(Local::InvalidField, e.message()),
    };
    let tenant = tenant_key.as_str().to_owned();
    let method = req.inner().method();
    let full = req.path();
    let path = crate::config::Brand::of_path(&full).1.to_owned();
    let (resp, _) = call_as(req, env, config, &Origin::ManagedTenant(tenant_key)).await?;
    let caller = Caller {
        tenant: Some(&tenant),
        ..Caller::default()
    };
    tally::count(config, &app, caller, &method, &path, &resp);
    Ok(resp)
}

/// Where a call's token comes from, and what says Feishu refused it.
pub(crate) trait TokenFor {
    /// The token to send, or (`bad` given) the one replacing `bad`; `Err`:
    /// the answer to give instead.
    async fn token(
        &self,
        bad: Option<&AccessToken>,
    ) -> Result<core::result::Result<AccessToken, Response>>;
    /// Whether the answer says the token was refused.
    fn refused(&self, verdict: &Verdict) -> bool;
    /// Forgets a refused token before its replacement is asked for.
    async fn forget(&self, token: &AccessToken);
}

/// A tenant or app token of the Worker's: refused on 99991663/99991665,
/// evicted from this isolate and KV.
struct Tenant<'a> {
    env: &'a Env,
    config: &'a Config,
    origin: &'a Origin,
}

impl TokenFor for Tenant<'_> {
    async fn token(
        &self,
        bad: Option<&AccessToken>,
    ) -> Result<core::result::Result<AccessToken, Response>> {
        match self.origin.token(self.env, self.config, bad).await {
            Ok(g) => Ok(Ok(g.token)),
            Err(e) => Ok(Err(reply::upstream_error(&e)?)),
        }
    }
    fn refused(&self, verdict: &Verdict) -> bool {
        verdict.refused
    }
    async fn forget(&self, token: &AccessToken) {
        evict(self.env, self.config.brand, token, "managed_call").await;
    }
}

/// The request with `origin`'s current token in `Authorization`; a refused
/// token is evicted and the call replayed once with its replacement when the
/// body was kept (no body, or declared within `MAX_REPLAY_BODY_BYTES`).
/// Also what the gateway learnt of the answer (Feishu's `code`).
pub async fn call_as(
    req: Request,
    env: &Env,
    config: &Config,
    origin: &Origin,
) -> Result<(Response, Verdict)> {
    call_with(
        req,
        env,
        config,
        &Tenant {
            env,
            config,
            origin,
        },
    )
    .await
}

/// The request with `source`'s token, replayed once with its replacement
/// when Feishu refused it and the body was kept.
pub(crate) async fn call_with(
    mut req: Request,
    env: &Env,
    config: &Config,
    source: &impl TokenFor,
) -> Result<(Response, Verdict)> {
    let none = Verdict::default();
    let length = req.headers().get("content-length")?;
    let stream = req.inner().body();
    let plan = forward::body_plan(&req.inner().method(), length.as_deref(), stream.is_some());
    let body = match plan {
        BodyPlan::None => Outgoing::None,
        BodyPlan::Keep => match read_body(&mut req, MAX_REPLAY_BODY_BYTES as usize).await? {
            Ok(b) => Outgoing::Bytes(b),
            Err(refusal) => return Ok((refusal, none)),
        },
        BodyPlan::Stream => Outgoing::Stream(stream),
    };
    let token = match source.token(None).await? {
        Ok(t) => t,
        Err(answer) => return Ok((answer, none)),
    };
    let first = match send_within_limits(&req, env, config, Some(&token), Some(&token), &body, true)
        .await?
    {
        Ok(s) => s,
        Err(refusal) => return Ok((refusal, none)),
    };
    let verdict = first.verdict;
    if !source.refused(&verdict) {
        return Ok((answer(first)?, verdict));
    }
    source.forget(&token).await;
    if plan == BodyPlan::Stream {
        // The body went with the first send: the refusal goes back as it is.
        return Ok((answer(first)?, verdict));
    }
    let fresh = match source.token(Some(&token)).await? {
        Ok(t) => t,
        Err(answer) => return Ok((answer, none)),
    };
    Ok(
        match send_within_limits(&req, env, config, Some(&fresh), Some(&fresh), &body, true).await?
        {
            Ok(s) => {
                let verdict = s.verdict;
                (answer(s)?, verdict)
            }
            Err(failed) => (failed, none),
        },
    )
}
