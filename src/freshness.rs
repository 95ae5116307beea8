//! The freshness rule: when a cached token may still be handed out.
//!
//! Feishu returns the *same* tenant token while it has 30 minutes or more left,
//! and a new one below that (Feishu, "Store apps get tenant_access_token":
//! <https://open.feishu.cn/document/server-docs/authentication-management/access-token/tenant_access_token>). So a token fresh
//! from Feishu always has at least ~30 minutes left. A cache gives callers the
//! same guarantee only if it stops serving a token once fewer than
//! `min_validity` seconds remain; the default is that 30-minute window.

use crate::secret::AccessToken;

/// Feishu's rotation window: 30 minutes.
pub const DEFAULT_MIN_VALIDITY_SECS: u64 = 30 * 60;

/// Longest `min_validity` accepted: a token lives at most two hours, so a
/// larger value would only disable caching in a roundabout way.
pub const MAX_MIN_VALIDITY_SECS: u64 = 2 * 60 * 60;

/// Stale-if-error: when a fetch fails, a cached token that is past the
/// freshness window may still be served while it has more than this left,
/// rather than failing the caller. Never an expired token.
pub const STALE_MIN_SECS: u64 = 60;

/// Wall-clock time in milliseconds since the Unix epoch. Injected so the rule
/// can be tested without waiting.
pub trait Clock {
    fn now_ms(&self) -> u64;
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now_ms(&self) -> u64 {
        (**self).now_ms()
    }
}

impl<C: Clock + ?Sized> Clock for std::rc::Rc<C> {
    fn now_ms(&self) -> u64 {
        (**self).now_ms()
    }
}

/// The host's clock, for native callers.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0)
    }
}

/// A token and the instant it stops working.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenGrant {
    pub token: AccessToken,
    /// Epoch milliseconds.
    pub expires_at_ms: u64,
}

impl TokenGrant {
    /// `expire` is measured from when the request was *sent*, not received:
    /// that errs on the side of an earlier expiry.
    pub fn new(token: AccessToken, sent_at_ms: u64, expire_secs: u64) -> Self {
        Self {
            token,
            expires_at_ms: sent_at_ms.saturating_add(expire_secs.saturating_mul(1000)),
        }
    }

    /// Whole seconds left at `now_ms` (rounded down, so never overstated).
    pub fn remaining_secs(&self, now_ms: u64) -> u64 {
        self.expires_at_ms.saturating_sub(now_ms) / 1000
    }
}

/// The rule itself, for one `min_validity`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Freshness {
    min_validity_ms: u64,
}

impl Freshness {
    pub fn new(min_validity_secs: u64) -> Self {
        Self {
            min_validity_ms: min_validity_secs.saturating_mul(1000),
        }
    }

    pub fn min_validity_secs(&self) -> u64 {
        self.min_validity_ms / 1000
    }

    /// May `grant` be served (or kept for serving) at `now_ms`?
    pub fn is_servable(&self, grant: &TokenGrant, now_ms: u64) -> bool {
        grant.expires_at_ms.saturating_sub(now_ms) >= self.min_validity_ms
            && grant.expires_at_ms > now_ms
    }
}

impl Freshness {
    /// May `grant` be served at `now_ms` because a fetch just failed?
    pub fn is_stale_servable(&self, grant: &TokenGrant, now_ms: u64) -> bool {
        grant.expires_at_ms.saturating_sub(now_ms) > STALE_MIN_SECS * 1000
    }
}

impl Default for Freshness {
    fn default() -> Self {
        Self::new(DEFAULT_MIN_VALIDITY_SECS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_700_000_000_000;

    fn grant(expire_secs: u64) -> TokenGrant {
        TokenGrant::new(AccessToken::new("t-x"), T0, expire_secs)
    }

    #[test]
    fn expiry_counts_from_the_send_time() {
        let g = grant(7140);
        assert_eq!(g.expires_at_ms, T0 + 7_140_000);
        assert_eq!(g.remaining_secs(T0 + 1_500), 7138);
        assert_eq!(g.remaining_secs(T0 + 9_000_000), 0);
    }

    #[test]
    fn served_while_at_least_min_validity_remains() {
        let f = Freshness::default();
        let g = grant(7200);
        // 7200 - 1800 = 5400 s after sending, exactly 30 min remain: still served.
        assert!(f.is_servable(&g, T0));
        assert!(f.is_servable(&g, T0 + 5_400_000));
        assert!(!f.is_servable(&g, T0 + 5_400_001));
        assert!(!f.is_servable(&g, T0 + 7_200_000));
    }

    #[test]
    fn a_token_arriving_inside_the_window_is_not_servable() {
        let f = Freshness::default();
        assert!(!f.is_servable(&grant(1799), T0));
        assert!(f.is_servable(&grant(1800), T0));
    }

    #[test]
    fn stale_tokens_need_more_than_a_minute_left() {
        let f = Freshness::default();
        let g = grant(7200);
        assert!(f.is_stale_servable(&g, T0 + 7_139_999));
        assert!(!f.is_stale_servable(&g, T0 + 7_140_000));
        assert!(!f.is_stale_servable(&g, T0 + 7_200_000));
    }

    #[test]
    fn zero_min_validity_still_never_serves_an_expired_token() {
        let f = Freshness::new(0);
        let g = grant(10);
        assert!(f.is_servable(&g, T0 + 9_999));
        assert!(!f.is_servable(&g, T0 + 10_000));
    }
}
