//! An app's calls in one calendar month (UTC+8, where Feishu's monthly
//! quota counts): in all, and per tenant, agent key, user and API (its
//! route with ids replaced), each with the calls whose limits were
//! absorbed (they waited) and those refused (an answer of 400 or more).
//! The same shape is an isolate's batch and the month's record at its
//! object, which adds batches up. Pure, so tested natively.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Most names kept per dimension (tenants, keys, users, APIs) in a month's
/// record: past it, calls count under [`OTHER`]. Bounds the record (one
/// Durable Object storage value holds at most 128 KiB:
/// <https://developers.cloudflare.com/durable-objects/platform/limits/>).
pub const MAX_NAMES: usize = 400;
/// Where calls past [`MAX_NAMES`] count.
pub const OTHER: &str = "(other)";
/// The quota's log lines, in percent.
pub const WARN_AT: [u8; 2] = [80, 95];

/// Calls and how they went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub calls: u64,
    /// Waited for Feishu's frequency limits, then went.
    #[serde(default)]
    pub absorbed: u64,
    /// Answered 400 or more (Feishu's or the Worker's refusal).
    #[serde(default)]
    pub refused: u64,
    /// The last call, ms since the epoch.
    #[serde(default)]
    pub last_ms: u64,
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        self.calls += other.calls;
        self.absorbed += other.absorbed;
        self.refused += other.refused;
        self.last_ms = self.last_ms.max(other.last_ms);
    }
}

/// One call, as counted.
pub struct Call<'a> {
    pub tenant: Option<&'a str>,
    pub key: Option<&'a str>,
    pub user: Option<&'a str>,
    /// `METHOD /open-apis/...` with ids replaced (`rate_limit::route::route_of`).
    pub api: &'a str,
    pub status: u16,
    pub waited: bool,
    pub at_ms: u64,
}

/// One app's month.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub month: String,
    pub total: Counts,
    #[serde(default)]
    pub tenants: BTreeMap<String, Counts>,
    #[serde(default)]
    pub keys: BTreeMap<String, Counts>,
    #[serde(default)]
    pub users: BTreeMap<String, Counts>,
    #[serde(default)]
    pub apis: BTreeMap<String, Counts>,
    /// The highest quota line logged this month (0, 80, 95).
    #[serde(default)]
    pub warned: u8,
}

fn add_to(map: &mut BTreeMap<String, Counts>, name: &str, counts: &Counts) {
    if let Some(c) = map.get_mut(name) {
        c.add(counts);
        return;
    }
    let name = if map.len() >= MAX_NAMES { OTHER } else { name };
    map.entry(name.to_owned()).or_default().add(counts);
}

impl Usage {
    pub fn new(month: String) -> Self {
        Self {
            month,
            ..Self::default()
        }
    }

    /// Counts one call.
    pub fn count(&mut self, call: &Call<'_>) {
        let one = Counts {
            calls: 1,
            absorbed: u64::from(call.waited && call.status < 400),
            refused: u64::from(call.status >= 400),
            last_ms: call.at_ms,
        };
        self.total.add(&one);
        for (map, name) in [
            (&mut self.tenants, call.tenant),
            (&mut self.keys, call.key),
            (&mut self.users, call.user),
            (&mut self.apis, Some(call.api)),
        ] {
            if let Some(name) = name {
                add_to(map, name, &one);
            }
        }
    }

    /// A user seen without a call (signed in).
    pub fn seen(&mut self, user: &str, at_ms: u64) {
        add_to(
            &mut self.users,
            user,
            &Counts {
                last_ms: at_ms,
                ..Counts::default()
            },
        );
    }

    /// Adds `batch` (an isolate's counts of the same month); a batch of
    /// another month starts the record over (the month turned).
    pub fn add(&mut self, batch: &Usage) {
        if batch.month != self.month {
            if batch.month < self.month {
                return;
            }
            *self = Usage::new(batch.month.clone());
        }
        self.total.add(&batch.total);
        for (mine, theirs) in [
            (&mut self.tenants, &batch.tenants),
            (&mut self.keys, &batch.keys),
            (&mut self.users, &batch.users),
            (&mut self.apis, &batch.apis),
        ] {
            for (name, counts) in theirs {
                add_to(mine, name, counts);
            }
        }
    }

    /// The quota line (80 or 95 %) this month's calls crossed and that was
    /// not logged yet (then remembered).
    pub fn quota_line(&mut self, quota: u64) -> Option<u8> {
        let line = WARN_AT
            .iter()
            .rev()
            .find(|&&pct| reached(self.total.calls, quota, pct))
            .copied()?;
        (line > self.warned).then(|| {
            self.warned = line;
            line
        })
    }
}

/// Whether `calls` reached `pct` % of `quota`.
pub fn reached(calls: u64, quota: u64, pct: u8) -> bool {
    u128::from(calls) * 100 >= u128::from(quota) * u128::from(pct)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call<'a>(key: Option<&'a str>, status: u16, waited: bool) -> Call<'a> {
        Call {
            tenant: Some("t1"),
            key,
            user: None,
            api: "GET /open-apis/im/v1/chats",
            status,
            waited,
            at_ms: 5,
        }
    }

    #[test]
    fn each_call_counts_in_all_and_in_each_of_its_names() {
        let mut u = Usage::new("2026-12".into());
        u.count(&call(Some("bot"), 200, false));
        u.count(&call(Some("bot"), 200, true));
        u.count(&call(None, 429, true));
        assert_eq!(
            u.total,
            Counts {
                calls: 3,
                absorbed: 1,
                refused: 1,
                last_ms: 5
            }
        );
        assert_eq!(u.keys["bot"].calls, 2);
        assert_eq!(u.tenants["t1"].calls, 3);
        assert_eq!(u.apis["GET /open-apis/im/v1/chats"].refused, 1);
        assert!(u.users.is_empty());
    }

    #[test]
    fn batches_add_up_and_a_new_month_starts_over() {
        let mut record = Usage::new("2026-11".into());
        let mut batch = Usage::new("2026-11".into());
        batch.count(&call(Some("bot"), 200, false));
        record.add(&batch);
        record.add(&batch);
        assert_eq!(record.keys["bot"].calls, 2);
        let mut december = Usage::new("2026-12".into());
        december.count(&call(Some("bot"), 200, false));
        record.add(&december);
        assert_eq!(record.month, "2026-12");
        assert_eq!(record.total.calls, 1);
        record.add(&batch);
        assert_eq!(
            record.total.calls, 1,
            "a late batch of the month before is not added"
        );
    }

    #[test]
    fn names_past_the_bound_count_under_other() {
        let mut u = Usage::new("2026-12".into());
        for i in 0..MAX_NAMES + 5 {
            let user = format!("ou_{i}");
            u.count(&Call {
                user: Some(&user),
                ..call(None, 200, false)
            });
        }
        assert_eq!(u.users.len(), MAX_NAMES + 1);
        assert_eq!(u.users[OTHER].calls, 5);
        assert_eq!(u.total.calls, (MAX_NAMES + 5) as u64);
    }

    #[test]
    fn quota_lines_are_logged_once_each() {
        let mut u = Usage::new("2026-12".into());
        u.total.calls = 79;
        assert_eq!(u.quota_line(100), None);
        u.total.calls = 80;
        assert_eq!(u.quota_line(100), Some(80));
        assert_eq!(u.quota_line(100), None);
        u.total.calls = 99;
        assert_eq!(u.quota_line(100), Some(95));
        assert_eq!(u.quota_line(100), None);
        assert!(reached(90, 100, 90) && !reached(89, 100, 90));
        assert!(reached(u64::MAX, u64::MAX, 100), "no overflow");
    }
}
