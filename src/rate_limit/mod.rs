//! Feishu's frequency limits, as plain functions and state with no I/O:
//! which answers say a limit was met and how long until it reopens
//! ([`limit_of`], [`reopens_in_ms`]), what a call's limit key is (its route
//! with ids replaced: [`route::route_of`]), the limits known before Feishu
//! refuses ([`rules::RateLimits`]), and the pacing of calls under one key
//! ([`pacer::Pacer`]). Whoever meets the limits (the gateway, #35) holds
//! the state and does the waiting; the rules are here, tested natively.
//! Facts: Feishu's "频控策略 / Rate limits" page,
//! https://open.feishu.cn/document/server-docs/api-call-guide/frequency-control,
//! and `../shared/feishu-limits.md`.

pub mod pacer;
pub mod route;
pub mod rules;

/// "request trigger frequency limit": HTTP 429 (HTTP 400 on older APIs).
pub const FREQUENCY_LIMITED: i64 = 99991400;
/// The message service's tenant-level limit (HTTP 400).
pub const MESSAGE_SERVICE_LIMITED: i64 = 11232;
/// Too many messages to one chat, or updates to one message (HTTP 400).
pub const TARGET_LIMITED: i64 = 230020;

/// The header in which Feishu says how many seconds until the window reopens.
pub const RESET_HEADER: &str = "x-ogw-ratelimit-reset";
/// The header in which Feishu states the window's limit.
pub const LIMIT_HEADER: &str = "x-ogw-ratelimit-limit";

/// Without Feishu's reset: the first wait, and the longest.
pub const BACKOFF_FIRST_MS: u64 = 1_000;
pub const BACKOFF_MAX_MS: u64 = 10_000;

/// A reset Feishu states is believed up to this (its windows are a second
/// or a minute): a larger one is read as this, never as a reason to hold a
/// caller for hours.
pub const MAX_RESET_SECS: u64 = 60;

/// Updates to one message or card are paced at this (5 a second): the rate
/// reported for 230020, "too many updates to one message" (about 5 a second
/// per message in public reports, not stated by a page we could read;
/// see https://open.feishu.cn/document/server-docs/im-v1/message-card/patch
/// for the API). Cautious: a message updated faster than this would be
/// coalesced anyway.
pub const UPDATES_PER_TARGET_INTERVAL_MS: u64 = 200;

/// What a limit answer closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The API for the app and tenant (or user): its route.
    Route,
    /// One chat or message (230020): the call's own target.
    Target,
}

/// Whether an answer says a frequency limit was met, and what it closed:
/// HTTP 429 (whatever the code), or HTTP 400 with 99991400, 11232 or
/// 230020. Anything else is not a limit (99991403, the monthly quota, is
/// not: waiting seconds does not reopen it).
pub fn limit_of(status: u16, code: Option<i64>) -> Option<Scope> {
    match (status, code) {
        (_, Some(TARGET_LIMITED)) if status >= 400 => Some(Scope::Target),
        (429, Some(99991403)) => None,
        (429, _) => Some(Scope::Route),
        (400, Some(FREQUENCY_LIMITED | MESSAGE_SERVICE_LIMITED)) => Some(Scope::Route),
        _ => None,
    }
}

/// How long a closed key stays closed: Feishu's `x-ogw-ratelimit-reset`
/// (whole seconds, 1 to [`MAX_RESET_SECS`]) when it gives one, else an
/// exponential backoff from [`BACKOFF_FIRST_MS`] doubling with each
/// closure in a row (`closures`, 0 for the first) up to [`BACKOFF_MAX_MS`].
pub fn reopens_in_ms(reset: Option<&str>, closures: u32) -> u64 {
    if let Some(secs) = reset.and_then(|r| r.trim().parse::<u64>().ok()) {
        return secs.clamp(1, MAX_RESET_SECS) * 1000;
    }
    BACKOFF_FIRST_MS
        .saturating_mul(1u64 << closures.min(10))
        .min(BACKOFF_MAX_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_answers_are_429_and_the_three_codes_on_400() {
        assert_eq!(limit_of(429, Some(FREQUENCY_LIMITED)), Some(Scope::Route));
        assert_eq!(
            limit_of(429, None),
            Some(Scope::Route),
            "a 429 without JSON"
        );
        assert_eq!(limit_of(400, Some(FREQUENCY_LIMITED)), Some(Scope::Route));
        assert_eq!(
            limit_of(400, Some(MESSAGE_SERVICE_LIMITED)),
            Some(Scope::Route)
        );
        assert_eq!(limit_of(400, Some(TARGET_LIMITED)), Some(Scope::Target));
        assert_eq!(limit_of(429, Some(TARGET_LIMITED)), Some(Scope::Target));
        for (status, code) in [
            (400, Some(99991663)),
            (400, None),
            (429, Some(99991403)),
            (200, Some(FREQUENCY_LIMITED)),
            (200, Some(TARGET_LIMITED)),
            (500, Some(MESSAGE_SERVICE_LIMITED)),
        ] {
            assert_eq!(limit_of(status, code), None, "{status} {code:?}");
        }
    }

    #[test]
    fn the_reset_is_feishus_when_given_else_a_doubling_backoff_to_ten_seconds() {
        assert_eq!(reopens_in_ms(Some("2"), 0), 2_000);
        assert_eq!(reopens_in_ms(Some(" 52 "), 3), 52_000);
        assert_eq!(reopens_in_ms(Some("0"), 0), 1_000, "at least a second");
        assert_eq!(reopens_in_ms(Some("86400"), 0), 60_000, "at most a minute");
        let backoff: Vec<u64> = (0..6).map(|n| reopens_in_ms(None, n)).collect();
        assert_eq!(backoff, [1_000, 2_000, 4_000, 8_000, 10_000, 10_000]);
        assert_eq!(reopens_in_ms(Some("soon"), 1), 2_000, "an unreadable reset");
        assert_eq!(reopens_in_ms(None, u32::MAX), 10_000);
    }
}
