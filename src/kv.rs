//! How tokens are kept in Workers KV: the key format, the stored value and
//! its expiration TTL. Pure functions; the Worker does the I/O.
//!
//! Key: `tat:v1:<app binding>:<tenant_key>`, `<app binding>` being 64 lowercase
//! hex digits of [`AppBinding`](crate::cache_key::AppBinding) (never the raw
//! `app_access_token`). Value: `{"v":1,"tenant_access_token":"t-…","expires_at_ms":…}`.

use crate::cache_key::CacheKey;
use crate::freshness::{Freshness, TokenGrant};
use crate::secret::AccessToken;
use crate::validate::MAX_TOKEN_BYTES;
use serde::{Deserialize, Serialize};

/// Workers KV refuses an `expiration_ttl` below 60 seconds (Cloudflare,
/// "Write key-value pairs", Expiring keys:
/// <https://developers.cloudflare.com/kv/api/write-key-value-pairs/#expiring-keys>).
pub const KV_MIN_EXPIRATION_TTL_SECS: u64 = 60;

/// Workers KV accepts about one write per second to the same key and answers
/// 429 beyond that (Cloudflare, "Limits", Workers KV:
/// <https://developers.cloudflare.com/kv/platform/limits/>). The Worker writes a key only after an
/// upstream fetch, which single-flight makes rare, and ignores a failed write.
pub const KV_MAX_WRITES_PER_KEY_PER_SEC: u64 = 1;

const VALUE_VERSION: i64 = 1;

pub fn kv_key(key: &CacheKey) -> String {
    format!("tat:v1:{}:{}", key.app.to_hex(), key.tenant)
}

// Store-app (managed) mode: the Worker holds one app's credentials, so its
// entries are keyed by app_id. The values are the same token value format
// (the member is called `tenant_access_token` for app tokens too).

/// A managed app's tenant token: `tat:v1:<app_id>:<tenant_key>`.
pub fn managed_tenant_key(app_id: &str, tenant_key: &str) -> String {
    format!("tat:v1:{app_id}:{tenant_key}")
}

/// A self-built app's token, as the Worker's gateway caches it for any caller
/// presenting the app's id and secret: `tat:v1:internal:<app_id>:<digest>`
/// (tenant token) or `aat:v1:internal:<app_id>:<digest>` (app token), the
/// digest being 64 hex digits of the id and secret's binding (never the secret).
pub fn internal_token_key(app_token: bool, app_id: &str, binding_hex: &str) -> String {
    let kind = if app_token { "aat" } else { "tat" };
    format!("{kind}:v1:internal:{app_id}:{binding_hex}")
}

/// A store app's `app_access_token` as the gateway caches it for callers
/// presenting the app's id, secret and a ticket (the ticket is not part of
/// the key): `aat:v1:store:<app_id>:<digest>`.
pub fn store_app_token_key(app_id: &str, binding_hex: &str) -> String {
    format!("aat:v1:store:{app_id}:{binding_hex}")
}

/// Separates the reverse index's digest from any other SHA-256 of a token.
const TOKEN_REF_DOMAIN: &[u8] = b"feishu-tenant-token/token-ref/v1\0";

/// The reverse-index entry of `token`: `ref:v2:<SHA-256 of the token>`,
/// whose value names the KV keys the token is stored under, one per line.
/// One entry per token, so that a token the Worker never handed out costs
/// one read to rule out (no list, no write, no delete).
pub fn token_ref_key(token: &AccessToken) -> String {
    format!("ref:v2:{}", crate::cache_key::hex32(&token_digest(token)))
}

/// A token's SHA-256 (domain-separated): how the Worker names a token it
/// handed out, in KV's reverse index and in its isolates' memory, without
/// keeping or comparing the token itself.
pub fn token_digest(token: &AccessToken) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(TOKEN_REF_DOMAIN);
    h.update(token.expose_secret().as_bytes());
    h.finalize().into()
}

/// A Feishu token lives at most 2 hours (Feishu, "tenant_access_token",
/// lifetime rule; `expire` is at most 7200): a client holds one no longer.
pub const MAX_TOKEN_LIFE_SECS: u64 = 7200;

/// The reverse-index entry's TTL: until the token's own expiry (never less
/// than KV's minimum), since a client may hold the token that long after the
/// Worker stopped serving it, and a refusal of it must still find its key.
pub fn ref_ttl_secs(grant: &TokenGrant, now_ms: u64) -> u64 {
    let left = grant.expires_at_ms.saturating_sub(now_ms) / 1000;
    left.clamp(KV_MIN_EXPIRATION_TTL_SECS, MAX_TOKEN_LIFE_SECS)
}

/// Most keys one reverse-index entry names (a token is stored under one key,
/// a few when several app tokens or both self-built kinds led to it).
pub const MAX_REF_KEYS: usize = 8;

/// The token keys a reverse-index entry's value names (anything else in it,
/// damaged or forged, is ignored).
pub fn ref_keys(value: &str) -> impl Iterator<Item = &str> {
    value.lines().filter(|k| is_token_key(k)).take(MAX_REF_KEYS)
}

/// The entry's new value once it names `key` too, and the token's own
/// expiry `until_ms` (a line `until:<ms>`: a refusal of the token after
/// it is never replaced); `None` when it already says both (nothing to
/// write).
pub fn ref_value_with(value: Option<&str>, key: &str, until_ms: u64) -> Option<String> {
    let old = value.unwrap_or_default();
    if ref_keys(old).any(|k| k == key) && ref_until(old) == Some(until_ms) {
        return None;
    }
    let kept = ref_keys(old).filter(|k| *k != key).take(MAX_REF_KEYS - 1);
    let until = format!("{REF_UNTIL}{until_ms}");
    let lines: Vec<&str> = kept.chain([key, until.as_str()]).collect();
    Some(lines.join("\n"))
}

const REF_UNTIL: &str = "until:";

/// The token's own expiry, as its reverse-index entry states it (`None`
/// for an entry written before it did, or damaged: such a token is not
/// replaced, since nobody can tell it had not expired).
pub fn ref_until(value: &str) -> Option<u64> {
    value
        .lines()
        .find_map(|l| l.strip_prefix(REF_UNTIL))
        .and_then(|ms| ms.parse().ok())
}

/// Whether a token key (as a reverse-index entry names it) is of the Lark
/// brand (`LARK_KEY_PREFIX`): a refusal under one brand never evicts nor
/// replaces a token of the other.
pub fn is_lark_key(key: &str) -> bool {
    key.starts_with(LARK_KEY_PREFIX)
}

/// Whether a key (as a reverse-index entry names it) is one this crate
/// writes tokens under: a damaged or forged index entry must not make the
/// gateway delete anything else, such as a ticket.
pub fn is_token_key(key: &str) -> bool {
    let key = key.strip_prefix(LARK_KEY_PREFIX).unwrap_or(key);
    key.starts_with("tat:v1:") || key.starts_with("aat:v1:")
}

/// Before every key of the Lark brand (a Worker serving Feishu and Lark
/// keeps their tokens apart: the same app id may exist on both).
pub const LARK_KEY_PREFIX: &str = "lark:";

/// A managed app's `app_access_token`: `aat:v1:<app_id>`.
pub fn app_token_key(app_id: &str) -> String {
    format!("aat:v1:{app_id}")
}

/// A managed app's latest `app_ticket` (the bare ticket text): `ticket:v1:<app_id>`.
pub fn ticket_key(app_id: &str) -> String {
    format!("ticket:v1:{app_id}")
}

/// Present while a resend request is recent (TTL = [`KV_MIN_EXPIRATION_TTL_SECS`],
/// which is also the once-a-minute resend limit): `resend:v1:<app_id>`.
pub fn resend_marker_key(app_id: &str) -> String {
    format!("resend:v1:{app_id}")
}

/// The stored value; the member is called `tenant_access_token` for app
/// tokens too. A value of another version, or damaged, reads as absent.
#[derive(Serialize, Deserialize)]
struct StoredGrant<'a> {
    v: i64,
    #[serde(borrow)]
    tenant_access_token: std::borrow::Cow<'a, str>,
    expires_at_ms: u64,
}

pub fn encode_value(grant: &TokenGrant) -> String {
    crate::wire::json_body(&StoredGrant {
        v: VALUE_VERSION,
        tenant_access_token: grant.token.expose_secret().into(),
        expires_at_ms: grant.expires_at_ms,
    })
}

/// The grant in a stored value, or `None` for anything unexpected (another
/// version, a damaged entry): the caller then treats the key as absent.
pub fn decode_value(text: &str) -> Option<TokenGrant> {
    let v: StoredGrant<'_> = serde_json::from_str(text).ok()?;
    let token = v.tenant_access_token;
    if v.v != VALUE_VERSION
        || token.is_empty()
        || token.len() > MAX_TOKEN_BYTES
        || !token.bytes().all(|b| b.is_ascii_graphic())
    {
        return None;
    }
    Some(TokenGrant {
        token: AccessToken::new(token.into_owned()),
        expires_at_ms: v.expires_at_ms,
    })
}

/// The `expiration_ttl` for storing `grant` at `now_ms`: until the freshness
/// rule stops serving it, but never below KV's minimum. `None` if it is not
/// servable now (do not store it). An entry may thus outlive its usefulness by
/// up to a minute; every read checks freshness again, so that is harmless.
pub fn expiration_ttl(grant: &TokenGrant, now_ms: u64, freshness: Freshness) -> Option<u64> {
    if !freshness.is_servable(grant, now_ms) {
        return None;
    }
    let servable_ms = grant
        .expires_at_ms
        .saturating_sub(now_ms)
        .saturating_sub(freshness.min_validity_secs() * 1000);
    Some((servable_ms / 1000).max(KV_MIN_EXPIRATION_TTL_SECS))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::AppAccessToken;
    use crate::validate::TenantKey;

    const NOW: u64 = 1_700_000_000_000;

    fn grant(expires_in_secs: u64) -> TokenGrant {
        TokenGrant::new(AccessToken::new("t-abc"), NOW, expires_in_secs)
    }

    #[test]
    fn key_has_the_documented_shape_and_no_raw_token() {
        let key = CacheKey::new(
            &AppAccessToken::new("a-32bd8551db2f081cbfd26293f27516390b9feb04"),
            &TenantKey::parse("73658811060f175d").unwrap(),
        );
        let k = kv_key(&key);
        let parts: Vec<&str> = k.split(':').collect();
        assert_eq!(parts.len(), 4, "{k}");
        assert_eq!(&parts[..2], ["tat", "v1"]);
        assert_eq!(parts[2], key.app.to_hex());
        assert_eq!(parts[2].len(), 64);
        assert_eq!(parts[3], "73658811060f175d");
        assert!(!k.contains("32bd8551"));
    }

    #[test]
    fn values_round_trip_and_junk_is_absent() {
        let g = grant(7200);
        let text = encode_value(&g);
        assert_eq!(
            text,
            format!(
                r#"{{"v":1,"tenant_access_token":"t-abc","expires_at_ms":{}}}"#,
                NOW + 7_200_000
            )
        );
        assert_eq!(decode_value(&text), Some(g));
        for junk in [
            "",
            "t-abc",
            "{}",
            r#"{"v":2,"tenant_access_token":"t-abc","expires_at_ms":1}"#,
            r#"{"v":1,"tenant_access_token":"","expires_at_ms":1}"#,
            r#"{"v":1,"tenant_access_token":"t a","expires_at_ms":1}"#,
            r#"{"v":1,"tenant_access_token":"t-abc","expires_at_ms":-1}"#,
            r#"{"v":1,"tenant_access_token":"t-abc"}"#,
        ] {
            assert_eq!(decode_value(junk), None, "{junk}");
        }
    }

    #[test]
    fn the_reverse_index_names_a_digest_never_the_token() {
        let t = AccessToken::new("t-caecc734c2e3328a62489fe0648c4b98779515d3");
        let r = token_ref_key(&t);
        assert!(r.starts_with("ref:v2:"), "{r}");
        assert_eq!(r.len(), "ref:v2:".len() + 64);
        assert!(!r.contains("caecc734"));
        assert_ne!(r, token_ref_key(&AccessToken::new("t-other")));
        let one = ref_value_with(None, "tat:v1:x:t1", 5_000).unwrap();
        assert_eq!(
            ref_value_with(Some(&one), "tat:v1:x:t1", 5_000),
            None,
            "named once"
        );
        let two = ref_value_with(Some(&one), "aat:v1:x", 5_000).unwrap();
        assert_eq!(
            ref_keys(&two).collect::<Vec<_>>(),
            ["tat:v1:x:t1", "aat:v1:x"]
        );
        assert_eq!(ref_until(&two), Some(5_000), "the token's own expiry");
        assert_eq!(ref_until("tat:v1:x:t1"), None, "an older entry says none");
        assert!(is_lark_key("lark:tat:v1:x:t1") && !is_lark_key("tat:v1:x:t1"));
        assert_eq!(
            ref_keys("ticket:v1:x\ntat:v1:y").collect::<Vec<_>>(),
            ["tat:v1:y"]
        );
        let mut full = None;
        for i in 0..20 {
            full = ref_value_with(full.as_deref(), &format!("tat:v1:k{i}"), 1).or(full);
        }
        assert_eq!(
            ref_keys(full.as_deref().unwrap()).count(),
            MAX_REF_KEYS,
            "bounded"
        );
        assert!(is_token_key("tat:v1:cli_a:t1") && is_token_key("aat:v1:internal:cli_a:x"));
        assert!(!is_token_key("ticket:v1:cli_a") && !is_token_key("resend:v1:cli_a"));
    }

    #[test]
    fn ttl_lasts_while_servable_and_respects_the_kv_minimum() {
        let f = Freshness::default();
        assert_eq!(expiration_ttl(&grant(7200), NOW, f), Some(5400));
        assert_eq!(expiration_ttl(&grant(1830), NOW, f), Some(60));
        assert_eq!(expiration_ttl(&grant(1800), NOW, f), Some(60));
        assert_eq!(expiration_ttl(&grant(1799), NOW, f), None);
        assert_eq!(
            expiration_ttl(&grant(120), NOW, Freshness::new(0)),
            Some(120)
        );
    }
}
