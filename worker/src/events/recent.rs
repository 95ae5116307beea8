//! The marks an event log recorded or found lately, held in its object's
//! memory, so a retry Feishu sends seconds or minutes after the first push
//! is known without a storage read. Storage stays the record: a mark not
//! held here is looked up there. Two generations bound the memory: when
//! the newer fills, the older is let go (the marks seen least lately).
//! Pure, so tested natively.

use std::collections::HashSet;

/// Marks per generation: two generations of 20,000 are about 3 MB of an
/// isolate's 128 MB, some minutes of events at 500 a second.
pub const MARKS_PER_GENERATION: usize = 20_000;

/// Recently seen marks (`id:<event_id>`, `msg:<message_id>`).
#[derive(Debug, Default)]
pub struct Recent {
    newer: HashSet<String>,
    older: HashSet<String>,
    per_generation: usize,
}

impl Recent {
    pub fn new(per_generation: usize) -> Self {
        Self {
            per_generation,
            ..Self::default()
        }
    }

    /// Whether `mark` was held lately.
    pub fn holds(&self, mark: &str) -> bool {
        self.newer.contains(mark) || self.older.contains(mark)
    }

    /// Holds `mark`; the older generation goes when the newer is full.
    pub fn hold(&mut self, mark: String) {
        if self.newer.len() >= self.per_generation {
            self.older = core::mem::take(&mut self.newer);
        }
        self.newer.insert(mark);
    }

    /// Lets `mark` go (its event was dropped from the log).
    pub fn forget(&mut self, mark: &str) {
        self.newer.remove(mark);
        self.older.remove(mark);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_are_held_until_two_generations_have_filled_or_forgotten() {
        let mut recent = Recent::new(2);
        recent.hold("id:a".into());
        recent.hold("id:b".into());
        assert!(recent.holds("id:a") && recent.holds("id:b"));
        // The newer generation full: it becomes the older; a and b still held.
        recent.hold("id:c".into());
        assert!(recent.holds("id:a") && recent.holds("id:c"));
        recent.hold("id:d".into());
        // Full again: a and b (the older) go, c and d stay.
        recent.hold("id:e".into());
        assert!(!recent.holds("id:a") && !recent.holds("id:b"));
        assert!(recent.holds("id:c") && recent.holds("id:d") && recent.holds("id:e"));
        recent.forget("id:c");
        recent.forget("id:e");
        assert!(!recent.holds("id:c") && !recent.holds("id:e") && recent.holds("id:d"));
    }
}
