//! Agent keys at run time: list (with this month's use), create (the key
//! shown once; only its SHA-256 kept, by the key registry's object), rotate
//! (the former key works on for a grace period, an hour by default) and
//! revoke (refused by every isolate within a second of its next use:
//! `agents::registry`). Static `AGENT_KEYS` entries are listed, rotated and
//! revoked alike; a revoked static entry stays revoked.

use crate::admin::audit::{self, Line};
use crate::admin::auth::Admin;
use crate::agents::calls::digest_prefix;
use crate::agents::registry;
use crate::config::Config;
use crate::config::agent_keys::limits::month_name;
use crate::config::agent_keys::registry::{Change, DEFAULT_GRACE_SECS, Grace, MAX_GRACE_SECS};
use crate::config::agent_keys::{AgentKey, parse_entry};
use crate::http::reply::{self, Local};
use crate::http::request::read_body;
use crate::keys::agent_key;
use crate::usage::month::{Counts, Usage};
use crate::usage::read;
use feishu_tenant_token::Clock;
use feishu_tenant_token::cache_key::hex32;
use feishu_tenant_token::host::JsClock;
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use worker::{Env, Request, Response, Result};

/// A new key's entry is one `AGENT_KEYS` entry.
const MAX_ENTRY_BYTES: usize = 32 * 1024;

/// One key as the list shows it: never the key, only its digest's prefix.
#[derive(Serialize)]
struct KeyView<'a> {
    id: &'a str,
    app_id: &'a str,
    key_sha256: String,
    /// `AGENT_KEYS`, or `admin` (made at run time).
    source: &'static str,
    allow: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tenants: Option<&'a Vec<String>>,
    users: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    limits: Option<LimitsView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at_ms: Option<u64>,
    /// A rotated key's former one, working until its grace ends.
    former: bool,
    /// This month's calls (UTC+8) and the last one.
    usage: Counts,
}

/// A key's `limits`, as its entry says them.
#[derive(Serialize)]
struct LimitsView {
    #[serde(skip_serializing_if = "Option::is_none")]
    per_minute: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    per_day: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    per_month: Option<u32>,
}

#[derive(Serialize)]
struct Listed<'a> {
    month: String,
    keys: Vec<KeyView<'a>>,
    /// Static entries revoked at run time.
    revoked: Vec<String>,
}

fn view<'a>(k: &'a AgentKey, source: &'static str, former: bool, usage: Counts) -> KeyView<'a> {
    let limits = k.limits.map(|l| LimitsView {
        per_minute: l.per_minute,
        per_day: l.per_day,
        per_month: l.per_month,
    });
    KeyView {
        id: &k.id,
        app_id: &k.app_id,
        key_sha256: digest_prefix(&k.digest),
        source,
        allow: k
            .allow
            .iter()
            .map(|a| format!("{} {}", a.method.as_deref().unwrap_or("*"), a.prefix))
            .collect(),
        tenants: k.tenants.as_ref(),
        users: &k.users,
        limits,
        expires_at_ms: k.expires_at_ms,
        former,
        usage,
    }
}

/// This month's record of each app among `apps` (one object read each; an
/// unreadable one counts as empty).
pub async fn months(env: &Env, apps: impl Iterator<Item = String>) -> BTreeMap<String, Usage> {
    let month = month_name(JsClock.now_ms());
    let mut out = BTreeMap::new();
    for app in apps {
        if out.contains_key(&app) {
            continue;
        }
        let usage = read::month(env, &app, &month)
            .await
            .unwrap_or_else(|_| Usage::new(month.clone()));
        out.insert(app, usage);
    }
    out
}

/// `GET /admin/api/keys`.
pub async fn list(env: &Env, config: &Config) -> Result<Response> {
    registry::refresh(env).await;
    let keys = registry::current(config);
    let agents = keys.agents(config);
    let doc = registry::last_read();
    let months = months(env, agents.keys.iter().map(|k| k.app_id.clone())).await;
    let mut listed: Vec<KeyView<'_>> = agents
        .keys
        .iter()
        .map(|k| {
            let former = doc.is_former(&k.id, &k.digest);
            let usage = if former {
                Counts::default()
            } else {
                months
                    .get(&k.app_id)
                    .and_then(|m| m.keys.get(&k.id))
                    .copied()
                    .unwrap_or_default()
            };
            let source = if doc.made_here(&k.id).is_some() {
                "admin"
            } else {
                "AGENT_KEYS"
            };
            view(k, source, former, usage)
        })
        .collect();
    listed.sort_unstable_by(|a, b| (a.id, a.former).cmp(&(b.id, b.former)));
    let revoked = doc
        .revoked
        .iter()
        .filter(|id| config.agents.keys.iter().any(|k| k.id == **id))
        .cloned()
        .collect();
    let body = serde_json::to_string(&Listed {
        month: month_name(JsClock.now_ms()),
        keys: listed,
        revoked,
    })
    .unwrap_or_default();
    reply::json_response(200, body)
}

/// The request's JSON object, bounded.
async fn object_body(
    req: &mut Request,
) -> Result<core::result::Result<Map<String, Value>, Response>> {
    let body = match read_body(req, MAX_ENTRY_BYTES).await? {
        Ok(b) => b,
        Err(refusal) => return Ok(Err(refusal)),
    };
    if body.is_empty() {
        return Ok(Ok(Map::new()));
    }
    match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(o)) => Ok(Ok(o)),
        _ => reply::local(Local::BadBody, "the body must be a JSON object").map(Err),
    }
}

/// A new key for `app_id` from the host's CSPRNG.
fn new_key(config: &Config, app_id: &str) -> Option<String> {
    let secret = config.held_app(app_id)?.app_secret().expose_secret();
    Some(agent_key::mint(
        app_id,
        secret,
        crate::keys::random::random_bytes::<24>(),
    ))
}

#[derive(Serialize)]
struct Made<'a> {
    /// Shown this once: only its SHA-256 is kept.
    key: &'a str,
    id: &'a str,
    key_sha256: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    former_works_until_ms: Option<u64>,
}

/// `POST /admin/api/keys`: an `AGENT_KEYS` entry without `sha256`.
pub async fn create(
    mut req: Request,
    env: &Env,
    config: &Config,
    admin: &Admin,
) -> Result<Response> {
    let mut entry = match object_body(&mut req).await? {
        Ok(o) => o,
        Err(refusal) => return Ok(refusal),
    };
    if entry.contains_key("sha256") {
        return reply::local(
            Local::InvalidField,
            "sha256: the Worker makes the key; leave it out",
        );
    }
    let app_id = entry
        .get("app_id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let Some(key) = new_key(config, &app_id) else {
        return reply::local(
            Local::InvalidField,
            "app_id: the Worker holds no secret for this app (SELF_BUILT_APPS, or store-app mode's FEISHU_APP_ID)",
        );
    };
    let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
    entry.insert("sha256".to_owned(), Value::String(hex32(&digest)));
    let entry = Value::Object(entry);
    let holds_secret = |a: &str| config.held_app(a).is_some();
    let is_store_app = |a: &str| config.is_store_app(a);
    let parsed = match parse_entry(&entry, &holds_secret, &is_store_app) {
        Ok(k) => k,
        Err((field, why)) => return reply::local(Local::InvalidField, &format!("{field}: {why}")),
    };
    registry::refresh(env).await;
    let taken = registry::current(config)
        .agents(config)
        .keys
        .iter()
        .any(|k| k.id == parsed.id)
        || config.agents.keys.iter().any(|k| k.id == parsed.id);
    if taken {
        return reply::local(
            Local::InvalidField,
            &format!("id: {:?} is taken (rotate or revoke that key)", parsed.id),
        );
    }
    let line = Line::new(admin, "key_created").key(&parsed.id, Some(&digest));
    if let Err(refusal) = audit::record(env, line, Some(Change::Create { entry })).await? {
        return Ok(refusal);
    }
    let made = Made {
        key: &key,
        id: &parsed.id,
        key_sha256: digest_prefix(&digest),
        former_works_until_ms: None,
    };
    reply::json_response(201, serde_json::to_string(&made).unwrap_or_default())
}

/// `POST /admin/api/keys/{id}/rotate` (`{"grace_secs": n}`, default an hour).
pub async fn rotate(
    mut req: Request,
    env: &Env,
    config: &Config,
    admin: &Admin,
    id: &str,
) -> Result<Response> {
    let body = match object_body(&mut req).await? {
        Ok(o) => o,
        Err(refusal) => return Ok(refusal),
    };
    let grace_secs = match body.get("grace_secs") {
        None | Some(Value::Null) => DEFAULT_GRACE_SECS,
        Some(v) => match v.as_u64().filter(|s| *s <= MAX_GRACE_SECS) {
            Some(s) => s,
            None => {
                return reply::local(
                    Local::InvalidField,
                    &format!("grace_secs: a whole number of seconds from 0 to {MAX_GRACE_SECS}"),
                );
            }
        },
    };
    registry::refresh(env).await;
    let doc = registry::last_read();
    let now = JsClock.now_ms();
    let keys = registry::current(config);
    let current = keys
        .agents(config)
        .keys
        .iter()
        .find(|k| k.id == id && !doc.is_former(&k.id, &k.digest));
    let Some(current) = current else {
        return reply::local(Local::NotFound, &format!("no live key {id:?}"));
    };
    let Some(key) = new_key(config, &current.app_id) else {
        return reply::local(
            Local::InvalidField,
            "the Worker no longer holds this key's app's secret",
        );
    };
    let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
    let entry = match doc.made_here(id) {
        Some(e) => {
            let mut e = e.clone();
            e["sha256"] = Value::String(hex32(&digest));
            e
        }
        None => serde_json::json!({"id": id, "sha256": hex32(&digest), "static": true}),
    };
    let until_ms = now + grace_secs * 1000;
    let grace = Grace {
        id: id.to_owned(),
        sha256: hex32(&current.digest),
        until_ms,
    };
    let line = Line::new(admin, "key_rotated").key(id, Some(&digest));
    if let Err(refusal) = audit::record(env, line, Some(Change::Rotate { entry, grace })).await? {
        return Ok(refusal);
    }
    let made = Made {
        key: &key,
        id,
        key_sha256: digest_prefix(&digest),
        former_works_until_ms: Some(until_ms),
    };
    reply::json_response(200, serde_json::to_string(&made).unwrap_or_default())
}

/// `POST /admin/api/keys/{id}/revoke`.
pub async fn revoke(env: &Env, config: &Config, admin: &Admin, id: &str) -> Result<Response> {
    registry::refresh(env).await;
    let keys = registry::current(config);
    if !keys.agents(config).keys.iter().any(|k| k.id == id) {
        return reply::local(Local::NotFound, &format!("no live key {id:?}"));
    }
    let line = Line::new(admin, "key_revoked").key(id, None);
    if let Err(refusal) =
        audit::record(env, line, Some(Change::Revoke { id: id.to_owned() })).await?
    {
        return Ok(refusal);
    }
    reply::json_response(
        200,
        serde_json::json!({"code": 0, "msg": "revoked", "id": id}).to_string(),
    )
}
