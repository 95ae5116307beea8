//! When to try an upstream call again: one policy for the npm module and the
//! Worker. A pure function of the error, the retries so far, the time spent
//! and a random number, so every branch is tested without waiting.

use crate::error::{Error, ErrorCode};

/// Retries at most `max_retries` times: network errors, timeouts and HTTP 5xx
/// after an exponential backoff with full jitter; a rate limit after the
/// seconds Feishu asked for. A wait is taken only if it ends within
/// `deadline_ms` of the first attempt. API errors (10003, 99991664...) and
/// malformed answers are never retried: trying again cannot change them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_retries: u32,
    pub base_delay_ms: u64,
    pub max_delay_ms: u64,
    pub deadline_ms: u64,
}

/// Default number of retries after the first attempt.
pub const DEFAULT_MAX_RETRIES: u32 = 2;
/// Most retries a caller may ask for.
pub const MAX_MAX_RETRIES: u32 = 5;
/// Default overall deadline for waits between attempts.
pub const DEFAULT_DEADLINE_MS: u64 = 20_000;

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: DEFAULT_MAX_RETRIES,
            base_delay_ms: 100,
            max_delay_ms: 2_000,
            deadline_ms: DEFAULT_DEADLINE_MS,
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        Self {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// After `error`, with `retries` already made and `elapsed_ms` since the
    /// first attempt: how long to wait before the next attempt, or `None` to
    /// give up. `unit` is a random number in `[0, 1)`.
    pub fn next_delay(
        &self,
        error: &Error,
        retries: u32,
        elapsed_ms: u64,
        unit: f64,
    ) -> Option<u64> {
        if retries >= self.max_retries {
            return None;
        }
        let wait = match error.code() {
            // Without a reset time there is nothing sound to wait for: fail fast.
            ErrorCode::RateLimited => error.retry_after_secs()?.saturating_mul(1000),
            ErrorCode::NetworkError | ErrorCode::Timeout => self.backoff(retries, unit),
            ErrorCode::HttpError if error.http_status().is_some_and(|s| s >= 500) => {
                self.backoff(retries, unit)
            }
            _ => return None,
        };
        (elapsed_ms.saturating_add(wait) <= self.deadline_ms).then_some(wait)
    }

    /// Full jitter: uniform in `[0, min(max, base * 2^retries))`.
    fn backoff(&self, retries: u32, unit: f64) -> u64 {
        let cap = self
            .base_delay_ms
            .saturating_mul(1u64 << retries.min(20))
            .min(self.max_delay_ms);
        (unit.clamp(0.0, 1.0) * cap as f64) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> RetryPolicy {
        RetryPolicy::default()
    }

    #[test]
    fn transient_failures_back_off_exponentially_with_full_jitter() {
        let net = Error::network("reset");
        assert_eq!(p().next_delay(&net, 0, 0, 0.0), Some(0));
        assert_eq!(p().next_delay(&net, 0, 0, 0.5), Some(50));
        assert_eq!(p().next_delay(&net, 1, 0, 0.5), Some(100));
        assert_eq!(p().next_delay(&net, 1, 0, 0.999), Some(199));
        let big = RetryPolicy {
            max_retries: 10,
            ..p()
        };
        assert_eq!(
            big.next_delay(&net, 9, 0, 0.999),
            Some(1998),
            "capped at max_delay"
        );
        assert_eq!(p().next_delay(&Error::timeout(10), 0, 0, 0.5), Some(50));
        assert_eq!(
            p().next_delay(&Error::http(503, String::new()), 0, 0, 0.5),
            Some(50)
        );
    }

    #[test]
    fn at_most_max_retries() {
        let net = Error::network("reset");
        assert!(p().next_delay(&net, 1, 0, 0.5).is_some());
        assert_eq!(p().next_delay(&net, 2, 0, 0.5), None);
        assert_eq!(RetryPolicy::none().next_delay(&net, 0, 0, 0.5), None);
    }

    #[test]
    fn never_waits_past_the_deadline() {
        let net = Error::network("reset");
        assert_eq!(p().next_delay(&net, 0, 19_950, 0.5), Some(50));
        assert_eq!(p().next_delay(&net, 0, 19_951, 0.5), None);
    }

    #[test]
    fn rate_limits_wait_the_reset_time_if_it_fits_else_fail_fast() {
        let limited = |s| Error::rate_limited(429, None, s);
        assert_eq!(p().next_delay(&limited(Some(3)), 0, 0, 0.9), Some(3000));
        assert_eq!(
            p().next_delay(&limited(Some(3)), 0, 17_000, 0.9),
            Some(3000)
        );
        assert_eq!(p().next_delay(&limited(Some(3)), 0, 17_001, 0.9), None);
        assert_eq!(p().next_delay(&limited(Some(60)), 0, 0, 0.9), None);
        assert_eq!(p().next_delay(&limited(None), 0, 0, 0.9), None);
    }

    #[test]
    fn api_errors_and_bad_answers_are_never_retried() {
        for e in [
            Error::feishu_api(10003, "invalid param".into(), 400),
            Error::feishu_api(99991664, "invalid app token".into(), 400),
            Error::http(404, String::new()),
            Error::invalid_response("not JSON", 200, String::new()),
            Error::invalid_input("empty"),
        ] {
            assert_eq!(p().next_delay(&e, 0, 0, 0.5), None, "{e}");
        }
    }
}
