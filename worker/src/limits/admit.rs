//! A call's admission under its limit key, and what a limit answer does to
//! the key.

use super::{isolate, keeper};
use crate::config::Config;
use crate::log;
use feishu_tenant_token::Clock;
use feishu_tenant_token::host::JsClock;
use feishu_tenant_token::rate_limit::route::{route_of, target_of, update_target};
use feishu_tenant_token::rate_limit::{Scope, UPDATES_PER_TARGET_INTERVAL_MS, limit_of};
use serde::Serialize;
use worker::{Delay, Env};

/// A call's place under the limits: its keys, and how long it waited.
#[derive(Debug)]
pub struct Place {
    /// Whose limits (brand, app and tenant or user; its limits' object).
    who: String,
    /// The route's key (`<who> <route>`).
    route_key: String,
    /// The target's key (a message or chat the call updates), if any.
    target_key: Option<String>,
    /// Whether a known or learnt limit applied (else nothing was looked up).
    pub limited: bool,
    pub waited_ms: u64,
}

/// Why a call is not sent: it would have to wait longer than
/// `RATE_LIMIT_WAIT_MS`; Feishu's own shape goes back (429, 99991400,
/// `Retry-After` in whole seconds).
#[derive(Debug)]
pub struct TooLong {
    pub retry_after_secs: u64,
}

/// Admits one call of `who` (brand, app and tenant or user; or the token's
/// digest for a passed-through call) to `method` `path`: waits while its
/// key is closed or paced, at most `RATE_LIMIT_WAIT_MS`. A key with a
/// known limit, or one this isolate learnt, is paced by `who`'s limits'
/// object when bound (every isolate alike), else by the isolate.
pub async fn admit(
    env: &Env,
    config: &Config,
    who: &str,
    method: &str,
    path: &str,
    vouched: bool,
) -> Result<Place, TooLong> {
    let route = route_of(method, path);
    let interval = config.rate_limits.interval_ms(&route);
    let route_key = format!("{who} {route}");
    let target_key = target_of(method, path).map(|t| format!("{who} {t}"));
    // Updates to one message or card are paced per message.
    let target_interval = update_target(method, path).map(|_| UPDATES_PER_TARGET_INTERVAL_MS);
    let place = |waited_ms, limited| Place {
        who: who.to_owned(),
        route_key: route_key.clone(),
        target_key: target_key.clone(),
        limited,
        waited_ms,
    };
    // Nothing known anywhere: no map, no object, no wait.
    let known = interval.is_some() || target_interval.is_some();
    if !known && isolate::is_empty() {
        return Ok(place(0, false));
    }
    let learnt = isolate::knows(&route_key) || target_key.as_deref().is_some_and(isolate::knows);
    let everywhere = match keeper::bound(env).filter(|_| vouched && (known || learnt)) {
        Some(namespace) => {
            let mut ops = vec![keeper::Op::Admit {
                key: route_key.clone(),
                interval_ms: interval,
            }];
            if let Some(t) = &target_key {
                ops.push(keeper::Op::Admit {
                    key: t.clone(),
                    interval_ms: target_interval,
                });
            }
            keeper::ask(&namespace, who, &ops).await
        }
        None => None,
    };
    let wait = match everywhere {
        Some(wait) => wait,
        None => {
            let now = JsClock.now_ms();
            let mut wait = isolate::with(&route_key, now, |s| s.pacer.admit(now, interval));
            if let Some(t) = &target_key {
                wait = wait.max(isolate::with(t, now, |s| {
                    s.pacer.admit(now, target_interval)
                }));
            }
            wait
        }
    };
    if wait > config.rate_limit_wait_ms {
        return Err(TooLong {
            retry_after_secs: wait.div_ceil(1000),
        });
    }
    if wait > 0 {
        let _held = isolate::Held::new(&route_key, JsClock.now_ms());
        Delay::from(core::time::Duration::from_millis(wait)).await;
    }
    Ok(place(wait, known || learnt))
}

/// After Feishu's answer (`status`, its `code` when read, its
/// `x-ogw-ratelimit-reset` and `-limit`): a limit closes the key it names
/// (the route's, or for 230020 the target's), logged once per closing; a
/// success counts for keys the isolate keeps. A closure is handed to
/// `who`'s limits' object when bound, so that every isolate holds it.
/// Returns when the key reopens, for a limit.
pub async fn answered(
    env: &Env,
    vouched: bool,
    place: &Place,
    status: u16,
    code: Option<i64>,
    reset: Option<&str>,
    limit: Option<&str>,
) -> Option<u64> {
    let now = JsClock.now_ms();
    let Some(scope) = limit_of(status, code) else {
        if status < 400 && !isolate::is_empty() {
            isolate::with(&place.route_key, now, |s| s.pacer.succeeded(now));
            if let Some(t) = &place.target_key {
                isolate::with(t, now, |s| s.pacer.succeeded(now));
            }
        }
        return None;
    };
    let key = match (scope, &place.target_key) {
        (Scope::Target, Some(t)) => t,
        _ => &place.route_key,
    };
    let (was_open, mut reopens, learnt) = isolate::with(key, now, |s| {
        let was_open = s.pacer.closed_until(now).is_none();
        let reopens = s.pacer.close(now, reset, limit);
        (was_open, reopens, s.pacer.learnt_interval_ms())
    });
    if let Some(namespace) = keeper::bound(env).filter(|_| vouched) {
        let hold = keeper::Op::Hold {
            key: key.clone(),
            reopens_in_ms: reopens.saturating_sub(now),
            learnt_ms: learnt,
        };
        // Another front may have closed it for longer: the later reopening.
        if let Some(until) = keeper::ask(&namespace, &place.who, &[hold]).await {
            reopens = reopens.max(JsClock.now_ms().saturating_add(until));
        }
    }
    if was_open {
        #[derive(Serialize)]
        struct Line<'a> {
            event: &'static str,
            key: &'a str,
            code: Option<i64>,
            reopens_in_ms: u64,
            /// Calls of this isolate waiting under the route now.
            held: u32,
        }
        log::info(&Line {
            event: "rate_limit_closed",
            key: key.split_once(' ').map_or(key, |(_, r)| r),
            code,
            reopens_in_ms: reopens.saturating_sub(now),
            held: isolate::with(&place.route_key, now, |s| s.held),
        });
    }
    Some(reopens)
}

/// Whether `who`'s token was vouched for in this isolate (Feishu accepted
/// it on a limited route).
pub fn vouched_here(who: &str) -> bool {
    isolate::vouched(who, JsClock.now_ms())
}

/// `who`'s token is the app's: Feishu accepted it.
pub fn vouch(who: &str) {
    isolate::vouch(who, JsClock.now_ms());
}
