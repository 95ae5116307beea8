//! `GET /v1/usage` and the page's usage: this month's calls (UTC+8) of
//! every app the Worker holds, for a service's API key or an admin; an
//! agent key's own, for that key (LiteLLM's users asked for exactly this:
//! a key holder seeing their own spend). `?month=YYYY-MM` for another month.

use crate::admin::auth;
use crate::agents::registry;
use crate::config::Config;
use crate::config::agent_keys::AGENT_KEY_PREFIX;
use crate::config::agent_keys::limits::month_name;
use crate::http::query;
use crate::http::reply::{self, Local};
use crate::keys::api_keys::holds_key;
use crate::keys::bearer::bearer;
use crate::usage::month::{Counts, Usage};
use crate::usage::read;
use feishu_tenant_token::Clock;
use feishu_tenant_token::host::JsClock;
use serde::Serialize;
use std::collections::BTreeMap;
use worker::{Env, Request, Response, Result};

/// Every app the Worker holds a secret for (both brands).
pub fn apps(config: &Config) -> Vec<String> {
    let mut apps: Vec<String> = config.held_apps().map(|c| c.app_id().to_owned()).collect();
    apps.sort_unstable();
    apps.dedup();
    apps
}

#[derive(Serialize)]
struct QuotaView {
    monthly_quota: u64,
    agent_share_pct: u8,
}

#[derive(Serialize)]
struct Everything {
    month: String,
    apps: BTreeMap<String, Usage>,
    quota: BTreeMap<String, QuotaView>,
}

#[derive(Serialize)]
struct Own<'a> {
    month: &'a str,
    key: &'a str,
    app_id: &'a str,
    usage: Counts,
}

/// The month asked for (`?month=YYYY-MM`), or this one.
fn month_of(req: &Request) -> core::result::Result<String, ()> {
    match query::param(&req.inner().url(), "month") {
        None => Ok(month_name(JsClock.now_ms())),
        Some(m) => {
            let b = m.as_bytes();
            let ok = b.len() == 7
                && b[4] == b'-'
                && b.iter()
                    .enumerate()
                    .all(|(i, c)| i == 4 || c.is_ascii_digit());
            if ok { Ok(m) } else { Err(()) }
        }
    }
}

/// Every app's month, with their quotas.
pub async fn everything(env: &Env, config: &Config, month: &str) -> String {
    let mut apps = BTreeMap::new();
    let mut quota = BTreeMap::new();
    for app in self::apps(config) {
        if let Some(q) = config.operators.quota.of(&app) {
            let view = QuotaView {
                monthly_quota: q,
                agent_share_pct: config.operators.quota.agent_share_pct,
            };
            quota.insert(app.clone(), view);
        }
        let usage = read::month(env, &app, month)
            .await
            .unwrap_or_else(|_| Usage::new(month.to_owned()));
        apps.insert(app, usage);
    }
    serde_json::to_string(&Everything {
        month: month.to_owned(),
        apps,
        quota,
    })
    .unwrap_or_default()
}

/// `GET /v1/usage`.
pub async fn usage(req: Request, env: &Env, config: &Config) -> Result<Response> {
    let Ok(month) = month_of(&req) else {
        return reply::local(
            Local::InvalidField,
            "month: YYYY-MM (a calendar month in UTC+8)",
        );
    };
    let header = req.headers().get("authorization")?.unwrap_or_default();
    let given = bearer(&header).unwrap_or_default();
    if given.starts_with(AGENT_KEY_PREFIX) {
        let key = match registry::presented(env, config, given, None).await? {
            Ok(k) => k,
            Err(refusal) => return Ok(refusal),
        };
        let own = read::month(env, &key.app_id, &month)
            .await
            .ok()
            .and_then(|u| u.keys.get(&key.id).copied())
            .unwrap_or_default();
        let body = serde_json::to_string(&Own {
            month: &month,
            key: &key.id,
            app_id: &key.app_id,
            usage: own,
        })
        .unwrap_or_default();
        return reply::json_response(200, body);
    }
    let admin = config
        .operators
        .admin_key
        .as_ref()
        .is_some_and(|_| auth::admin(&req, config).ok().is_some_and(|a| a.is_ok()));
    if !admin && !holds_key(&req, &config.api_keys) {
        let mut resp = reply::local(
            Local::Unauthorized,
            "`Authorization: Bearer <API key>` (every app) or `<agent key>` (its own) is required",
        )?;
        resp.headers_mut().set("www-authenticate", "Bearer")?;
        return Ok(resp);
    }
    reply::json_response(200, everything(env, config, &month).await)
}

/// `GET /admin/api/usage`.
pub async fn for_admin(req: &Request, env: &Env, config: &Config) -> Result<Response> {
    let Ok(month) = month_of(req) else {
        return reply::local(
            Local::InvalidField,
            "month: YYYY-MM (a calendar month in UTC+8)",
        );
    };
    reply::json_response(200, everything(env, config, &month).await)
}
