//! The operator's settings: who may use the admin API and page
//! (`ADMIN_KEY`, and `ADMINS` signed in with Feishu), and the monthly
//! quota's guard (`MONTHLY_QUOTA`, `QUOTA_AGENT_SHARE`). Pure.

use crate::config::api_keys::MIN_API_KEY_CHARS;
use feishu_tenant_token::secret::ApiKey;
use feishu_tenant_token::user_token::is_open_id;
use serde_json::Value;

/// Agent keys' share of a quota by default: past 90 % of it, only services
/// with API keys keep calling (`QUOTA_AGENT_SHARE`).
pub const DEFAULT_AGENT_SHARE_PCT: u8 = 90;
/// Most entries in `ADMINS`.
const MAX_ADMINS: usize = 100;

#[derive(Clone, Debug, Default)]
pub struct Operators {
    /// `ADMIN_KEY`: the admin API's bearer key, and the page's sign-in.
    pub admin_key: Option<ApiKey>,
    /// `ADMINS`: the `open_id`s whose Feishu sign-in opens the page.
    pub admins: Vec<String>,
    pub quota: Quota,
}

impl Operators {
    /// Whether anyone at all may administer (else the admin surface is off).
    pub fn on(&self) -> bool {
        self.admin_key.is_some() || !self.admins.is_empty()
    }
}

/// `MONTHLY_QUOTA`: a number of calls a month for every app, or per app
/// (`{"cli_a": 500000}`); off when unset.
#[derive(Clone, Debug)]
pub struct Quota {
    every: Option<u64>,
    per_app: Vec<(String, u64)>,
    /// `QUOTA_AGENT_SHARE`, in percent of the quota.
    pub agent_share_pct: u8,
}

impl Default for Quota {
    fn default() -> Self {
        Self {
            every: None,
            per_app: Vec::new(),
            agent_share_pct: DEFAULT_AGENT_SHARE_PCT,
        }
    }
}

impl Quota {
    /// `app_id`'s monthly quota, when one is set.
    pub fn of(&self, app_id: &str) -> Option<u64> {
        self.per_app
            .iter()
            .find(|(a, _)| a == app_id)
            .map(|(_, n)| *n)
            .or(self.every)
    }
}

/// Reads `ADMIN_KEY`, `ADMINS`, `MONTHLY_QUOTA` and `QUOTA_AGENT_SHARE`.
pub fn parse_operators(get: &impl Fn(&str) -> Option<String>) -> Result<Operators, String> {
    let admin_key = match get("ADMIN_KEY") {
        Some(k) if k.len() < MIN_API_KEY_CHARS => {
            return Err(format!(
                "ADMIN_KEY is shorter than {MIN_API_KEY_CHARS} characters (make one with `openssl rand -hex 32`)"
            ));
        }
        k => k.map(ApiKey::new),
    };
    let admins: Vec<String> = get("ADMINS")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
        .collect();
    if admins.len() > MAX_ADMINS || admins.iter().any(|a| !is_open_id(a)) {
        return Err(format!(
            "ADMINS: comma-separated open_ids (ou_...) of the people who may use /admin, at most {MAX_ADMINS}"
        ));
    }
    let share = match get("QUOTA_AGENT_SHARE") {
        None => DEFAULT_AGENT_SHARE_PCT,
        Some(v) => v
            .trim_end_matches('%')
            .parse::<u8>()
            .ok()
            .filter(|p| (1..=100).contains(p))
            .ok_or("QUOTA_AGENT_SHARE must be a percent from 1 to 100 (default 90)")?,
    };
    let mut quota = Quota {
        agent_share_pct: share,
        ..Quota::default()
    };
    if let Some(text) = get("MONTHLY_QUOTA") {
        let shape = "MONTHLY_QUOTA must be a whole number of calls a month (every app), or a JSON object of them per app: {\"cli_a\": 500000}";
        match serde_json::from_str::<Value>(&text).map_err(|_| shape)? {
            Value::Number(n) => quota.every = Some(n.as_u64().filter(|&n| n > 0).ok_or(shape)?),
            Value::Object(o) => {
                for (app, n) in o {
                    let n = n.as_u64().filter(|&n| n > 0).ok_or(shape)?;
                    quota.per_app.push((app, n));
                }
            }
            _ => return Err(shape.to_owned()),
        }
    }
    Ok(Operators {
        admin_key,
        admins,
        quota,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<Operators, String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse_operators(&|name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn off_by_default() {
        let o = read(&[]).unwrap();
        assert!(!o.on());
        assert_eq!(o.quota.of("cli_a"), None);
        assert_eq!(o.quota.agent_share_pct, 90);
    }

    #[test]
    fn quota_for_every_app_or_per_app() {
        let o = read(&[("MONTHLY_QUOTA", "10000")]).unwrap();
        assert_eq!(o.quota.of("cli_x"), Some(10000));
        let o = read(&[
            ("MONTHLY_QUOTA", r#"{"cli_a": 5}"#),
            ("QUOTA_AGENT_SHARE", "75%"),
        ])
        .unwrap();
        assert_eq!((o.quota.of("cli_a"), o.quota.of("cli_b")), (Some(5), None));
        assert_eq!(o.quota.agent_share_pct, 75);
        for bad in ["0", "-1", "x", r#"{"cli_a": "5"}"#, "[1]"] {
            let e = read(&[("MONTHLY_QUOTA", bad)]).unwrap_err();
            assert!(e.starts_with("MONTHLY_QUOTA"), "{bad}: {e}");
        }
        assert!(read(&[("QUOTA_AGENT_SHARE", "101")]).is_err());
    }

    #[test]
    fn admin_key_and_admins_are_checked_and_never_echoed() {
        let e = read(&[("ADMIN_KEY", "short-secret")]).unwrap_err();
        assert!(!e.contains("short-secret"));
        let o = read(&[("ADMIN_KEY", &"k".repeat(32)), ("ADMINS", "ou_a, ou_b")]).unwrap();
        assert!(o.on());
        assert_eq!(o.admins, ["ou_a", "ou_b"]);
        assert!(read(&[("ADMINS", "alice")]).is_err());
    }
}
