//! The isolate's state per limit key, in memory only: its pacer, and for a
//! message or card its line of updates (`coalesce`). A key with nothing to
//! remember (no closure, no learnt rate, no slot ahead, no update waiting)
//! is not kept, so a route without a known or learnt limit costs a lookup.

use super::line::Line;
use feishu_tenant_token::rate_limit::pacer::Pacer;
use std::cell::RefCell;
use std::collections::HashMap;

/// At most this many keys are kept (idle ones go first; the map is a
/// bounded cache, never a store).
const MAX_KEYS: usize = 4_096;

/// What the isolate keeps for one key.
#[derive(Default)]
pub struct KeyState {
    pub pacer: Pacer,
    pub line: Line,
    /// Calls of this isolate waiting under the key now (for the log line
    /// of a closing).
    pub held: u32,
}

impl KeyState {
    fn kept(&self, now_ms: u64) -> bool {
        !self.pacer.idle(now_ms) || self.line.kept(now_ms) || self.held > 0
    }
}

/// One call counted in `key`'s `held` while it lives (a caller that goes
/// away mid-wait is counted out too).
pub struct Held(String);

impl Held {
    pub fn new(key: &str, now_ms: u64) -> Self {
        with(key, now_ms, |s| s.held += 1);
        Self(key.to_owned())
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        use feishu_tenant_token::Clock;
        let now = feishu_tenant_token::host::JsClock.now_ms();
        with(&self.0, now, |s| s.held = s.held.saturating_sub(1));
    }
}

/// A token Feishu accepted is vouched for this long (a token lives at most
/// two hours).
const VOUCHED_FOR_MS: u64 = 2 * 60 * 60 * 1000;

thread_local! {
    static KEYS: RefCell<HashMap<String, KeyState>> = RefCell::new(HashMap::new());
    /// Whose tokens Feishu accepted (`who` -> until when), bounded as `KEYS`.
    static VOUCHED: RefCell<HashMap<String, u64>> = RefCell::new(HashMap::new());
}

/// Whether `who`'s token is vouched for at `now_ms`.
pub fn vouched(who: &str, now_ms: u64) -> bool {
    VOUCHED.with(|v| v.borrow().get(who).is_some_and(|&until| until > now_ms))
}

/// `who`'s token was accepted by Feishu at `now_ms`.
pub fn vouch(who: &str, now_ms: u64) {
    VOUCHED.with(|v| {
        let mut map = v.borrow_mut();
        if map.len() >= MAX_KEYS {
            map.retain(|_, &mut until| until > now_ms);
            if map.len() >= MAX_KEYS {
                // Still full: the forgotten are paced by this isolate alone.
                map.clear();
            }
        }
        map.insert(who.to_owned(), now_ms.saturating_add(VOUCHED_FOR_MS));
    });
}

/// `f` on `key`'s state (a fresh one when none is kept); kept afterwards
/// only while it holds something.
pub fn with<R>(key: &str, now_ms: u64, f: impl FnOnce(&mut KeyState) -> R) -> R {
    KEYS.with(|p| {
        let mut map = p.borrow_mut();
        let mut state = map.remove(key).unwrap_or_default();
        let out = f(&mut state);
        if state.kept(now_ms) {
            if map.len() >= MAX_KEYS {
                map.retain(|_, s| s.kept(now_ms));
                if map.len() >= MAX_KEYS {
                    // Still full of live keys: the oldest knowledge is lost, never the call.
                    if let Some(k) = map.keys().next().cloned() {
                        map.remove(&k);
                    }
                }
            }
            map.insert(key.to_owned(), state);
        }
        out
    })
}

/// Whether `key` has state kept (a closure, a learnt rate, a slot ahead).
pub fn knows(key: &str) -> bool {
    KEYS.with(|p| p.borrow().contains_key(key))
}

/// Whether any key is kept (a cheap check before building one).
pub fn is_empty() -> bool {
    KEYS.with(|p| p.borrow().is_empty())
}
