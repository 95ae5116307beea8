//! The operator page's session: a cookie naming who signed in (`key`, for
//! `ADMIN_KEY`, or an `ADMINS` open_id signed in with Feishu) and until
//! when, signed with HMAC-SHA256 under a key derived from `ADMIN_KEY` (key
//! sessions) or from `USER_TOKEN_KEY` (Feishu sign-ins). Nothing is stored:
//! changing `ADMIN_KEY` ends every key session; taking an open_id out of
//! `ADMINS` ends that person's (checked at every request, not here).
//!
//! `s1.<who: base64url>.<expires ms>.<HMAC: base64url>`

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The cookie's name.
pub const COOKIE: &str = "ftt_admin";
/// Who a session of `ADMIN_KEY` names.
pub const KEY_HOLDER: &str = "key";
/// How long a session lasts.
pub const SESSION_MS: u64 = 8 * 3600 * 1000;
/// Longer cookie values are not sessions (nothing is decoded).
const MAX_SESSION_BYTES: usize = 256;
const PREFIX: &str = "s1.";

/// The signing key of `ADMIN_KEY`'s sessions.
pub fn key_of_admin_key(admin_key: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"feishu-tenant-token/admin-session/v1\0");
    h.update(admin_key.as_bytes());
    h.finalize().into()
}

fn mac(key: &[u8; 32], signed: &str) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    mac.update(signed.as_bytes());
    mac
}

/// A session for `who` until `expires_ms`.
pub fn mint(key: &[u8; 32], who: &str, expires_ms: u64) -> String {
    let signed = format!("{PREFIX}{}.{expires_ms}", B64.encode(who));
    let sig = mac(key, &signed).finalize().into_bytes();
    format!("{signed}.{}", B64.encode(sig))
}

/// Who a session names, unchecked (it says which key checks it).
pub fn named(value: &str) -> Option<String> {
    if value.len() > MAX_SESSION_BYTES {
        return None;
    }
    let rest = value.strip_prefix(PREFIX)?;
    let who = rest.split('.').next()?;
    String::from_utf8(B64.decode(who).ok()?).ok()
}

/// Who a session names when its signature checks under `key` (constant
/// time) and it has not expired at `now_ms`.
pub fn verify(key: &[u8; 32], value: &str, now_ms: u64) -> Option<String> {
    if value.len() > MAX_SESSION_BYTES {
        return None;
    }
    let (signed, sig) = value.rsplit_once('.')?;
    let sig = B64.decode(sig).ok()?;
    mac(key, signed).verify_slice(&sig).ok()?;
    let (_, expires) = signed.rsplit_once('.')?;
    if expires.parse::<u64>().ok()? <= now_ms {
        return None;
    }
    named(value)
}

/// The `Set-Cookie` of a session (`max_age_secs` 0: cleared): the page's
/// paths only, never read by scripts, never sent by another site's request,
/// `Secure` on https.
pub fn set_cookie(value: &str, max_age_secs: u64, secure: bool) -> String {
    format!(
        "{COOKIE}={value}; Path=/admin; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The session cookie's value in a `Cookie` header.
pub fn from_cookie_header(header: &str) -> Option<&str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_checks_only_under_its_key_and_until_it_expires() {
        let key = key_of_admin_key("a".repeat(32).as_str());
        let s = mint(&key, "ou_a", 1000);
        assert_eq!(named(&s).as_deref(), Some("ou_a"));
        assert_eq!(verify(&key, &s, 999).as_deref(), Some("ou_a"));
        assert_eq!(verify(&key, &s, 1000), None, "expired");
        let other = key_of_admin_key("b".repeat(32).as_str());
        assert_eq!(verify(&other, &s, 0), None, "ADMIN_KEY changed");
        let (signed, sig) = s.rsplit_once('.').unwrap();
        let forged = signed.replace(&B64.encode("ou_a"), &B64.encode("ou_b"));
        assert_eq!(verify(&key, &format!("{forged}.{sig}"), 0), None);
        let longer = signed.replace(".1000", ".9999999");
        assert_eq!(verify(&key, &format!("{longer}.{sig}"), 0), None);
        for bad in ["", "s1.", "s1..", "x.y.z", &"s1.".repeat(100)] {
            assert_eq!(verify(&key, bad, 0), None, "{bad}");
        }
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        assert_eq!(from_cookie_header("a=1; ftt_admin=s1.x; b=2"), Some("s1.x"));
        assert_eq!(from_cookie_header("xftt_admin=1"), None);
        assert_eq!(from_cookie_header(""), None);
    }
}
