//! Cache keys: the one place that decides which cached token a caller may get.
//!
//! A key binds the tenant *and* the app. The app part is a digest of the
//! caller's `app_access_token`, so a cached token is only handed to a caller
//! presenting the very credential it was fetched with (and the raw token is
//! never used as, or stored in, a key).
//!
//! The Workers KV key built from a [`CacheKey`] is in [`crate::kv`].

use crate::secret::AppAccessToken;
use crate::validate::TenantKey;
use core::fmt;
use sha2::{Digest, Sha256};

/// Separates this digest from any other SHA-256 use of the same token.
const APP_BINDING_DOMAIN: &[u8] = b"feishu-tenant-token/app-binding/v1\0";

const APP_CREDENTIALS_DOMAIN: &[u8] = b"feishu-tenant-token/app-credentials/v1\0";

/// SHA-256 of the domain tag and the `app_access_token`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AppBinding([u8; 32]);

impl AppBinding {
    pub fn of(token: &AppAccessToken) -> Self {
        let mut h = Sha256::new();
        h.update(APP_BINDING_DOMAIN);
        h.update(token.expose_secret().as_bytes());
        Self(h.finalize().into())
    }

    /// An app's own credentials (store-app mode, self-built apps): tokens
    /// cached for one app id and secret are never served to another secret.
    pub fn of_app_credentials(app_id: &str, app_secret: &crate::secret::AppSecret) -> Self {
        let mut h = Sha256::new();
        h.update(APP_CREDENTIALS_DOMAIN);
        h.update(app_id.as_bytes());
        h.update(b"\0");
        h.update(app_secret.expose_secret().as_bytes());
        Self(h.finalize().into())
    }

    pub fn to_hex(&self) -> String {
        hex32(&self.0)
    }
}

/// 32 bytes from 64 hex digits (either case); `None` for anything else.
pub fn parse_hex32(text: &str) -> Option<[u8; 32]> {
    let digits = text.as_bytes();
    if digits.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let hi = char::from(pair[0]).to_digit(16)?;
        let lo = char::from(pair[1]).to_digit(16)?;
        *byte = u8::try_from(hi * 16 + lo).ok()?;
    }
    Some(out)
}

/// 64 lowercase hex digits.
pub fn hex32(bytes: &[u8; 32]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(64);
    for b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    s
}

impl fmt::Debug for AppBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AppBinding({})", self.to_hex())
    }
}

/// The cache key of one (app credential, tenant) pair.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CacheKey {
    pub app: AppBinding,
    pub tenant: TenantKey,
}

impl CacheKey {
    pub fn new(app_access_token: &AppAccessToken, tenant: &TenantKey) -> Self {
        Self {
            app: AppBinding::of(app_access_token),
            tenant: tenant.clone(),
        }
    }
}

impl CacheKey {
    /// The one key of an app's own token (a store app's `app_access_token`, a
    /// self-built app's `tenant_access_token`). The empty tenant cannot
    /// collide with a real `tenant_key`, which is never empty.
    pub fn app_token(app: AppBinding) -> Self {
        Self {
            app,
            tenant: TenantKey::empty(),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {

    #[test]
    fn hex32_round_trips_and_refuses_anything_else() {
        let bytes: [u8; 32] = core::array::from_fn(|i| (i * 37) as u8);
        assert_eq!(super::parse_hex32(&super::hex32(&bytes)), Some(bytes));
        assert_eq!(
            super::parse_hex32(&super::hex32(&bytes).to_uppercase()),
            Some(bytes)
        );
        for bad in [
            "",
            "0",
            &"g".repeat(64),
            &"0".repeat(63),
            &"0".repeat(65),
            &"é".repeat(32),
        ] {
            assert_eq!(super::parse_hex32(bad), None, "{bad:?}");
        }
    }
    use super::*;

    pub(crate) fn key(app: &str, tenant: &str) -> CacheKey {
        CacheKey::new(
            &AppAccessToken::new(app),
            &TenantKey::parse(tenant).unwrap(),
        )
    }

    #[test]
    fn binds_both_app_and_tenant() {
        assert_eq!(key("a-1", "t1"), key("a-1", "t1"));
        assert_ne!(key("a-1", "t1"), key("a-2", "t1"));
        assert_ne!(key("a-1", "t1"), key("a-1", "t2"));
    }

    #[test]
    fn digest_is_stable_across_releases() {
        // Changing this breaks every KV entry already written: bump `v1` instead.
        assert_eq!(
            AppBinding::of(&AppAccessToken::new("a-1")).to_hex(),
            "f7abcdef63663e47512229e15fe26699d3e2d2cdeecd3bab414b94ac58769c2b"
        );
    }
}
