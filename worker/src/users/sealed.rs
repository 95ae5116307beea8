//! A user's grant as it rests in their object's storage: sealed with
//! AES-256-GCM under a key derived from `USER_TOKEN_KEY`, bound (as
//! associated data) to the brand, app and user it belongs to, so a sealed
//! grant copied to another user's storage does not open. Pure, so it is
//! tested natively; the 12-byte nonce comes from the host's CSPRNG.

use crate::config::users::DerivedKey;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use feishu_tenant_token::AccessToken;
use feishu_tenant_token::user_token::{RefreshToken, UserGrant};
use serde::{Deserialize, Serialize};

/// Bumped if the sealed layout changes: an old grant then no longer opens
/// and its user signs in again.
const AAD_PREFIX: &str = "feishu-tenant-token/user-grant/v1";

/// The grant's fields, short-named, as sealed.
#[derive(Serialize, Deserialize)]
struct Plain {
    a: String,
    e: u64,
    #[serde(default)]
    r: Option<String>,
    #[serde(default)]
    x: Option<u64>,
    #[serde(default)]
    s: String,
}

/// What a stored grant belongs to: the associated data.
pub fn binding(brand: &str, app_id: &str, user: &str) -> String {
    format!("{AAD_PREFIX}\0{brand}\0{app_id}\0{user}")
}

/// base64(nonce ‖ ciphertext ‖ tag).
pub fn seal(key: &DerivedKey, binding: &str, grant: &UserGrant, nonce: [u8; 12]) -> String {
    let plain = Plain {
        a: grant.access_token.expose_secret().to_owned(),
        e: grant.expires_at_ms,
        r: grant
            .refresh_token
            .as_ref()
            .map(|r| r.expose_secret().to_owned()),
        x: grant.refresh_expires_at_ms,
        s: grant.scope.clone(),
    };
    let json = serde_json::to_vec(&plain).unwrap_or_default();
    let cipher = Aes256Gcm::new(key.bytes().into());
    let payload = Payload {
        msg: &json,
        aad: binding.as_bytes(),
    };
    // Encryption fails only past GCM's 64 GiB message limit.
    let sealed = cipher
        .encrypt(Nonce::from_slice(&nonce), payload)
        .unwrap_or_default();
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    B64.encode(out)
}

/// The grant `seal` sealed for `binding`; `None` when it does not open
/// (another key, another user's, altered).
pub fn open(key: &DerivedKey, binding: &str, text: &str) -> Option<UserGrant> {
    let bytes = B64.decode(text).ok()?;
    if bytes.len() < 12 + 16 {
        return None;
    }
    let (nonce, sealed) = bytes.split_at(12);
    let cipher = Aes256Gcm::new(key.bytes().into());
    let payload = Payload {
        msg: sealed,
        aad: binding.as_bytes(),
    };
    let json = cipher.decrypt(Nonce::from_slice(nonce), payload).ok()?;
    let p: Plain = serde_json::from_slice(&json).ok()?;
    Some(UserGrant {
        access_token: AccessToken::new(p.a),
        expires_at_ms: p.e,
        refresh_token: p.r.map(RefreshToken::new),
        refresh_expires_at_ms: p.x,
        scope: p.s,
        // The object is its users' only refresher: it claims nothing.
        claim: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::users::parse_users;

    fn keys(hex: &str) -> DerivedKey {
        let get = |n: &str| (n == "USER_TOKEN_KEY").then(|| hex.to_owned());
        parse_users(&get).unwrap().unwrap().seal_key
    }

    fn grant() -> UserGrant {
        UserGrant {
            access_token: AccessToken::new("u-secret-access"),
            expires_at_ms: 7,
            refresh_token: Some(RefreshToken::new("ur-secret-refresh")),
            refresh_expires_at_ms: Some(9),
            scope: "offline_access".into(),
            claim: None,
        }
    }

    #[test]
    fn a_sealed_grant_opens_only_for_its_user_under_its_key() {
        let key = keys(&"ab".repeat(32));
        let alice = binding("feishu", "cli_a", "ou_alice");
        let text = seal(&key, &alice, &grant(), [3; 12]);
        assert!(!text.contains("secret") && !text.contains("u-") && !text.contains("ur-"));
        let back = open(&key, &alice, &text).unwrap();
        assert_eq!(back.access_token.expose_secret(), "u-secret-access");
        assert_eq!(
            back.refresh_token.unwrap().expose_secret(),
            "ur-secret-refresh"
        );
        assert_eq!(
            (back.expires_at_ms, back.refresh_expires_at_ms),
            (7, Some(9))
        );
        let bob = binding("feishu", "cli_a", "ou_bob");
        assert!(open(&key, &bob, &text).is_none(), "another user's storage");
        let lark = binding("lark", "cli_a", "ou_alice");
        assert!(open(&key, &lark, &text).is_none(), "another brand");
        assert!(
            open(&keys(&"cd".repeat(32)), &alice, &text).is_none(),
            "another key"
        );
        let mut altered = B64.decode(&text).unwrap();
        altered[20] ^= 1;
        assert!(
            open(&key, &alice, &B64.encode(altered)).is_none(),
            "altered"
        );
        for junk in ["", "AAAA", "not base64!"] {
            assert!(open(&key, &alice, junk).is_none());
        }
    }

    #[test]
    fn two_seals_of_one_grant_differ_by_their_nonce() {
        let key = keys(&"ab".repeat(32));
        let b = binding("feishu", "cli_a", "ou_alice");
        assert_ne!(
            seal(&key, &b, &grant(), [1; 12]),
            seal(&key, &b, &grant(), [2; 12])
        );
    }
}
