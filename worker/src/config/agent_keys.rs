//! Agent keys: the settings `SELF_BUILT_APPS` and `AGENT_KEYS`, read into
//! typed values with errors naming the entry and field, and the rules a
//! call made with a key's gateway token must pass (method and path prefix,
//! tenant, expiry; its own limits in `limits`). Pure, so they are tested
//! natively.

pub mod limits;
pub mod registry;

use crate::config::rfc3339::parse_rfc3339_ms;
use feishu_tenant_token::api_path::normalised;
use feishu_tenant_token::cache_key::parse_hex32;
use feishu_tenant_token::secret::constant_time_eq;
use feishu_tenant_token::user_token::is_open_id;
use limits::{KeyLimits, MAX_LIMIT};
use serde_json::{Map, Value};

/// What every agent key given out by `scripts/agent-key.mjs` starts with: an
/// `app_secret` with this prefix is never sent on to Feishu.
pub const AGENT_KEY_PREFIX: &str = "ftt_ak_";

/// Most entries in `AGENT_KEYS`, and most `allow` / `tenants` items per
/// entry: settings are read into every isolate's memory.
pub const MAX_AGENT_KEYS: usize = 1000;
pub const MAX_ITEMS: usize = 200;
const MAX_ID_CHARS: usize = 64;

/// One `allow` entry: a method (`None` for `*`) and a path prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allow {
    pub method: Option<String>,
    pub prefix: String,
}

impl Allow {
    /// Whether `method` and `path` (without its query) are allowed: the
    /// method matches (any case) and the path is the prefix, or continues it
    /// at a segment boundary (`/open-apis/im/v1/chats` allows
    /// `/open-apis/im/v1/chats/oc_1`, never `/open-apis/im/v1/chatsx`).
    pub fn allows(&self, method: &str, path: &str) -> bool {
        let method_ok = self
            .method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method));
        let Some(rest) = path.strip_prefix(self.prefix.as_str()) else {
            return false;
        };
        method_ok && (rest.is_empty() || self.prefix.ends_with('/') || rest.starts_with('/'))
    }
}

/// One entry of `AGENT_KEYS`. The key itself is never held: its SHA-256.
#[derive(Clone, Debug)]
pub struct AgentKey {
    pub id: String,
    pub digest: [u8; 32],
    pub app_id: String,
    pub allow: Vec<Allow>,
    /// Store apps only: the tenants the key may act for (`None`: every one).
    pub tenants: Option<Vec<String>>,
    /// User tokens: the users (`open_id`s) the key may act for (none by
    /// default), on calls through the Worker within `allow`.
    pub users: Vec<String>,
    /// Whether the key may also be handed those users' raw tokens (`GET
    /// /v1/users/{open_id}/user_access_token`; `"user_tokens": true`, off
    /// by default): a raw token works at Feishu on any path, outside
    /// `allow`, so only an entry that says so gets one.
    pub user_tokens: bool,
    pub expires_at_ms: Option<u64>,
    /// Its own limits (`limits`), counted by its object across isolates.
    pub limits: Option<KeyLimits>,
    /// The event types it may pull for its app (`events`; none by default).
    pub events: Vec<String>,
}

impl AgentKey {
    pub fn expired(&self, now_ms: u64) -> bool {
        self.expires_at_ms.is_some_and(|e| e <= now_ms)
    }

    /// The one allow-list check of tenant, agent and user calls: the path
    /// read as `api_path::normalised` reads it (escapes, dot segments, `;`
    /// parameters, a full URL's scheme in any case); a path that could be
    /// read two ways is allowed by no entry.
    pub fn allows(&self, method: &str, path: &str) -> bool {
        let Ok(path) = normalised(path) else {
            return false;
        };
        self.allow.iter().any(|a| a.allows(method, &path))
    }

    pub fn acts_for(&self, user: &str) -> bool {
        self.users.iter().any(|u| u == user)
    }

    pub fn allows_tenant(&self, tenant: &str) -> bool {
        self.tenants
            .as_ref()
            .is_none_or(|t| t.iter().any(|k| k == tenant))
    }
}

/// The entry whose digest is `digest`, for `app_id`: a binary search of the
/// entries (sorted by digest by [`parse_agent_keys`]), then the match
/// confirmed in constant time. Searching by digest tells a caller nothing
/// usable: a digest is a SHA-256 of 32 random bytes, and knowing where a
/// guess's digest falls among the entries' digests brings no key closer.
/// Comparing all 1,000 entries (the maximum) on every call was measurable
/// (`bench/RESULTS.md`, keys at scale).
pub fn find_by_digest<'k>(
    keys: &'k [AgentKey],
    app_id: &str,
    digest: &[u8; 32],
) -> Option<&'k AgentKey> {
    let at = keys.binary_search_by(|k| k.digest.cmp(digest)).ok()?;
    let k = keys.get(at)?;
    (constant_time_eq(&k.digest, digest) && k.app_id == app_id).then_some(k)
}

/// `AGENT_KEYS`: a JSON array, one object per key. `holds_secret(app_id)`
/// says whether the Worker holds that app's secret (a self-built app in
/// `SELF_BUILT_APPS`, or store-app mode's app); `is_store_app(app_id)`
/// whether it is store-app mode's app (only those entries take `tenants`).
/// Errors name the entry's index and field.
pub fn parse_agent_keys(
    text: &str,
    holds_secret: impl Fn(&str) -> bool,
    is_store_app: impl Fn(&str) -> bool,
) -> Result<Vec<AgentKey>, String> {
    let value: Value = serde_json::from_str(text).map_err(|_| {
        "AGENT_KEYS: not JSON: a JSON array of key entries (scripts/agent-key.mjs prints one)"
            .to_owned()
    })?;
    let Value::Array(items) = value else {
        return Err("AGENT_KEYS: must be a JSON array of key entries".to_owned());
    };
    if items.len() > MAX_AGENT_KEYS {
        return Err(format!("AGENT_KEYS: at most {MAX_AGENT_KEYS} entries"));
    }
    let mut keys: Vec<AgentKey> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let key = parse_entry(item, &holds_secret, &is_store_app)
            .map_err(|(field, why)| format!("AGENT_KEYS[{i}].{field}: {why}"))?;
        if keys.iter().any(|k| k.id == key.id) {
            return Err(format!(
                "AGENT_KEYS[{i}].id: {:?} is used by an earlier entry",
                key.id
            ));
        }
        if keys.iter().any(|k| k.digest == key.digest) {
            return Err(format!(
                "AGENT_KEYS[{i}].sha256: the same key as an earlier entry"
            ));
        }
        keys.push(key);
    }
    // For `find_by_digest`'s binary search.
    keys.sort_unstable_by_key(|k| k.digest);
    Ok(keys)
}

pub(crate) type FieldError = (&'static str, String);

pub(crate) fn parse_entry(
    item: &Value,
    holds_secret: &impl Fn(&str) -> bool,
    is_store_app: &impl Fn(&str) -> bool,
) -> Result<AgentKey, FieldError> {
    let Value::Object(o) = item else {
        return Err(("", "must be an object".to_owned()));
    };
    const FIELDS: [&str; 10] = [
        "id",
        "sha256",
        "app_id",
        "allow",
        "tenants",
        "users",
        "user_tokens",
        "expires_at",
        "limits",
        "events",
    ];
    if let Some(unknown) = o.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err((
            "",
            format!("unknown field {unknown:?} (fields: {})", FIELDS.join(", ")),
        ));
    }
    let string = |field: &'static str| -> Result<&str, FieldError> {
        match o.get(field) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s),
            Some(_) => Err((field, "must be a non-empty string".to_owned())),
            None => Err((field, "is missing".to_owned())),
        }
    };
    let id = string("id")?;
    if id.chars().count() > MAX_ID_CHARS || id.chars().any(|c| c.is_control()) {
        return Err(("id", format!("at most {MAX_ID_CHARS} printable characters")));
    }
    let digest = parse_hex32(string("sha256")?).ok_or((
        "sha256",
        "must be 64 hex digits (the SHA-256 of the key)".to_owned(),
    ))?;
    let app_id = string("app_id")?;
    if !holds_secret(app_id) {
        return Err((
            "app_id",
            format!(
                "the Worker holds no secret for {app_id}: add it to SELF_BUILT_APPS (or set FEISHU_APP_ID / FEISHU_APP_SECRET for a store app)"
            ),
        ));
    }
    let allow = allow_of(o)?;
    let tenants = tenants_of(o, app_id, is_store_app)?;
    let users = users_of(o)?;
    let user_tokens = user_tokens_of(o, &users)?;
    let expires_at_ms = expiry_of(o)?;
    let limits = limits_of(o)?;
    let events = events_of(o)?;
    Ok(AgentKey {
        events,
        id: id.to_owned(),
        digest,
        app_id: app_id.to_owned(),
        allow,
        tenants,
        users,
        user_tokens,
        expires_at_ms,
        limits,
    })
}

/// `limits`: `{"per_minute": n, "per_day": n, "per_month": n}`, at least
/// one, each a whole number from 1 to `ledger::MAX_LIMIT`.
fn limits_of(o: &Map<String, Value>) -> Result<Option<KeyLimits>, FieldError> {
    let Some(value) = o.get("limits").filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let shape = || {
        (
            "limits",
            format!(
                "an object such as {{\"per_minute\": 60, \"per_month\": 20000}}: per_minute, per_day, per_month, at least one, each 1 to {MAX_LIMIT}"
            ),
        )
    };
    let Value::Object(l) = value else {
        return Err(shape());
    };
    if l.is_empty()
        || l.keys()
            .any(|k| !matches!(k.as_str(), "per_minute" | "per_day" | "per_month"))
    {
        return Err(shape());
    }
    let one = |name: &str| -> Result<Option<u32>, FieldError> {
        match l.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .filter(|&n| n >= 1 && n <= u64::from(MAX_LIMIT))
                .map(|n| Some(n as u32))
                .ok_or_else(shape),
        }
    };
    Ok(Some(KeyLimits {
        per_minute: one("per_minute")?,
        per_day: one("per_day")?,
        per_month: one("per_month")?,
    }))
}

/// `events`: the event types the key may pull (`GET /v1/events`).
fn events_of(o: &Map<String, Value>) -> Result<Vec<String>, FieldError> {
    Ok(match o.get("events") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(t)) if !t.is_empty() && t.len() <= MAX_ITEMS => t
            .iter()
            .map(|v| {
                v.as_str()
                    .filter(|s| !s.is_empty() && s.len() <= 128 && !s.contains(char::is_control))
                    .map(str::to_owned)
            })
            .collect::<Option<Vec<_>>>()
            .ok_or((
                "events",
                "each item must be an event type, e.g. \"im.message.receive_v1\"".to_owned(),
            ))?,
        Some(_) => {
            return Err((
                "events",
                format!("must be a non-empty array of at most {MAX_ITEMS} event types"),
            ));
        }
    })
}

/// `allow`: at least one "<METHOD or *> <path prefix>" (a key allows
/// nothing by default).
fn allow_of(o: &Map<String, Value>) -> Result<Vec<Allow>, FieldError> {
    Ok(match o.get("allow") {
        Some(Value::Array(a)) if !a.is_empty() && a.len() <= MAX_ITEMS => a
            .iter()
            .map(|v| v.as_str().and_then(parse_allow))
            .collect::<Option<Vec<_>>>()
            .ok_or((
                "allow",
                "each item is \"<METHOD or *> <path prefix under /open-apis/>\", e.g. \"GET /open-apis/im/v1/chats\"".to_owned(),
            ))?,
        Some(_) => return Err(("allow", format!("must be a non-empty array of at most {MAX_ITEMS} items"))),
        None => return Err(("allow", "is missing (a key allows nothing by default)".to_owned())),
    })
}

/// `tenants`: store-app mode's app only; absent, every tenant.
fn tenants_of(
    o: &Map<String, Value>,
    app_id: &str,
    is_store_app: &impl Fn(&str) -> bool,
) -> Result<Option<Vec<String>>, FieldError> {
    Ok(match o.get("tenants") {
        None | Some(Value::Null) => None,
        Some(_) if !is_store_app(app_id) => {
            return Err((
                "tenants",
                "only store-app mode's app has tenants".to_owned(),
            ));
        }
        Some(Value::Array(t)) if !t.is_empty() && t.len() <= MAX_ITEMS => Some(
            t.iter()
                .map(|v| v.as_str().filter(|s| !s.is_empty()).map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or((
                    "tenants",
                    "each item must be a tenant_key (a non-empty string)".to_owned(),
                ))?,
        ),
        Some(_) => {
            return Err((
                "tenants",
                format!("must be a non-empty array of at most {MAX_ITEMS} tenant keys"),
            ));
        }
    })
}

/// `users`: the signed-in users the key may act for (none by default).
fn users_of(o: &Map<String, Value>) -> Result<Vec<String>, FieldError> {
    Ok(match o.get("users") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(u)) if u.len() <= MAX_ITEMS => u
            .iter()
            .map(|v| v.as_str().filter(|s| is_open_id(s)).map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or((
                "users",
                "each item must be a user's open_id (ou_...)".to_owned(),
            ))?,
        Some(_) => {
            return Err((
                "users",
                format!("must be an array of at most {MAX_ITEMS} open_ids"),
            ));
        }
    })
}

/// `user_tokens`: whether the key is handed those users' raw tokens.
fn user_tokens_of(o: &Map<String, Value>, users: &[String]) -> Result<bool, FieldError> {
    Ok(match o.get("user_tokens") {
        None | Some(Value::Null | Value::Bool(false)) => false,
        Some(Value::Bool(true)) if !users.is_empty() => true,
        Some(Value::Bool(true)) => {
            return Err((
                "user_tokens",
                "needs `users`: the users whose tokens the key may be handed".to_owned(),
            ));
        }
        Some(_) => return Err(("user_tokens", "must be true or false".to_owned())),
    })
}

/// `expires_at`: an RFC 3339 time, or none.
fn expiry_of(o: &Map<String, Value>) -> Result<Option<u64>, FieldError> {
    Ok(match o.get("expires_at") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(parse_rfc3339_ms(s).ok_or((
            "expires_at",
            "must be an RFC 3339 time, e.g. \"2027-01-31T00:00:00Z\"".to_owned(),
        ))?),
        Some(_) => return Err(("expires_at", "must be an RFC 3339 time string".to_owned())),
    })
}

const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// `"GET /open-apis/im/v1/chats"` or `"* /open-apis/contact/v3/"`.
fn parse_allow(text: &str) -> Option<Allow> {
    let (method, prefix) = text.trim().split_once(' ')?;
    let prefix = prefix.trim();
    let method = match method {
        "*" => None,
        m => Some(
            METHODS
                .iter()
                .find(|k| k.eq_ignore_ascii_case(m))?
                .to_string(),
        ),
    };
    let clean = prefix.starts_with("/open-apis/")
        && prefix.len() > "/open-apis/".len()
        && !prefix.contains(['?', '#', '%', '\\', ' '])
        && !prefix.split('/').any(|s| s == "." || s == "..");
    clean.then(|| Allow {
        method,
        prefix: prefix.to_owned(),
    })
}

#[cfg(test)]
mod tests;
