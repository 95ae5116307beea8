//! User tokens' settings: on when `USER_TOKEN_KEY` is set. Pure, so it is
//! tested natively.

use feishu_tenant_token::BaseUrl;
use sha2::{Digest, Sha256};

/// Where Feishu's sign-in page lives (Feishu, then Lark).
pub const DEFAULT_FEISHU_ACCOUNTS_URL: &str = "https://accounts.feishu.cn";
pub const DEFAULT_LARK_ACCOUNTS_URL: &str = "https://accounts.larksuite.com";
/// Longest keep-alive accepted: a user idle longer signs in again.
pub const MAX_KEEPALIVE_DAYS: u32 = 365;

/// 32 bytes derived from `USER_TOKEN_KEY` for one use. Never printed.
#[derive(Clone)]
pub struct DerivedKey([u8; 32]);

impl DerivedKey {
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl core::fmt::Debug for DerivedKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("DerivedKey([redacted])")
    }
}

#[derive(Clone, Debug)]
pub struct Users {
    /// Seals each user's grant at rest (AES-256-GCM).
    pub seal_key: DerivedKey,
    /// Signs sign-in states (HMAC-SHA256).
    pub state_key: DerivedKey,
    /// Signs the operator page's sessions of `ADMINS` signed in with Feishu.
    pub admin_session_key: DerivedKey,
    /// Asked at sign-in besides `offline_access` (always asked).
    pub scopes: Vec<String>,
    pub feishu_accounts: BaseUrl,
    pub lark_accounts: BaseUrl,
    /// 0: off. Otherwise a user's grant is refreshed before its refresh
    /// token lapses while the user was served within this many days.
    pub keepalive_days: u32,
}

/// Derives one key per use from the operator's secret, so that the same
/// bytes never serve both AES-GCM and HMAC.
fn derive(secret: &[u8; 32], purpose: &str) -> DerivedKey {
    let mut h = Sha256::new();
    h.update(b"feishu-tenant-token/user-tokens/");
    h.update(purpose.as_bytes());
    h.update(b"\0");
    h.update(secret);
    DerivedKey(h.finalize().into())
}

fn hex32(text: &str) -> Option<[u8; 32]> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        let s = core::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}

/// `None` when `USER_TOKEN_KEY` is unset (user tokens off).
pub fn parse_users(get: &impl Fn(&str) -> Option<String>) -> Result<Option<Users>, String> {
    let Some(key) = get("USER_TOKEN_KEY") else {
        return Ok(None);
    };
    let Some(secret) = hex32(&key) else {
        // Never the value.
        return Err(
            "USER_TOKEN_KEY must be 64 hex characters (make one with `openssl rand -hex 32`)"
                .to_owned(),
        );
    };
    let url = |name: &str, default: &str| {
        let text = get(name).unwrap_or_else(|| default.to_owned());
        BaseUrl::parse(&text).map_err(|e| format!("{name}: {}", e.message()))
    };
    let scopes = get("OAUTH_SCOPES")
        .unwrap_or_default()
        .split([' ', ','])
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect::<Vec<_>>();
    if let Some(bad) = scopes
        .iter()
        .position(|s| s.len() > 128 || !s.bytes().all(|b| b.is_ascii_graphic() && b != b'"'))
    {
        return Err(format!(
            "OAUTH_SCOPES: scope {} is not a scope name (space- or comma-separated names)",
            bad + 1
        ));
    }
    let keepalive_days = match get("USER_KEEPALIVE_DAYS") {
        None => 0,
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|d| *d <= MAX_KEEPALIVE_DAYS)
            .ok_or(format!(
                "USER_KEEPALIVE_DAYS must be a whole number from 0 (off) to {MAX_KEEPALIVE_DAYS}"
            ))?,
    };
    Ok(Some(Users {
        seal_key: derive(&secret, "seal"),
        admin_session_key: derive(&secret, "admin-session"),
        state_key: derive(&secret, "state"),
        scopes,
        feishu_accounts: url("FEISHU_ACCOUNTS_URL", DEFAULT_FEISHU_ACCOUNTS_URL)?,
        lark_accounts: url("LARK_ACCOUNTS_URL", DEFAULT_LARK_ACCOUNTS_URL)?,
        keepalive_days,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    fn parse(pairs: &[(&str, &str)]) -> Result<Option<Users>, String> {
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        };
        parse_users(&get)
    }

    #[test]
    fn off_without_a_key_and_defaults_with_one() {
        assert!(parse(&[]).unwrap().is_none());
        let u = parse(&[("USER_TOKEN_KEY", KEY)]).unwrap().unwrap();
        assert_eq!(u.keepalive_days, 0, "keep-alive off by default");
        assert!(u.scopes.is_empty());
        assert_eq!(u.feishu_accounts.join(""), DEFAULT_FEISHU_ACCOUNTS_URL);
        assert_ne!(u.seal_key.bytes(), u.state_key.bytes(), "one key per use");
        assert!(!format!("{u:?}").contains("0011"), "keys never printed");
    }

    #[test]
    fn bad_settings_name_the_setting_never_the_key() {
        for bad in ["short", &KEY[..63], &format!("{}zz", &KEY[..62])] {
            let e = parse(&[("USER_TOKEN_KEY", bad)]).unwrap_err();
            assert!(e.contains("USER_TOKEN_KEY") && !e.contains(bad), "{e}");
        }
        let e = parse(&[("USER_TOKEN_KEY", KEY), ("USER_KEEPALIVE_DAYS", "400")]).unwrap_err();
        assert!(e.contains("USER_KEEPALIVE_DAYS"));
        let e = parse(&[("USER_TOKEN_KEY", KEY), ("OAUTH_SCOPES", "a \"b")]).unwrap_err();
        assert!(e.contains("OAUTH_SCOPES: scope 2"), "{e}");
        let e = parse(&[("USER_TOKEN_KEY", KEY), ("FEISHU_ACCOUNTS_URL", "ftp://x")]).unwrap_err();
        assert!(e.contains("FEISHU_ACCOUNTS_URL"));
        let u = parse(&[
            ("USER_TOKEN_KEY", KEY),
            ("OAUTH_SCOPES", "contact:user.base:readonly, im:message"),
            ("USER_KEEPALIVE_DAYS", "30"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(u.scopes, ["contact:user.base:readonly", "im:message"]);
        assert_eq!(u.keepalive_days, 30);
    }
}
