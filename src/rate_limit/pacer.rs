//! One limit key's pacing: when its next call may go, given a known rate
//! (calls spaced evenly), a window Feishu closed (nothing goes before it
//! reopens), and a rate learnt from that closure (Feishu's
//! `x-ogw-ratelimit-limit` when it gives one, else the calls that passed in
//! the second before). Plain state, no clock of its own: the caller passes
//! `now` and does the waiting.

use super::reopens_in_ms;
use std::collections::VecDeque;

/// How many recent successes a pacer remembers to learn a rate from.
const REMEMBERED_SUCCESSES: usize = 64;

/// The span a learnt rate is counted over.
const LEARNING_WINDOW_MS: u64 = 1_000;

#[derive(Clone, Debug, Default)]
pub struct Pacer {
    /// The earliest time the next call may go under the rate in force.
    next_free_ms: u64,
    /// Nothing goes before this (a window Feishu closed).
    closed_until_ms: u64,
    /// Closures in a row without a success between (for the backoff).
    closures: u32,
    /// The spacing learnt from the last closure, if any.
    learnt_interval_ms: Option<u64>,
    /// When the last few calls under a kept key succeeded (oldest first).
    successes: VecDeque<u64>,
}

impl Pacer {
    /// Reserves the next slot for one call arriving at `now_ms` under
    /// `known_interval_ms` (`None`: no known limit): how long it waits. A
    /// route with no known or learnt limit and no closure waits 0 and keeps
    /// nothing but the time of the call.
    pub fn admit(&mut self, now_ms: u64, known_interval_ms: Option<u64>) -> u64 {
        let interval = match (known_interval_ms, self.learnt_interval_ms) {
            (Some(k), Some(l)) => Some(k.max(l)),
            (k, l) => k.or(l),
        };
        let mut slot = now_ms.max(self.closed_until_ms);
        if let Some(iv) = interval {
            slot = slot.max(self.next_free_ms);
            self.next_free_ms = slot.saturating_add(iv);
        }
        slot - now_ms
    }

    /// Feishu refused a call under this key at `now_ms` for its frequency
    /// (`reset` and `limit`: its `x-ogw-ratelimit-reset` and
    /// `x-ogw-ratelimit-limit`): closed until it reopens, then paced at the
    /// limit Feishu stated (per second when it reopens within two, else per
    /// minute), or at what succeeded in the second before. Refusals of calls
    /// that went before it closed share that closure. Returns when it
    /// reopens.
    pub fn close(&mut self, now_ms: u64, reset: Option<&str>, limit: Option<&str>) -> u64 {
        if self.closed_until_ms > now_ms {
            return self.closed_until_ms;
        }
        let wait = reopens_in_ms(reset, self.closures);
        self.closures = self.closures.saturating_add(1);
        let stated = limit
            .and_then(|l| l.trim().parse::<u64>().ok())
            .filter(|&l| l > 0)
            .map(|l| {
                let window = if wait <= 2 * LEARNING_WINDOW_MS {
                    LEARNING_WINDOW_MS
                } else {
                    60 * LEARNING_WINDOW_MS
                };
                window.div_ceil(l)
            });
        let passed = self
            .successes
            .iter()
            .filter(|&&t| t + LEARNING_WINDOW_MS > now_ms)
            .count() as u64;
        let learnt = stated.unwrap_or_else(|| LEARNING_WINDOW_MS.div_ceil(passed.max(1)));
        self.hold(now_ms, wait, Some(learnt))
    }

    /// Holds the key closed for `reopens_in_ms` from `now_ms` and paces it
    /// at least `learnt_interval_ms` apart afterwards: a closure another
    /// pacer saw and learnt from (the cross-isolate object takes each
    /// front's closure this way; `close` ends here too). Returns when it
    /// reopens.
    pub fn hold(
        &mut self,
        now_ms: u64,
        reopens_in_ms: u64,
        learnt_interval_ms: Option<u64>,
    ) -> u64 {
        self.closed_until_ms = self
            .closed_until_ms
            .max(now_ms.saturating_add(reopens_in_ms));
        if let Some(l) = learnt_interval_ms {
            self.learnt_interval_ms = Some(self.learnt_interval_ms.map_or(l, |k| k.max(l)));
        }
        self.next_free_ms = self.next_free_ms.max(self.closed_until_ms);
        self.closed_until_ms
    }

    /// The spacing learnt from Feishu's closures, if any.
    pub fn learnt_interval_ms(&self) -> Option<u64> {
        self.learnt_interval_ms
    }

    /// A call under this key succeeded at `now_ms`: the backoff starts over,
    /// and the success counts towards a rate learnt later.
    pub fn succeeded(&mut self, now_ms: u64) {
        self.closures = 0;
        if self.successes.len() == REMEMBERED_SUCCESSES {
            self.successes.pop_front();
        }
        self.successes.push_back(now_ms);
    }

    /// Whether the key is closed at `now_ms`, and until when.
    pub fn closed_until(&self, now_ms: u64) -> Option<u64> {
        (self.closed_until_ms > now_ms).then_some(self.closed_until_ms)
    }

    /// Whether the pacer holds nothing that matters any more at `now_ms`
    /// (no closure, no learnt rate, no slot reserved ahead): it may be
    /// dropped from its map.
    pub fn idle(&self, now_ms: u64) -> bool {
        self.learnt_interval_ms.is_none()
            && self.closed_until_ms <= now_ms
            && self.next_free_ms <= now_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_route_never_waits() {
        let mut p = Pacer::default();
        for now in 0..100 {
            assert_eq!(p.admit(now, None), 0);
        }
        assert!(p.idle(100));
    }

    #[test]
    fn a_known_rate_spaces_calls_evenly_from_the_first() {
        let mut p = Pacer::default();
        // 5 a second: 200 ms apart; 20 calls at once wait 0, 200, ..., 3800 ms.
        let waits: Vec<u64> = (0..20).map(|_| p.admit(1_000, Some(200))).collect();
        assert_eq!(waits, (0..20).map(|i| i * 200).collect::<Vec<_>>());
        // No window of one second holds more than 5 of them.
        let sends: Vec<u64> = waits.iter().map(|w| 1_000 + w).collect();
        for start in (0..5_000).step_by(50) {
            let n = sends
                .iter()
                .filter(|&&s| s >= 1_000 + start && s < 2_000 + start)
                .count();
            assert!(n <= 5, "{n} in the second from {start}");
        }
        assert!(!p.idle(1_000));
        assert!(p.idle(5_000));
    }

    #[test]
    fn a_closure_holds_every_call_until_it_reopens_then_paces_at_what_passed() {
        let mut p = Pacer::default();
        // Three calls succeed in one second, the fourth is refused with reset 2 s.
        for t in [0, 100, 200] {
            assert_eq!(p.admit(t, None), 0);
            p.succeeded(t + 50);
        }
        assert_eq!(p.close(300, Some("2"), None), 2_300);
        assert_eq!(p.closed_until(1_000), Some(2_300));
        // Calls now wait for the reopening, then go 1000/3 = 334 ms apart.
        assert_eq!(p.admit(400, None), 1_900);
        assert_eq!(p.admit(400, None), 1_900 + 334);
        assert_eq!(p.admit(2_300, None), 2 * 334);
        assert!(p.closed_until(2_300).is_none());
    }

    #[test]
    fn feishus_stated_limit_sets_the_pace_per_second_or_per_minute() {
        let mut p = Pacer::default();
        assert_eq!(p.close(0, Some("1"), Some("5")), 1_000);
        assert_eq!(p.admit(0, None), 1_000);
        assert_eq!(p.admit(0, None), 1_200, "5 a second");
        let mut m = Pacer::default();
        m.close(0, Some("52"), Some("100"));
        assert_eq!(m.admit(0, None), 52_000);
        assert_eq!(m.admit(0, None), 52_600, "100 a minute");
    }

    #[test]
    fn refusals_of_one_burst_share_one_closure() {
        let mut p = Pacer::default();
        assert_eq!(p.close(0, None, None), 1_000);
        for t in [1, 5, 9] {
            assert_eq!(
                p.close(t, None, None),
                1_000,
                "no longer for the same burst"
            );
        }
        assert_eq!(
            p.close(1_000, None, None),
            3_000,
            "the next closure backs off"
        );
    }

    #[test]
    fn a_closure_seen_elsewhere_holds_this_pacer_and_sets_its_pace() {
        let mut front = Pacer::default();
        let reopens = front.close(0, Some("1"), Some("5"));
        let mut object = Pacer::default();
        assert_eq!(
            object.hold(10, reopens - 10, front.learnt_interval_ms()),
            1_000
        );
        assert_eq!(object.admit(10, None), 990);
        assert_eq!(
            object.admit(10, None),
            1_190,
            "paced at what the front learnt"
        );
        // A shorter hold never shortens a closure.
        assert_eq!(object.hold(20, 5, None), 1_000);
        assert!(!object.idle(5_000), "a learnt rate is kept");
    }

    #[test]
    fn closures_in_a_row_back_off_and_a_success_starts_over() {
        let mut p = Pacer::default();
        assert_eq!(p.close(0, None, None), 1_000);
        assert_eq!(p.close(1_000, None, None), 3_000);
        assert_eq!(p.close(3_000, None, None), 7_000);
        p.succeeded(7_000);
        assert_eq!(p.close(7_000, None, None), 8_000);
    }
}
