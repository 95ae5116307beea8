//! A sign-in's `state` and its browser binding, for a host that sends the
//! browser to Feishu's sign-in page and takes it back (the Worker's
//! `/oauth/login` and `/oauth/callback`). Pure: the host supplies the time,
//! 32 random bytes and its signing secret.
//!
//! `/oauth/login` sets a cookie holding a random nonce and the PKCE verifier
//! (HttpOnly, `SameSite=Lax`, the callback's path only) and sends the browser
//! to Feishu with `state` = the app, the post-sign-in path and an expiry,
//! signed (HMAC-SHA256) together with the SHA-256 of that cookie. The
//! callback accepts `state` only signed by this host, unexpired, and with
//! the cookie of the browser that started the sign-in: a tampered state, a
//! replayed one after its minutes, or another browser's (a login CSRF) is
//! refused before any code is exchanged.

use super::{code_challenge, code_verifier_from};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A sign-in must come back within this long.
pub const SIGN_IN_WINDOW_MS: u64 = 10 * 60 * 1000;
/// Separates this use of the host's secret from any other.
const DOMAIN: &[u8] = b"feishu-tenant-token/sign-in-state/v1\0";
/// Longest `state` or cookie value read.
const MAX_LEN: usize = 2048;

#[derive(Serialize, Deserialize)]
struct Claims {
    /// The app signing in.
    a: String,
    /// Where the browser goes after.
    r: String,
    /// Expiry (ms since the epoch).
    e: u64,
}

/// What `/oauth/login` sets and sends.
#[derive(Debug)]
pub struct Started {
    /// The `state` parameter for the sign-in URL.
    pub state: String,
    /// The cookie's value (nonce and verifier).
    pub cookie: String,
    /// The PKCE challenge for the sign-in URL.
    pub challenge: String,
}

/// What the callback accepted: the app, the verifier for the code
/// exchange, where the browser goes after.
#[derive(Debug, PartialEq, Eq)]
pub struct Returned {
    pub app_id: String,
    pub code_verifier: String,
    pub redirect: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// Not shaped as a state and cookie of this host's.
    Malformed,
    /// Not signed by this host for this browser's cookie: altered, or
    /// started in another browser (or no cookie came back).
    NotThisBrowser,
    /// Signed for this browser, but its minutes are over (a replay).
    Expired,
}

fn mac(secret: &[u8]) -> Hmac<Sha256> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    m.update(DOMAIN);
    m
}

fn signature(secret: &[u8], claims: &str, cookie: &str) -> Hmac<Sha256> {
    let mut m = mac(secret);
    m.update(claims.as_bytes());
    m.update(b"\0");
    m.update(&Sha256::digest(cookie.as_bytes()));
    m
}

/// A new sign-in for `app_id`, returning to `redirect` (a path of the
/// host's), from two sets of 32 random bytes (nonce, verifier).
pub fn start(
    secret: &[u8],
    app_id: &str,
    redirect: &str,
    now_ms: u64,
    nonce: &[u8; 32],
    verifier: &[u8; 32],
) -> Started {
    let verifier = code_verifier_from(verifier);
    let cookie = format!("{}.{verifier}", B64.encode(nonce));
    let claims = Claims {
        a: app_id.to_owned(),
        r: redirect.to_owned(),
        e: now_ms.saturating_add(SIGN_IN_WINDOW_MS),
    };
    let claims = B64.encode(serde_json::to_vec(&claims).unwrap_or_default());
    let sig = B64.encode(signature(secret, &claims, &cookie).finalize().into_bytes());
    Started {
        state: format!("{claims}.{sig}"),
        challenge: code_challenge(&verifier),
        cookie,
    }
}

/// The callback's check of `state` against the browser's `cookie`.
pub fn finish(
    secret: &[u8],
    state: &str,
    cookie: Option<&str>,
    now_ms: u64,
) -> Result<Returned, Refused> {
    if state.len() > MAX_LEN || cookie.is_some_and(|c| c.len() > MAX_LEN) {
        return Err(Refused::Malformed);
    }
    let (claims_b64, sig) = state.split_once('.').ok_or(Refused::Malformed)?;
    let sig = B64.decode(sig).map_err(|_| Refused::Malformed)?;
    let claims: Claims = B64
        .decode(claims_b64)
        .ok()
        .and_then(|j| serde_json::from_slice(&j).ok())
        .ok_or(Refused::Malformed)?;
    let cookie = cookie.ok_or(Refused::NotThisBrowser)?;
    // Compared in constant time (`verify_slice`).
    if signature(secret, claims_b64, cookie)
        .verify_slice(&sig)
        .is_err()
    {
        return Err(Refused::NotThisBrowser);
    }
    if claims.e <= now_ms {
        return Err(Refused::Expired);
    }
    let verifier = cookie
        .split_once('.')
        .map(|(_, v)| v)
        .filter(|v| super::is_code_verifier(v))
        .ok_or(Refused::Malformed)?;
    Ok(Returned {
        app_id: claims.a,
        code_verifier: verifier.to_owned(),
        redirect: claims.r,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"a host secret of 32 bytes or so!";
    const T0: u64 = 1_800_000_000_000;

    fn started() -> Started {
        start(KEY, "cli_a", "/", T0, &[1; 32], &[2; 32])
    }

    #[test]
    fn a_sign_in_comes_back_with_its_app_verifier_and_path() {
        let s = started();
        let back = finish(KEY, &s.state, Some(&s.cookie), T0 + 1000).unwrap();
        assert_eq!(
            (back.app_id.as_str(), back.redirect.as_str()),
            ("cli_a", "/")
        );
        assert_eq!(
            code_challenge(&back.code_verifier),
            s.challenge,
            "the verifier matches the challenge sent"
        );
        assert!(
            !s.state.contains(&back.code_verifier),
            "the verifier is not in the URL"
        );
    }

    #[test]
    fn tampered_expired_foreign_and_cookieless_states_are_refused() {
        let s = started();
        assert_eq!(
            finish(KEY, &s.state, Some(&s.cookie), T0 + SIGN_IN_WINDOW_MS),
            Err(Refused::Expired)
        );
        let other = start(KEY, "cli_a", "/", T0, &[9; 32], &[8; 32]);
        assert_eq!(
            finish(KEY, &s.state, Some(&other.cookie), T0),
            Err(Refused::NotThisBrowser),
            "another browser's cookie"
        );
        assert_eq!(
            finish(KEY, &s.state, None, T0),
            Err(Refused::NotThisBrowser)
        );
        let wrong_host = finish(b"another host's secret", &s.state, Some(&s.cookie), T0);
        assert_eq!(wrong_host, Err(Refused::NotThisBrowser));
        // Claims swapped for another app, signature kept.
        let (_, sig) = s.state.split_once('.').unwrap();
        let forged = B64.encode(br#"{"a":"cli_evil","r":"/","e":1900000000000}"#);
        let swapped = finish(KEY, &format!("{forged}.{sig}"), Some(&s.cookie), T0);
        assert_eq!(swapped, Err(Refused::NotThisBrowser));
        for bad in ["", ".", "x.y", &"a".repeat(3000), &format!("{}.", s.state)] {
            assert!(finish(KEY, bad, Some(&s.cookie), T0).is_err(), "{bad}");
        }
        assert!(finish(KEY, &s.state, Some("no-dot"), T0).is_err());
    }
}
