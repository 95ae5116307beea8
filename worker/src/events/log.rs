//! Each app's event log, as its object keeps it (`objects::event_log`):
//! events numbered in the order received, kept 72 hours; each handler's
//! place in them, retried with backoff while it fails, for up to 72 hours
//! from the event's arrival, then a dead letter. Pure, so tested natively.

use serde::{Deserialize, Serialize};

/// How long events are kept, and retried to a handler that is down.
pub const KEEP_MS: u64 = 72 * 3600 * 1000;
/// The first retry's wait, doubled each time up to [`MAX_BACKOFF_MS`].
const FIRST_BACKOFF_MS: u64 = 1000;
pub const MAX_BACKOFF_MS: u64 = 10 * 60 * 1000;

/// An event as kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kept {
    pub seq: u64,
    pub at_ms: u64,
    pub event_id: String,
    pub event_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    pub plaintext: String,
}

/// A handler's place: the next event to hand it, and its failures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Place {
    pub next_seq: u64,
    pub attempts: u32,
    pub next_try_ms: u64,
}

/// A dead letter: an event a handler never took within its retries, kept
/// (its copy under `dead:<handler>:<seq>`) until listed and replayed, or
/// for [`DEAD_KEPT_MS`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dead {
    pub handler: usize,
    pub seq: u64,
    pub event_id: String,
    pub event_type: String,
    pub died_ms: u64,
}

/// How long dead letters are kept, and how many at most (the oldest go).
pub const DEAD_KEPT_MS: u64 = 7 * 24 * 3600 * 1000;
pub const MAX_DEAD: usize = 1000;

/// The log's numbers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    /// Whose log: the app and its brand (`feishu`, `lark`), told by the
    /// first event (an object does not know its own name).
    #[serde(default)]
    pub app_id: String,
    #[serde(default)]
    pub brand: String,
    /// The next event's number (events are 1, 2, ...).
    pub next_seq: u64,
    /// The oldest event still kept.
    pub first_seq: u64,
    /// Each handler's place, by its index in `EVENT_SUBSCRIBERS`.
    pub places: Vec<Place>,
    /// Dead letters, oldest first.
    #[serde(default)]
    pub dead: Vec<Dead>,
}

/// What became of a failed push.
#[derive(Debug, PartialEq, Eq)]
pub enum Failed {
    /// Tried again at this time.
    Retry(u64),
    /// Past [`KEEP_MS`] since it arrived: a dead letter; the handler moves on.
    Dead,
}

impl Meta {
    /// A new log (its first event will be 1).
    pub fn new() -> Self {
        Self {
            next_seq: 1,
            first_seq: 1,
            ..Self::default()
        }
    }

    /// The place of handler `i` (a new handler starts at the next event).
    pub fn place(&mut self, i: usize) -> &mut Place {
        while self.places.len() <= i {
            let next = self.next_seq;
            self.places.push(Place {
                next_seq: next,
                ..Place::default()
            });
        }
        &mut self.places[i]
    }

    /// Adds a dead letter; those past [`DEAD_KEPT_MS`] or [`MAX_DEAD`] are
    /// dropped and returned (their copies to delete).
    pub fn bury(&mut self, dead: Dead, now_ms: u64) -> Vec<Dead> {
        self.dead.push(dead);
        let mut gone: Vec<Dead> = Vec::new();
        self.dead.retain(|d| {
            let keep = now_ms.saturating_sub(d.died_ms) < DEAD_KEPT_MS;
            if !keep {
                gone.push(d.clone());
            }
            keep
        });
        let over = self.dead.len().saturating_sub(MAX_DEAD);
        gone.extend(self.dead.drain(..over));
        gone
    }

    /// Numbers a new event.
    pub fn take_seq(&mut self) -> u64 {
        let seq = self.next_seq.max(1);
        self.next_seq = seq + 1;
        seq
    }

    /// Whether handler `i` has an event waiting whose time has come.
    pub fn due(&self, i: usize, now_ms: u64) -> bool {
        self.places
            .get(i)
            .is_some_and(|p| p.next_seq < self.next_seq && p.next_try_ms <= now_ms)
    }

    /// When the next push is due, over the first `handlers`.
    pub fn next_due(&self, handlers: usize) -> Option<u64> {
        self.places
            .iter()
            .take(handlers)
            .filter(|p| p.next_seq < self.next_seq)
            .map(|p| p.next_try_ms)
            .min()
    }

    /// The oldest event every one of `handlers` is past (may be dropped once old).
    pub fn delivered_below(&self, handlers: usize) -> u64 {
        self.places
            .iter()
            .take(handlers)
            .map(|p| p.next_seq)
            .min()
            .unwrap_or(self.next_seq)
    }
}

impl Place {
    /// Handed on: the next one.
    pub fn delivered(&mut self) {
        self.next_seq += 1;
        self.attempts = 0;
        self.next_try_ms = 0;
    }

    /// The push of an event that arrived at `arrived_ms` failed at `now_ms`;
    /// it is tried for `retry_ms` from its arrival (`EVENT_RETRY_SECS`, at
    /// most [`KEEP_MS`]).
    pub fn failed(&mut self, arrived_ms: u64, now_ms: u64, retry_ms: u64) -> Failed {
        if now_ms.saturating_sub(arrived_ms) >= retry_ms.min(KEEP_MS) {
            self.delivered();
            return Failed::Dead;
        }
        self.attempts += 1;
        let wait = FIRST_BACKOFF_MS
            .saturating_mul(1 << self.attempts.saturating_sub(1).min(20))
            .min(MAX_BACKOFF_MS);
        self.next_try_ms = now_ms + wait;
        Failed::Retry(self.next_try_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handler_down_is_retried_with_backoff_then_given_a_dead_letter() {
        let mut m = Meta::new();
        assert_eq!(m.take_seq(), 1);
        let p = m.place(0);
        assert_eq!(
            p.next_seq, 2,
            "a handler added later starts at the next event"
        );
        let mut m = Meta::new();
        m.place(0);
        m.take_seq();
        assert!(m.due(0, 0));
        let waits: Vec<u64> = (0..12)
            .map(|_| match m.place(0).failed(0, 0, KEEP_MS) {
                Failed::Retry(at) => at,
                Failed::Dead => panic!(),
            })
            .collect();
        assert_eq!(&waits[..4], &[1000, 2000, 4000, 8000]);
        assert_eq!(*waits.last().unwrap(), MAX_BACKOFF_MS);
        assert!(!m.due(0, 1000));
        assert_eq!(m.next_due(1), Some(MAX_BACKOFF_MS));
        assert_eq!(m.place(0).failed(0, KEEP_MS, KEEP_MS), Failed::Dead);
        assert_eq!(
            Meta::new().place(0).failed(0, 5, 5),
            Failed::Dead,
            "a shorter EVENT_RETRY_SECS"
        );
        assert_eq!(m.places[0].next_seq, 2, "moved on");
        assert_eq!(m.next_due(1), None);
    }

    #[test]
    fn dead_letters_are_bounded_in_time_and_count() {
        let mut m = Meta::new();
        let dead = |seq, died_ms| Dead {
            handler: 0,
            seq,
            event_id: format!("e{seq}"),
            event_type: "t".into(),
            died_ms,
        };
        assert!(m.bury(dead(1, 0), 0).is_empty());
        let gone = m.bury(dead(2, DEAD_KEPT_MS), DEAD_KEPT_MS);
        assert_eq!(
            gone.iter().map(|d| d.seq).collect::<Vec<_>>(),
            [1],
            "a week old"
        );
        for seq in 3..3 + MAX_DEAD as u64 {
            m.bury(dead(seq, DEAD_KEPT_MS), DEAD_KEPT_MS);
        }
        assert_eq!(m.dead.len(), MAX_DEAD);
        assert_eq!(m.dead[0].seq, 3, "the oldest went");
    }

    #[test]
    fn events_stay_until_every_handler_is_past_them() {
        let mut m = Meta::new();
        m.place(0);
        m.place(1);
        for _ in 0..3 {
            m.take_seq();
        }
        m.place(0).delivered();
        m.place(0).delivered();
        m.place(1).delivered();
        assert_eq!(m.delivered_below(2), 2);
        assert_eq!(m.delivered_below(1), 3);
        assert_eq!(Meta::new().delivered_below(0), 1);
    }
}
