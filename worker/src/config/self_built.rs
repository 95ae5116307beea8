//! `SELF_BUILT_APPS`: the self-built apps whose secrets the Worker holds,
//! each a Feishu app (at the top level) or a Lark one (under `/lark`).

use crate::config::agent_keys::MAX_AGENT_KEYS;
use serde_json::Value;

const MAX_ID_CHARS: usize = 64;

/// One entry of `SELF_BUILT_APPS`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SelfBuiltEntry {
    pub app_id: String,
    pub secret: String,
    /// The app is Lark's (`"brand": "lark"`), served under `/lark` only;
    /// otherwise Feishu's, served at the top level only. Its secret never
    /// goes to the other brand's host.
    pub lark: bool,
    /// Its event callback's Encrypt Key and Verification Token
    /// (`POST /events/{app_id}`); events are refused while neither is set.
    pub encrypt_key: Option<String>,
    pub verification_token: Option<String>,
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
        let mut events = (None, None);
        let (secret, lark) = match entry {
            Value::String(s) => (s, false),
            Value::Object(o) => {
                const FIELDS: [&str; 4] = ["secret", "brand", "encrypt_key", "verification_token"];
                if let Some(unknown) = o.keys().find(|k| !FIELDS.contains(&k.as_str())) {
                    return Err(bad(&format!(
                        "{app_id}: unknown field {unknown:?} (fields: {})",
                        FIELDS.join(", ")
                    )));
                }
                let text = |name: &str| match o.get(name) {
                    None | Some(Value::Null) => Ok(None),
                    Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.clone())),
                    // Never the value.
                    Some(_) => Err(bad(&format!("{app_id}.{name} must be a non-empty string"))),
                };
                events = (text("encrypt_key")?, text("verification_token")?);
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
            encrypt_key: events.0,
            verification_token: events.1,
        });
    }
    Ok(apps)
}
