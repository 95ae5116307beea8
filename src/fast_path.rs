//! The cache hit's fast path in the core, fenced here: a hasher for the
//! clients' maps and a memo of app-token digests. Both are kept for speed,
//! each named by what profiling found (`bench/profile.mjs`), and measured by
//! bench row 1 of `bench/RESULTS.md` ("cache hit", target <= 1 us). The npm
//! crate's side of the fast path is `npm/src/fast_path.rs`.

use crate::cache_key::{AppBinding, CacheKey};
use crate::secret::{AppAccessToken, constant_time_eq};
use crate::validate::TokenRequest;
use core::cell::RefCell;
use core::fmt;

/// The hasher of the clients' maps of [`CacheKey`]s: a multiply-rotate over
/// 8-byte words and a SplitMix64 finish, where std's SipHash-1-3 was 7 % of
/// a Node cache hit (profiled). Flooding a map with colliding keys is not
/// open to callers: the app part is a SHA-256 digest, and an entry outlives
/// its fetch only when Feishu issued a token for that tenant.
#[derive(Clone, Copy, Default)]
pub struct KeyHasher(u64);

/// A 64-bit odd constant with well-spread bits (the golden ratio's).
const MIX: u64 = 0x9e37_79b9_7f4a_7c15;

impl core::hash::Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            let mut w = [0u8; 8];
            w.copy_from_slice(word);
            self.add(u64::from_le_bytes(w));
        }
        // The tail, a byte at a time: a variable-length copy is a call to
        // memcpy in wasm.
        let tail = words.remainder();
        if !tail.is_empty() {
            let w = tail
                .iter()
                .rev()
                .fold(0u64, |w, &b| (w << 8) | u64::from(b));
            self.add(w ^ ((tail.len() as u64) << 56));
        }
    }

    fn write_u8(&mut self, b: u8) {
        self.add(u64::from(b) | 1 << 63);
    }

    fn finish(&self) -> u64 {
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

impl KeyHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(23) ^ word).wrapping_mul(MIX);
    }
}

/// Builds [`KeyHasher`]s (for `HashMap<CacheKey, _, KeyHashing>`).
pub type KeyHashing = core::hash::BuildHasherDefault<KeyHasher>;

/// How many app tokens a [`BindingMemo`] remembers: an app has one current
/// `app_access_token` (two while Feishu rotates it), and a client seldom
/// serves more than a few apps.
const BINDING_MEMO_ENTRIES: usize = 4;

/// The digests of the last few `app_access_token`s a client was given, so a
/// cache hit does not hash the same token again (the SHA-256 was a fifth of a
/// Node cache hit, profiled). Keys still hold only digests: the raw token is
/// held here alone, in its redacted newtype, and matched in constant time.
#[derive(Default)]
pub struct BindingMemo {
    /// Oldest first.
    entries: RefCell<Vec<(AppAccessToken, AppBinding)>>,
}

impl BindingMemo {
    pub fn binding(&self, token: &AppAccessToken) -> AppBinding {
        self.binding_of(token.expose_secret())
    }

    /// As [`Self::binding`], for a token not yet checked or copied (a hit
    /// needs neither: only a checked request's key can be in a cache).
    pub fn binding_of(&self, token: &str) -> AppBinding {
        let mut entries = self.entries.borrow_mut();
        let found = entries
            .iter()
            .find(|(t, _)| constant_time_eq(t.expose_secret().as_bytes(), token.as_bytes()));
        if let Some((_, b)) = found {
            return *b;
        }
        let token = AppAccessToken::new(token);
        let b = AppBinding::of(&token);
        if entries.len() == BINDING_MEMO_ENTRIES {
            entries.remove(0);
        }
        entries.push((token, b));
        b
    }

    /// `request`'s [`CacheKey`], as [`crate::Keyed::cache_key`] would make it.
    pub fn key(&self, request: &TokenRequest) -> CacheKey {
        CacheKey {
            app: self.binding(&request.app_access_token),
            tenant: request.tenant_key.clone(),
        }
    }
}

impl fmt::Debug for BindingMemo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BindingMemo([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache_key::tests::key;

    #[test]
    fn key_hasher_spreads_keys_that_differ_in_one_byte() {
        use core::hash::BuildHasher;
        let h = |app: &str, tenant: &str| KeyHashing::default().hash_one(key(app, tenant));
        let mut seen = std::collections::HashSet::new();
        for i in 0..2000 {
            assert!(
                seen.insert(h("a-1", &format!("tenant{i}"))),
                "collision at {i}"
            );
        }
        assert_ne!(h("a-1", "t1"), h("a-2", "t1"));
        // The low bits pick the bucket: they must differ too.
        let low: std::collections::HashSet<u64> = (0..256)
            .map(|i| h("a-1", &format!("t{i}")) & 0xfff)
            .collect();
        assert!(low.len() > 200, "{} distinct of 256", low.len());
    }

    #[test]
    fn memo_gives_the_same_key_as_hashing_and_forgets_the_oldest() {
        let memo = BindingMemo::default();
        let req = |app: &str| TokenRequest::parse(Some(app), Some("t1")).unwrap();
        for round in 0..2 {
            for i in 0..=BINDING_MEMO_ENTRIES {
                let r = req(&format!("a-{i}"));
                assert_eq!(
                    memo.key(&r),
                    crate::Keyed::cache_key(&r),
                    "round {round}, a-{i}"
                );
            }
        }
        assert_eq!(memo.entries.borrow().len(), BINDING_MEMO_ENTRIES);
        // A token differing in its last byte from a remembered one is its own key.
        assert_ne!(memo.key(&req("a-1")), memo.key(&req("a-2")));
        assert!(!format!("{memo:?}").contains("a-1"));
    }
}
