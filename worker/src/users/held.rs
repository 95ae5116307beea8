//! The users' tokens this isolate was handed by their objects, kept in its
//! memory only (never KV), so that a fresh token costs no object hop: one
//! is served from here until it is due (its last `MIN_VALIDITY_SECS`) or
//! `MEMORY_REVALIDATE_SECS` has passed since the object handed it out,
//! whichever comes first. A refusal of the token or a sign-out seen by this
//! isolate forgets it at once; a sign-out through another isolate is seen
//! here within `MEMORY_REVALIDATE_SECS` (the token stays valid at Feishu
//! either way until its own expiry).

use crate::config::Config;
use crate::sources::clients::MAX_CACHED_TOKENS;
use crate::users::protocol::Who;
use feishu_tenant_token::host::JsClock;
use feishu_tenant_token::{AccessToken, Clock};
use std::cell::RefCell;
use std::collections::HashMap;

struct Held {
    token: AccessToken,
    expires_at_ms: u64,
    /// Served from memory until then (due, or time to ask the object again).
    until_ms: u64,
}

thread_local! {
    /// By the user's object name (brand, app, user).
    static HELD: RefCell<HashMap<String, Held>> = RefCell::default();
}

/// The user's token and its expiry, when this isolate holds a fresh one.
pub fn fresh(who: &Who) -> Option<(AccessToken, u64)> {
    let now = JsClock.now_ms();
    HELD.with(|h| {
        h.borrow()
            .get(&who.object_name())
            .filter(|held| held.until_ms > now)
            .map(|held| (held.token.clone(), held.expires_at_ms))
    })
}

/// The object handed out `token`, valid until `expires_at_ms`.
pub fn handed(config: &Config, who: &Who, token: &AccessToken, expires_at_ms: u64) {
    let now = JsClock.now_ms();
    let due = expires_at_ms.saturating_sub(config.freshness.min_validity_secs() * 1000);
    let until_ms = due.min(now.saturating_add(config.memory_revalidate_ms));
    HELD.with(|h| {
        let mut h = h.borrow_mut();
        if h.len() >= MAX_CACHED_TOKENS {
            h.retain(|_, held| held.until_ms > now);
            if h.len() >= MAX_CACHED_TOKENS {
                h.clear();
            }
        }
        h.insert(
            who.object_name(),
            Held {
                token: token.clone(),
                expires_at_ms,
                until_ms,
            },
        );
    });
}

/// Forgets the user's token (Feishu refused it, or the user signed out).
pub fn forget(who: &Who) {
    HELD.with(|h| h.borrow_mut().remove(&who.object_name()));
}
