//! A passed-through call bearing a gateway token: checked (`grants`), sent
//! with the key's real token in its place (replayed once with a replacement
//! if Feishu refused it, as managed calls are), or answered 403 naming the
//! key and what it refused, with nothing sent. One audit line per call.

use crate::agents::grants::{Denied, Grant};
use crate::agents::ledger;
use crate::agents::registry;
use crate::agents::registry::{settings, settings_with};
use crate::calls::managed_call::call_as;
use crate::calls::replacement::Origin;
use crate::config::agent_keys::limits::Window;
use crate::config::{Brand, Config};
use crate::http::reply::{self, Local};
use crate::keys::gateway_token::Kind;
use crate::log;
use crate::usage::tally::{self, Caller};
use feishu_tenant_token::host::JsClock;
use feishu_tenant_token::self_built::{self, SelfBuiltRequest};
use feishu_tenant_token::{Clock, TenantKey};
use serde::Serialize;
use worker::{Env, Request, Response, Result};

pub async fn call(req: Request, env: &Env, config: &Config, token: &str) -> Result<Response> {
    let started = JsClock.now_ms();
    let method = req.inner().method();
    let full = req.path();
    let path = Brand::of_path(&full).1.to_owned();
    let keys = registry::keys(env, config, |agents| {
        settings_with(config, agents).signed_by_us(token)
    })
    .await;
    let (resp, key_id, code, digest) = match settings(config, &keys).authorize(token, &method, &path, started) {
        Ok(grant) => {
            let key_id = grant.key.id.clone();
            let origin = match origin_of(&grant) {
                Some(o) => o,
                None => return reply::local(Local::InvalidField, "tenant_key is not valid"),
            };
            let app = grant.app.app_id();
            let digest = Some(grant.key.digest);
            // The monthly quota's share kept for services: refused here.
            if let Some((calls, quota)) = tally::reserved(config, app) {
                (quota_reserved(app, calls, quota, started)?, Some(key_id), None, digest)
            // A key with its own limits: counted at its object first (an
            // anonymous caller never gets here: the gateway token was checked).
            } else if let Some(refusal) = ledger::admit(env, grant.key, started).await? {
                (refusal, Some(key_id), None, digest)
            } else {
                let caller = Caller {
                    tenant: grant.tenant.as_deref(),
                    key: Some(&key_id),
                    user: None,
                };
                let app = app.to_owned();
                let tenant = grant.tenant.clone();
                let (resp, verdict) = call_as(req, env, config, &origin).await?;
                let caller = Caller { tenant: tenant.as_deref(), ..caller };
                tally::count(config, &app, caller, &method, &path, &resp);
                (resp, Some(key_id), verdict.code, digest)
            }
        }
        Err(Denied::NotAllowed { key_id } | Denied::TenantNotAllowed { key_id }) => {
            let why = format!("agent key {key_id:?} does not allow {method} {path}");
            (reply::local(Local::KeyNotAllowed, &why)?, Some(key_id), None, None)
        }
        // Feishu's own answer to a token it does not accept.
        Err(Denied::Invalid) => (
            reply::json_response(
                400,
                r#"{"code":99991663,"msg":"Invalid access token for authorization (not a gateway token of this Worker, or expired)."}"#.to_owned(),
            )?,
            None,
            Some(99_991_663),
            None,
        ),
    };
    audit(
        key_id.as_deref(),
        digest.as_ref(),
        &method,
        &path,
        resp.status_code(),
        code,
        started,
    );
    Ok(resp)
}

/// Where the key's real token comes from: the self-built app's client, or
/// store-app mode's chain.
fn origin_of(grant: &Grant<'_>) -> Option<Origin> {
    Some(match (grant.store, grant.kind, &grant.tenant) {
        (false, kind, _) => {
            let kind = match kind {
                Kind::Tenant => self_built::Kind::TenantToken,
                Kind::App => self_built::Kind::AppToken,
            };
            Origin::Internal(kind, SelfBuiltRequest::new(grant.app.clone()))
        }
        (true, Kind::Tenant, Some(t)) => Origin::ManagedTenant(TenantKey::parse(t).ok()?),
        (true, _, _) => Origin::ManagedApp,
    })
}

const MAX_LOGGED_PATH: usize = 512;

/// The first 8 hex digits of a key's SHA-256 (its entry's `sha256`):
/// which key of that id made a call, after a rotation too; never the key.
pub fn digest_prefix(digest: &[u8; 32]) -> String {
    use core::fmt::Write;
    let mut out = String::with_capacity(8);
    for b in &digest[..4] {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// 429 `QUOTA_RESERVED`: the app's calls this month reached the agents'
/// share of its quota; `Retry-After` until the month turns (UTC+8).
pub fn quota_reserved(app: &str, calls: u64, quota: u64, now_ms: u64) -> Result<Response> {
    let (_, month_ends) = Window::Month.bounds(now_ms);
    let secs = month_ends.saturating_sub(now_ms).div_ceil(1000).max(1);
    let msg = format!(
        "app {app} made {calls} calls this month of its MONTHLY_QUOTA {quota}: past QUOTA_AGENT_SHARE, the rest is kept for services with API keys; agent keys call again when the month turns (UTC+8), in {secs} s"
    );
    let mut resp = reply::local(Local::QuotaReserved, &msg)?;
    resp.headers_mut().set("retry-after", &secs.to_string())?;
    Ok(resp)
}

/// One line per call made with a gateway token (or an agent key acting for
/// a user): who (the key's id and the first 8 hex digits of its SHA-256),
/// what, how it went; never a key, secret or token (the path is the
/// caller's, without query). The shape docs/agents.md documents for
/// Logpush.
pub fn audit(
    key: Option<&str>,
    digest: Option<&[u8; 32]>,
    method: &str,
    path: &str,
    status: u16,
    code: Option<i64>,
    started: u64,
) {
    #[derive(Serialize)]
    struct Line<'a> {
        event: &'static str,
        key: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        key_sha256: Option<String>,
        method: &'a str,
        path: &'a str,
        status: u16,
        #[serde(skip_serializing_if = "Option::is_none")]
        code: Option<i64>,
        /// `"not read"` when Feishu's answer was passed on unread (a
        /// success, or not JSON): there is no code to tell.
        #[serde(skip_serializing_if = "Option::is_none")]
        answer: Option<&'static str>,
        ms: u64,
    }
    log::info(&Line {
        event: "agent_call",
        key,
        key_sha256: digest.map(digest_prefix),
        method,
        // Bounded: the path is the caller's.
        path: path.get(..MAX_LOGGED_PATH).unwrap_or(path),
        status,
        code,
        answer: code.is_none().then_some("not read"),
        ms: JsClock.now_ms().saturating_sub(started),
    });
}
