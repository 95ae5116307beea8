//! A call's admission under its limit key, and what a limit answer does to
//! the key. A call on a route with no known or learnt limit takes the fast
//! path: no digest of its token, no key, no lookup but the rules' (the
//! gateway's own work per call, `bench/RESULTS.md`); its keys are made only
//! if Feishu answers it with a limit.

use super::{isolate, keeper};
use crate::config::Config;
use crate::log;
use core::fmt::Write;
use feishu_tenant_token::host::JsClock;
use feishu_tenant_token::rate_limit::route::{route_of, target_of, update_target};
use feishu_tenant_token::rate_limit::{Scope, UPDATES_PER_TARGET_INTERVAL_MS, limit_of};
use feishu_tenant_token::{AccessToken, Clock, kv};
use serde::Serialize;
use worker::{Delay, Env};

/// Whose limits a call counts against: the token it bears stands for one
/// app and tenant (or user) of one brand; a prefix of its digest, never the
/// token. Made when first needed.
pub struct Who<'a> {
    brand: &'static str,
    token: &'a AccessToken,
    made: Option<String>,
}

impl<'a> Who<'a> {
    pub fn of(config: &Config, token: &'a AccessToken) -> Self {
        Self {
            brand: config.brand.name(),
            token,
            made: None,
        }
    }

    pub fn get(&mut self) -> &str {
        let (brand, token) = (self.brand, self.token);
        self.made.get_or_insert_with(|| {
            let digest = kv::token_digest(token);
            let mut out = format!("{brand}:");
            for b in &digest[..8] {
                let _ = write!(out, "{b:02x}");
            }
            out
        })
    }
}

/// A call's place under the limits: its route, its keys (none on the fast
/// path), and how long it waited.
#[derive(Debug)]
pub struct Place {
    route: String,
    /// The route's key (`<who> <route>`), and the target's (a message or
    /// chat the call updates); `None` on the fast path.
    keys: Option<(String, Option<String>)>,
    /// Whether a known or learnt limit applied.
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

/// The keys of a call of `who` on `route` (`method` `path`).
fn keys_of(who: &str, route: &str, method: &str, path: &str) -> (String, Option<String>) {
    (
        format!("{who} {route}"),
        target_of(method, path).map(|t| format!("{who} {t}")),
    )
}

/// Admits one call of `who` to `method` `path`: waits while its key is
/// closed or paced, at most `RATE_LIMIT_WAIT_MS`. A key with a known
/// limit, or one this isolate learnt, is paced by `who`'s limits' object
/// when bound and the token `vouched` for (every isolate alike), else by
/// the isolate.
pub async fn admit(
    env: &Env,
    config: &Config,
    who: &mut Who<'_>,
    method: &str,
    path: &str,
    vouched: bool,
) -> Result<Place, TooLong> {
    let route = route_of(method, path);
    let interval = config.rate_limits.interval_ms(&route);
    // Updates to one message or card are paced per message.
    let target_interval = update_target(method, path).map(|_| UPDATES_PER_TARGET_INTERVAL_MS);
    let known = interval.is_some() || target_interval.is_some();
    // The fast path: nothing known anywhere.
    if !known && isolate::is_empty() {
        return Ok(Place {
            route,
            keys: None,
            limited: false,
            waited_ms: 0,
        });
    }
    let who = who.get();
    let (route_key, target_key) = keys_of(who, &route, method, path);
    let learnt = isolate::knows(&route_key) || target_key.as_deref().is_some_and(isolate::knows);
    let vouched = vouched || isolate::vouched(who, JsClock.now_ms());
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
    Ok(Place {
        route,
        keys: Some((route_key, target_key)),
        limited: known || learnt,
        waited_ms: wait,
    })
}

/// Feishu's answer to a call, as the limits read it.
pub struct Answered<'h> {
    pub status: u16,
    pub code: Option<i64>,
    /// `x-ogw-ratelimit-reset` and `-limit`, read only from a refusal.
    pub reset: Option<&'h str>,
    pub limit: Option<&'h str>,
}

/// After Feishu's answer: a limit closes the key it names (the route's, or
/// for 230020 the target's), logged once per closing; a success counts for
/// keys the isolate keeps (and vouches for `who`'s token on a limited
/// route). A closure is handed to `who`'s limits' object when bound and
/// the token vouched for, so that every isolate holds it. Returns when the
/// key reopens, for a limit.
pub async fn answered(
    env: &Env,
    vouched: bool,
    place: &Place,
    who: &mut Who<'_>,
    method: &str,
    path: &str,
    answer: &Answered<'_>,
) -> Option<u64> {
    let Some(scope) = limit_of(answer.status, answer.code) else {
        if answer.status < 400
            && let Some((route_key, target_key)) = &place.keys
        {
            let now = JsClock.now_ms();
            if place.limited && !vouched {
                isolate::vouch(who.get(), now);
            }
            if !isolate::is_empty() {
                isolate::with(route_key, now, |s| s.pacer.succeeded(now));
                if let Some(t) = target_key {
                    isolate::with(t, now, |s| s.pacer.succeeded(now));
                }
            }
        }
        return None;
    };
    let now = JsClock.now_ms();
    let (route_key, target_key) = match &place.keys {
        Some(keys) => keys.clone(),
        None => keys_of(who.get(), &place.route, method, path),
    };
    let key = match (scope, &target_key) {
        (Scope::Target, Some(t)) => t,
        _ => &route_key,
    };
    let (was_open, mut reopens, learnt) = isolate::with(key, now, |s| {
        let was_open = s.pacer.closed_until(now).is_none();
        let reopens = s.pacer.close(now, answer.reset, answer.limit);
        (was_open, reopens, s.pacer.learnt_interval_ms())
    });
    let vouched = vouched || isolate::vouched(who.get(), now);
    if let Some(namespace) = keeper::bound(env).filter(|_| vouched) {
        let hold = keeper::Op::Hold {
            key: key.clone(),
            reopens_in_ms: reopens.saturating_sub(now),
            learnt_ms: learnt,
        };
        // Another front may have closed it for longer: the later reopening.
        if let Some(until) = keeper::ask(&namespace, who.get(), &[hold]).await {
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
            key: key.split_once(' ').map_or(key.as_str(), |(_, r)| r),
            code: answer.code,
            reopens_in_ms: reopens.saturating_sub(now),
            held: isolate::with(&route_key, now, |s| s.held),
        });
    }
    Some(reopens)
}
