//! Admin actions: each one JSON line in the Worker's log (the record, for
//! Workers Logpush: docs/operators.md) and kept among the registry's last
//! lines for the page. A line names the admin (`key` or an open_id), the
//! action and its target (a key's id and the first 8 hex digits of its
//! SHA-256, a user's open_id); never a key, token or secret. A change of
//! keys goes to the registry with its line, so the two never disagree.

use crate::admin::auth::Admin;
use crate::agents::calls::digest_prefix;
use crate::agents::registry::{self, Asked, CHANGE_PATH};
use crate::config::agent_keys::registry::Change;
use crate::http::reply::{self, Local};
use crate::log;
use feishu_tenant_token::Clock;
use feishu_tenant_token::host::JsClock;
use serde::{Deserialize, Serialize};
use worker::{Env, Response, Result};

/// One admin action's line.
#[derive(Serialize)]
pub struct Line<'a> {
    pub event: &'static str,
    pub admin: &'a str,
    pub action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<&'a str>,
    pub at_ms: u64,
}

impl<'a> Line<'a> {
    pub fn new(admin: &'a Admin, action: &'static str) -> Self {
        Self {
            event: "admin_action",
            admin: &admin.who,
            action,
            key: None,
            key_sha256: None,
            user: None,
            app: None,
            at_ms: JsClock.now_ms(),
        }
    }

    pub fn key(self, id: &'a str, digest: Option<&[u8; 32]>) -> Self {
        Self {
            key: Some(id),
            key_sha256: digest.map(digest_prefix),
            ..self
        }
    }
}

#[derive(Deserialize)]
struct Applied {
    ok: bool,
    #[serde(default)]
    error: String,
}

/// Records `line`, with `change` applied by the registry when given; this
/// isolate's view of the keys is read again at once. `Err`: the answer
/// to give (the registry unbound, unreachable, or refusing the change).
pub async fn record(
    env: &Env,
    line: Line<'_>,
    change: Option<Change>,
) -> Result<core::result::Result<(), Response>> {
    log::info(&line);
    let Some(ns) = registry::namespace(env) else {
        if change.is_none() {
            return Ok(Ok(()));
        }
        return reply::local(
            Local::RegistryUnavailable,
            "keys at run time need the KEY_REGISTRY Durable Object binding (class KeyRegistry: see wrangler.toml)",
        )
        .map(Err);
    };
    let asked = Asked {
        change,
        audit: serde_json::to_value(&line).unwrap_or_default(),
    };
    let body = serde_json::to_string(&asked).unwrap_or_default();
    let answer = match registry::ask(&ns, CHANGE_PATH, &body).await {
        Ok(a) => a,
        Err(why) => {
            log::warn("key_registry_failed", &why);
            return reply::local(Local::RegistryUnavailable, &why).map(Err);
        }
    };
    match serde_json::from_str::<Applied>(&answer) {
        Ok(a) if a.ok => {
            registry::refresh(env).await;
            Ok(Ok(()))
        }
        Ok(a) => reply::local(Local::InvalidField, &a.error).map(Err),
        Err(_) => reply::local(
            Local::RegistryUnavailable,
            "the key registry's answer could not be read",
        )
        .map(Err),
    }
}
