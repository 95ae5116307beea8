//! Gateway tokens: what an agent key gets in place of a Feishu token. The
//! token names the key, the app, the tenant (store apps), its kind and brand
//! and its expiry, signed with HMAC-SHA256 under a key derived from the app's
//! secret and the agent key's digest: checkable in any isolate, after any
//! restart, with nothing stored; worthless to Feishu and anywhere but this
//! Worker; dead once the key's entry leaves `AGENT_KEYS` (its digest is part
//! of the signing key) or the app's secret changes.
//!
//! `g1.<claims: base64url JSON>.<HMAC: base64url>`

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

pub const PREFIX: &str = "g1.";
/// Longer bearer values are not gateway tokens (nothing is decoded).
pub const MAX_GATEWAY_TOKEN_BYTES: usize = 1024;
/// Separates this use of the app's secret from any other.
const DOMAIN: &[u8] = b"feishu-tenant-token/gateway-token/v1\0";

/// Which Feishu token a gateway token stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    #[serde(rename = "t")]
    Tenant,
    #[serde(rename = "a")]
    App,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    /// The agent key's `id`.
    #[serde(rename = "k")]
    pub key_id: String,
    #[serde(rename = "a")]
    pub app_id: String,
    /// A store app's tenant (tenant tokens only).
    #[serde(rename = "t", default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    #[serde(rename = "x")]
    pub kind: Kind,
    /// Minted under `/lark` (valid only there).
    #[serde(rename = "l", default, skip_serializing_if = "core::ops::Not::not")]
    pub lark: bool,
    #[serde(rename = "e")]
    pub expires_at_ms: u64,
    /// The key's SHA-256 (base64url): which key of that id signed, so a
    /// rotated key's former one is told from the new, and a key this isolate
    /// has not yet heard of (made at run time elsewhere) is checked before
    /// the registry is asked. Absent from tokens minted before it existed.
    #[serde(rename = "d", default, skip_serializing_if = "Option::is_none")]
    pub key_digest: Option<String>,
}

/// The key digest a token's claims state, decoded.
pub fn stated_digest(claims: &Claims) -> Option<[u8; 32]> {
    let d = B64.decode(claims.key_digest.as_deref()?).ok()?;
    d.try_into().ok()
}

/// How a key's digest is stated in the claims.
pub fn digest_claim(digest: &[u8; 32]) -> String {
    B64.encode(digest)
}

type HmacSha256 = Hmac<Sha256>;

fn signer(app_secret: &str, key_digest: &[u8; 32]) -> HmacSha256 {
    let mut derive = <HmacSha256 as Mac>::new_from_slice(app_secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    derive.update(DOMAIN);
    derive.update(key_digest);
    let key = derive.finalize().into_bytes();
    <HmacSha256 as Mac>::new_from_slice(&key)
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"))
}

/// A signed gateway token for `claims`.
pub fn mint(claims: &Claims, app_secret: &str, key_digest: &[u8; 32]) -> String {
    let json = serde_json::to_vec(claims).unwrap_or_default();
    let signed = format!("{PREFIX}{}", B64.encode(json));
    let mut mac = signer(app_secret, key_digest);
    mac.update(signed.as_bytes());
    format!("{signed}.{}", B64.encode(mac.finalize().into_bytes()))
}

/// Whether a bearer value is shaped as a gateway token (never sent on to
/// Feishu: it is either ours or nobody's).
pub fn is_gateway_token(bearer: &str) -> bool {
    bearer.starts_with(PREFIX)
}

/// The claims a gateway token states, unchecked: they name the key and app
/// whose secret checks the signature (`verify`). `None` for anything not
/// shaped as one.
pub fn claims(token: &str) -> Option<Claims> {
    if token.len() > MAX_GATEWAY_TOKEN_BYTES {
        return None;
    }
    let (signed, _) = token.rsplit_once('.')?;
    let json = B64.decode(signed.strip_prefix(PREFIX)?).ok()?;
    serde_json::from_slice(&json).ok()
}

/// Whether `token`'s signature is the one `app_secret` and the key's digest
/// give (compared in constant time).
pub fn verify(token: &str, app_secret: &str, key_digest: &[u8; 32]) -> bool {
    let Some((signed, sig)) = token.rsplit_once('.') else {
        return false;
    };
    let Ok(sig) = B64.decode(sig) else {
        return false;
    };
    let mut mac = signer(app_secret, key_digest);
    mac.update(signed.as_bytes());
    mac.verify_slice(&sig).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims_for(tenant: Option<&str>) -> Claims {
        Claims {
            key_id: "bot".into(),
            app_id: "cli_a".into(),
            tenant: tenant.map(str::to_owned),
            kind: Kind::Tenant,
            lark: false,
            expires_at_ms: 1_800_000_000_000,
            key_digest: Some(digest_claim(&[1; 32])),
        }
    }

    #[test]
    fn a_minted_token_verifies_only_with_its_secret_and_key() {
        let c = claims_for(Some("t1"));
        let token = mint(&c, "secret", &[1; 32]);
        assert!(is_gateway_token(&token));
        assert_eq!(claims(&token), Some(c));
        assert!(verify(&token, "secret", &[1; 32]));
        assert!(
            !verify(&token, "other secret", &[1; 32]),
            "the app's secret changed"
        );
        assert!(
            !verify(&token, "secret", &[2; 32]),
            "the key's entry changed"
        );
        assert!(!token.contains("secret"));
    }

    #[test]
    fn a_changed_claim_or_signature_fails() {
        let token = mint(&claims_for(Some("t1")), "secret", &[1; 32]);
        let (_, sig) = token.rsplit_once('.').unwrap();
        let other = mint(&claims_for(Some("t2")), "secret", &[1; 32]);
        let (other_signed, _) = other.rsplit_once('.').unwrap();
        assert!(
            !verify(&format!("{other_signed}.{sig}"), "secret", &[1; 32]),
            "claims swapped"
        );
        for bad in [
            "",
            "g1.",
            "g1..",
            "g1.e30.",
            "g1.!!.x",
            &token[..token.len() - 2],
            &"g1.".repeat(400),
        ] {
            assert!(!verify(bad, "secret", &[1; 32]), "{bad}");
        }
        assert_eq!(claims("g1.e30.x"), None, "{{}} lacks every claim");
        assert_eq!(
            claims(&format!(
                "g1.{}.x",
                B64.encode(br#"{"k":"b","a":"c","x":"t","e":1,"z":1}"#)
            )),
            None,
            "unknown claim"
        );
    }
}
