//! An agent key's own limits (`AGENT_KEYS` entry `limits`: `per_minute`,
//! `per_day`, `per_month`) and how its calls are counted against them:
//! exactly, in fixed windows (a minute in UTC; a day and a calendar month
//! in Feishu's time zone, UTC+8, where its monthly call quota counts). The
//! key's one object keeps the ledger (`objects::key_ledger`), so that every
//! isolate's calls count once and none passes over a limit. Pure, so
//! tested natively.

/// Feishu's time zone (China Standard Time, UTC+8): its monthly quota
/// counts calendar months there.
const FEISHU_UTC_OFFSET_SECS: i32 = 8 * 60 * 60;

/// The largest limit an entry may set (a month of 30 calls a second).
pub const MAX_LIMIT: u32 = 100_000_000;

/// A key's limits; at least one is set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyLimits {
    pub per_minute: Option<u32>,
    pub per_day: Option<u32>,
    pub per_month: Option<u32>,
}

/// One of a key's windows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Window {
    Minute,
    Day,
    Month,
}

impl Window {
    const ALL: [Window; 3] = [Window::Minute, Window::Day, Window::Month];

    /// Its name in `limits` and in a refusal.
    pub fn name(self) -> &'static str {
        match self {
            Window::Minute => "per_minute",
            Window::Day => "per_day",
            Window::Month => "per_month",
        }
    }

    /// `[start, end)` in ms of the window holding `now_ms`.
    pub fn bounds(self, now_ms: u64) -> (u64, u64) {
        const MINUTE: u64 = 60_000;
        const DAY: u64 = 24 * 60 * MINUTE;
        let offset = FEISHU_UTC_OFFSET_SECS as u64 * 1000;
        match self {
            Window::Minute => {
                let start = now_ms - now_ms % MINUTE;
                (start, start + MINUTE)
            }
            Window::Day => {
                let local = now_ms + offset;
                let start = local - local % DAY - offset;
                (start, start + DAY)
            }
            Window::Month => month_bounds(now_ms),
        }
    }
}

/// The calendar month in UTC+8 holding `now_ms`, as `YYYY-MM` (how usage
/// names its months).
pub fn month_name(now_ms: u64) -> String {
    use time::{OffsetDateTime, UtcOffset};
    let zone = UtcOffset::from_whole_seconds(FEISHU_UTC_OFFSET_SECS).unwrap_or(UtcOffset::UTC);
    match OffsetDateTime::from_unix_timestamp((now_ms / 1000) as i64) {
        Ok(t) => {
            let local = t.to_offset(zone);
            format!("{:04}-{:02}", local.year(), local.month() as u8)
        }
        Err(_) => "0000-00".to_owned(),
    }
}

/// The calendar month in UTC+8 holding `now_ms`, in ms since the epoch.
fn month_bounds(now_ms: u64) -> (u64, u64) {
    use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};
    let zone = UtcOffset::from_whole_seconds(FEISHU_UTC_OFFSET_SECS).unwrap_or(UtcOffset::UTC);
    let at = |date: Date| -> u64 {
        let t = PrimitiveDateTime::new(date, Time::MIDNIGHT).assume_offset(zone);
        u64::try_from(t.unix_timestamp()).unwrap_or(0) * 1000
    };
    let Ok(now) = OffsetDateTime::from_unix_timestamp((now_ms / 1000) as i64) else {
        return (0, u64::MAX);
    };
    let local = now.to_offset(zone);
    let (year, month) = (local.year(), local.month());
    let (next_year, next_month) = match month {
        Month::December => (year + 1, Month::January),
        m => (year, m.next()),
    };
    match (
        Date::from_calendar_date(year, month, 1),
        Date::from_calendar_date(next_year, next_month, 1),
    ) {
        (Ok(start), Ok(end)) => (at(start), at(end)),
        _ => (0, u64::MAX),
    }
}

impl KeyLimits {
    fn max(&self, window: Window) -> Option<u32> {
        match window {
            Window::Minute => self.per_minute,
            Window::Day => self.per_day,
            Window::Month => self.per_month,
        }
    }

    /// The limits as the key's object is told them: `<per_minute>
    /// <per_day> <per_month>`, `-` for one not set.
    pub fn line(&self) -> String {
        let one = |v: Option<u32>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
        format!(
            "{} {} {}",
            one(self.per_minute),
            one(self.per_day),
            one(self.per_month)
        )
    }

    /// [`KeyLimits::line`] read back; `None` for anything else.
    pub fn parse_line(line: &str) -> Option<Self> {
        let mut parts = line.trim().split(' ').map(|p| match p {
            "-" => Some(None),
            p => p
                .parse::<u32>()
                .ok()
                .filter(|&v| v > 0 && v <= MAX_LIMIT)
                .map(Some),
        });
        let limits = Self {
            per_minute: parts.next()??,
            per_day: parts.next()??,
            per_month: parts.next()??,
        };
        parts.next().is_none().then_some(limits)
    }
}

/// A call over one of the key's limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limited {
    pub window: Window,
    pub max: u32,
    /// When the window reopens (ms since the epoch).
    pub resets_at_ms: u64,
}

/// A key's calls counted in each window: `(window start, calls)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ledger {
    counts: [(u64, u32); 3],
}

impl Ledger {
    /// One call at `now_ms`: counted in every window when none is full;
    /// else refused, counted nowhere (so a refused call never uses up the
    /// next one's room).
    pub fn admit(&mut self, limits: &KeyLimits, now_ms: u64) -> Result<(), Limited> {
        for (i, window) in Window::ALL.into_iter().enumerate() {
            let (start, end) = window.bounds(now_ms);
            if self.counts[i].0 != start {
                self.counts[i] = (start, 0);
            }
            if let Some(max) = limits.max(window)
                && self.counts[i].1 >= max
            {
                return Err(Limited {
                    window,
                    max,
                    resets_at_ms: end,
                });
            }
        }
        for count in &mut self.counts {
            count.1 = count.1.saturating_add(1);
        }
        Ok(())
    }

    /// The calls counted in `window` at `now_ms` (the tests' view; usage
    /// reports will read it).
    #[cfg(test)]
    pub fn used(&self, window: Window, now_ms: u64) -> u32 {
        let i = Window::ALL.iter().position(|w| *w == window).unwrap_or(0);
        let (start, calls) = self.counts[i];
        if start == window.bounds(now_ms).0 {
            calls
        } else {
            0
        }
    }

    /// As the object stores it: six numbers.
    pub fn text(&self) -> String {
        self.counts
            .iter()
            .map(|(s, c)| format!("{s} {c}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// [`Ledger::text`] read back; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        let n: Vec<u64> = text
            .split(' ')
            .map(|p| p.parse().ok())
            .collect::<Option<_>>()?;
        let count = |i: usize| -> Option<(u64, u32)> {
            Some((*n.get(2 * i)?, u32::try_from(*n.get(2 * i + 1)?).ok()?))
        };
        (n.len() == 6).then_some(())?;
        Some(Self {
            counts: [count(0)?, count(1)?, count(2)?],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-12-07T10:00:30Z = 2026-12-07T18:00:30+08:00
    const NOW: u64 = 1_796_637_630_000;

    #[test]
    fn windows_are_a_utc_minute_and_a_day_and_month_in_utc_plus_8() {
        assert_eq!(Window::Minute.bounds(NOW), (NOW - 30_000, NOW + 30_000));
        // The day began at 2026-12-07T00:00+08:00 = 2026-12-06T16:00Z.
        let (day_start, day_end) = Window::Day.bounds(NOW);
        assert_eq!(day_start, 1_796_572_800_000);
        assert_eq!(day_end - day_start, 86_400_000);
        // December 2026 in UTC+8: 2026-11-30T16:00Z to 2026-12-31T16:00Z.
        assert_eq!(
            Window::Month.bounds(NOW),
            (1_796_054_400_000, 1_798_732_800_000)
        );
        // 2026-12-31T16:00Z is already January 2027 in Feishu's time zone.
        assert_eq!(Window::Month.bounds(1_798_732_800_000).0, 1_798_732_800_000);
    }

    #[test]
    fn exactly_the_limit_passes_in_a_window_then_the_next_window_reopens() {
        let limits = KeyLimits {
            per_minute: Some(60),
            ..Default::default()
        };
        let mut ledger = Ledger::default();
        let passed = (0..100)
            .filter(|_| ledger.admit(&limits, NOW).is_ok())
            .count();
        assert_eq!(passed, 60);
        let refused = ledger.admit(&limits, NOW).unwrap_err();
        assert_eq!(refused.window, Window::Minute);
        assert_eq!(refused.max, 60);
        assert_eq!(refused.resets_at_ms, NOW + 30_000);
        assert!(ledger.admit(&limits, NOW + 30_000).is_ok(), "a new minute");
        assert_eq!(ledger.used(Window::Minute, NOW + 30_000), 1);
        assert_eq!(ledger.used(Window::Day, NOW + 30_000), 61);
    }

    #[test]
    fn a_refused_call_counts_nowhere() {
        let limits = KeyLimits {
            per_minute: Some(100),
            per_day: Some(2),
            per_month: None,
        };
        let mut ledger = Ledger::default();
        assert!(ledger.admit(&limits, NOW).is_ok());
        assert!(ledger.admit(&limits, NOW).is_ok());
        for _ in 0..5 {
            assert_eq!(ledger.admit(&limits, NOW).unwrap_err().window, Window::Day);
        }
        assert_eq!(ledger.used(Window::Minute, NOW), 2);
        assert_eq!(ledger.used(Window::Month, NOW), 2);
    }

    #[test]
    fn limits_and_ledgers_read_back_what_they_write() {
        let limits = KeyLimits {
            per_minute: Some(60),
            per_day: None,
            per_month: Some(20_000),
        };
        assert_eq!(limits.line(), "60 - 20000");
        assert_eq!(KeyLimits::parse_line(&limits.line()), Some(limits));
        for bad in ["", "60", "60 - - -", "0 - -", "x - -", "-1 - -", "60  - -"] {
            assert_eq!(KeyLimits::parse_line(bad), None, "{bad:?}");
        }
        let mut ledger = Ledger::default();
        ledger.admit(&limits, NOW).unwrap();
        assert_eq!(Ledger::parse(&ledger.text()), Some(ledger));
        assert_eq!(Ledger::parse("1 2 3"), None);
    }
}
