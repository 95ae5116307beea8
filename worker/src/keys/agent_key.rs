//! Agent keys made at run time (the admin API): `ftt_ak_` and 43 base64url
//! characters, 24 random bytes then an 8-byte tag, HMAC-SHA256 of the app's
//! id and the random bytes under a key derived from the app's secret. Only
//! the key's SHA-256 is kept (the key registry's object); the tag lets an
//! isolate that has not yet heard of a new key tell it from a guess before
//! asking the registry, so a made-up key never costs an object question.

use crate::config::agent_keys::AGENT_KEY_PREFIX;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Separates this use of the app's secret from any other.
const DOMAIN: &[u8] = b"feishu-tenant-token/agent-key-tag/v1\0";
const RANDOM_BYTES: usize = 24;
const TAG_BYTES: usize = 8;

fn tag(app_id: &str, app_secret: &str, random: &[u8]) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(app_secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    mac.update(DOMAIN);
    mac.update(app_id.as_bytes());
    mac.update(&[0]);
    mac.update(random);
    mac
}

/// A new key for `app_id` from `random` (the host's CSPRNG).
pub fn mint(app_id: &str, app_secret: &str, random: [u8; RANDOM_BYTES]) -> String {
    let sum = tag(app_id, app_secret, &random).finalize().into_bytes();
    let mut bytes = random.to_vec();
    bytes.extend_from_slice(&sum[..TAG_BYTES]);
    format!("{AGENT_KEY_PREFIX}{}", B64.encode(bytes))
}

/// Whether `key` was minted by this Worker for `app_id` (its tag checks,
/// in constant time). Says nothing of whether the key is still live.
pub fn tagged(key: &str, app_id: &str, app_secret: &str) -> bool {
    let Some(body) = key.strip_prefix(AGENT_KEY_PREFIX) else {
        return false;
    };
    let Ok(bytes) = B64.decode(body) else {
        return false;
    };
    if bytes.len() != RANDOM_BYTES + TAG_BYTES {
        return false;
    }
    let (random, given) = bytes.split_at(RANDOM_BYTES);
    tag(app_id, app_secret, random)
        .verify_truncated_left(given)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minted_key_is_tagged_for_its_app_only() {
        let key = mint("cli_a", "secret", [7; RANDOM_BYTES]);
        assert!(key.starts_with(AGENT_KEY_PREFIX));
        assert_eq!(key.len(), AGENT_KEY_PREFIX.len() + 43);
        assert!(tagged(&key, "cli_a", "secret"));
        assert!(!tagged(&key, "cli_b", "secret"), "another app");
        assert!(!tagged(&key, "cli_a", "other"), "the app's secret changed");
        let other = mint("cli_a", "secret", [8; RANDOM_BYTES]);
        assert_ne!(key, other);
        // A static key (32 random bytes from scripts/agent-key.mjs), a
        // changed character, garbage: not tagged.
        let flipped = format!("{}A", &key[..key.len() - 1]);
        let flipped = if flipped == key {
            format!("{}B", &key[..key.len() - 1])
        } else {
            flipped
        };
        for bad in [
            flipped.as_str(),
            "ftt_ak_0123456789012345678901234567890123456789012",
            "ftt_ak_",
            "ftt_ak_!!",
            "",
        ] {
            assert!(!tagged(bad, "cli_a", "secret"), "{bad}");
        }
    }
}
