//! Agent keys: the settings `SELF_BUILT_APPS` and `AGENT_KEYS`, read into
//! typed values with errors naming the entry and field, and the rules a
//! call made with a key's gateway token must pass (method and path prefix,
//! tenant, expiry). Pure, so they are tested natively.

use feishu_tenant_token::api_path::normalised;
use feishu_tenant_token::cache_key::parse_hex32;
use feishu_tenant_token::secret::constant_time_eq;
use feishu_tenant_token::user_token::is_open_id;
use serde_json::Value;

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

/// The entry whose digest is `digest` (every entry compared, in constant
/// time) for `app_id`.
pub fn find_by_digest<'k>(
    keys: &'k [AgentKey],
    app_id: &str,
    digest: &[u8; 32],
) -> Option<&'k AgentKey> {
    let mut found = None;
    for k in keys {
        if constant_time_eq(&k.digest, digest) && k.app_id == app_id {
            found = Some(k);
        }
    }
    found
}

/// One entry of `SELF_BUILT_APPS`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SelfBuiltEntry {
    pub app_id: String,
    pub secret: String,
    /// The app is Lark's (`"brand": "lark"`), served under `/lark` only;
    /// otherwise Feishu's, served at the top level only. Its secret never
    /// goes to the other brand's host.
    pub lark: bool,
}

/// `SELF_BUILT_APPS`: a JSON object of app ids to their secrets, each either
/// the secret itself (a Feishu app) or `{"secret": "...", "brand":
/// "feishu" | "lark"}`.
pub fn parse_self_built_apps(text: &str) -> Result<Vec<SelfBuiltEntry>, String> {
    let bad = |why: &str| format!("SELF_BUILT_APPS: {why}");
    let value: Value = serde_json::from_str(text).map_err(|_| {
        bad("not JSON: a JSON object of app ids to their secrets, e.g. {\"cli_xxx\": \"<secret>\"} or {\"cli_xxx\": {\"secret\": \"<secret>\", \"brand\": \"lark\"}}")
    })?;
    let Value::Object(map) = value else {
        return Err(bad("must be a JSON object of app ids to their secrets"));
    };
    if map.len() > MAX_AGENT_KEYS {
        return Err(bad(&format!("at most {MAX_AGENT_KEYS} apps")));
    }
    let mut apps = Vec::with_capacity(map.len());
    for (app_id, entry) in map {
        if !app_id.starts_with("cli_") || app_id.len() > MAX_ID_CHARS {
            return Err(bad(&format!("{app_id:?} is not an app id (cli_...)")));
        }
        let (secret, lark) = match entry {
            Value::String(s) => (s, false),
            Value::Object(o) => {
                if let Some(unknown) = o
                    .keys()
                    .find(|k| !["secret", "brand"].contains(&k.as_str()))
                {
                    return Err(bad(&format!(
                        "{app_id}: unknown field {unknown:?} (fields: secret, brand)"
                    )));
                }
                let lark = match o.get("brand").and_then(Value::as_str) {
                    None if o.get("brand").is_none() => false,
                    Some("feishu") => false,
                    Some("lark") => true,
                    _ => {
                        return Err(bad(&format!(
                            "{app_id}.brand must be \"feishu\" (the default) or \"lark\""
                        )));
                    }
                };
                match o.get("secret") {
                    Some(Value::String(s)) => (s.clone(), lark),
                    _ => (String::new(), lark),
                }
            }
            _ => (String::new(), false),
        };
        if secret.trim().is_empty() {
            // The secret itself is never shown.
            return Err(bad(&format!(
                "the secret of {app_id} must be a non-empty string"
            )));
        }
        apps.push(SelfBuiltEntry {
            app_id,
            secret,
            lark,
        });
    }
    Ok(apps)
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
    Ok(keys)
}

type FieldError = (&'static str, String);

fn parse_entry(
    item: &Value,
    holds_secret: &impl Fn(&str) -> bool,
    is_store_app: &impl Fn(&str) -> bool,
) -> Result<AgentKey, FieldError> {
    let Value::Object(o) = item else {
        return Err(("", "must be an object".to_owned()));
    };
    const FIELDS: [&str; 8] = [
        "id",
        "sha256",
        "app_id",
        "allow",
        "tenants",
        "users",
        "user_tokens",
        "expires_at",
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
    let allow = match o.get("allow") {
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
    };
    let tenants = match o.get("tenants") {
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
    };
    let users = match o.get("users") {
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
    };
    let user_tokens = match o.get("user_tokens") {
        None | Some(Value::Null | Value::Bool(false)) => false,
        Some(Value::Bool(true)) if !users.is_empty() => true,
        Some(Value::Bool(true)) => {
            return Err((
                "user_tokens",
                "needs `users`: the users whose tokens the key may be handed".to_owned(),
            ));
        }
        Some(_) => return Err(("user_tokens", "must be true or false".to_owned())),
    };
    let expires_at_ms = match o.get("expires_at") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(parse_rfc3339_ms(s).ok_or((
            "expires_at",
            "must be an RFC 3339 time, e.g. \"2027-01-31T00:00:00Z\"".to_owned(),
        ))?),
        Some(_) => return Err(("expires_at", "must be an RFC 3339 time string".to_owned())),
    };
    Ok(AgentKey {
        id: id.to_owned(),
        digest,
        app_id: app_id.to_owned(),
        allow,
        tenants,
        users,
        user_tokens,
        expires_at_ms,
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

/// Milliseconds since the Unix epoch of an RFC 3339 time
/// (`YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`); `None` for anything else.
pub fn parse_rfc3339_ms(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.len() < 20 || !text.is_ascii() {
        return None;
    }
    let num = |r: core::ops::Range<usize>| -> Option<i64> {
        let s = text.get(r)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let sep = |i: usize, c: &[u8]| c.contains(&b[i]);
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut i = 19;
    let mut millis = 0i64;
    if b[i] == b'.' {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let frac = text.get(start..i)?;
        if frac.is_empty() {
            return None;
        }
        let padded = format!("{:0<3}", &frac[..frac.len().min(3)]);
        millis = padded.parse().ok()?;
    }
    let offset_secs = match text.get(i..)? {
        "Z" | "z" => 0,
        tz if tz.len() == 6 && (tz.starts_with('+') || tz.starts_with('-')) && &tz[3..4] == ":" => {
            let h = num(i + 1..i + 3)?;
            let m = num(i + 4..i + 6)?;
            if h > 23 || m > 59 {
                return None;
            }
            let s = h * 3600 + m * 60;
            if tz.starts_with('-') { -s } else { s }
        }
        _ => return None,
    };
    let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days_in = [
        31,
        if leap(year) { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in[usize::try_from(month - 1).ok()?]
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    // Days from the civil date (H. Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    u64::try_from(secs.checked_mul(1000)?.checked_add(millis)?).ok()
}

#[cfg(test)]
mod tests;
