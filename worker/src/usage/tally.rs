//! The isolate's side of usage: each call counted in memory (nothing on
//! the call's path but a few map updates), the counts sent to each app's
//! month object a second after the first of a batch, in the background of
//! the request that started it (`Context::wait_until`: the runtime keeps
//! the isolate until it is done, so a normal shutdown loses nothing; an
//! isolate evicted by force — a crash, a memory or CPU limit — loses at
//! most the last second's counts). A batch the object could not take is
//! kept for the next.
//!
//! The same totals drive the monthly quota's guard: an app past
//! `QUOTA_AGENT_SHARE` of `MONTHLY_QUOTA` (its object's total as last
//! heard, plus this isolate's counts not yet sent) refuses agent-key calls.

use crate::cache::ask::Want;
use crate::config::Config;
use crate::config::agent_keys::limits::month_name;
use crate::coordinator::KEY_LEDGER_BINDING;
use crate::coordinator::ask::{post, stub};
use crate::coordinator::protocol::OBJECT_ORIGIN;
use crate::log;
use crate::usage::month::{Call, Usage, reached};
use core::cell::{Cell, RefCell};
use feishu_tenant_token::Clock;
use feishu_tenant_token::host::JsClock;
use feishu_tenant_token::rate_limit::route::route_of;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use worker::{Delay, Env};

/// The month objects' questions.
pub const ADD_PATH: &str = "/usage/add";
pub const VIEW_PATH: &str = "/usage/view";
/// How long an isolate's counts wait to be sent together.
const FLUSH_AFTER_MS: u64 = 1000;
/// Most apps counted in one isolate's batch (settings hold at most this many).
const MAX_APPS: usize = 256;

/// The object holding `app`'s counts for `month`.
pub fn object_name(app: &str, month: &str) -> String {
    format!("usage:v1:{app}:{month}")
}

/// What an isolate sends an app's month object.
#[derive(Serialize, Deserialize)]
pub struct Batch {
    pub app: String,
    /// The app's `MONTHLY_QUOTA`, for the object's 80 % and 95 % lines.
    pub quota: Option<u64>,
    pub usage: Usage,
}

/// The object's answer: the month's calls in all.
#[derive(Serialize, Deserialize)]
pub struct Added {
    pub total: u64,
}

struct Pending {
    usage: Usage,
    quota: Option<u64>,
}

thread_local! {
    static PENDING: RefCell<BTreeMap<String, Pending>> = const { RefCell::new(BTreeMap::new()) };
    /// Each app's month total at its object, as last heard: (month, calls).
    static HEARD: RefCell<HashMap<String, (String, u64)>> = RefCell::default();
    static SCHEDULED: Cell<bool> = const { Cell::new(false) };
}

/// Who made a call, for the count.
#[derive(Default)]
pub struct Caller<'a> {
    pub tenant: Option<&'a str>,
    pub key: Option<&'a str>,
    pub user: Option<&'a str>,
}

/// Counts a call of `app` (`path` without the Worker's `/lark` prefix) that
/// was answered `resp`.
pub fn count(
    config: &Config,
    app: &str,
    caller: Caller<'_>,
    method: &str,
    path: &str,
    resp: &worker::Response,
) {
    if !config.count_usage {
        return;
    }
    let waited = resp.headers().has("x-ratelimit-waited-ms").unwrap_or(false);
    let at_ms = JsClock.now_ms();
    let api = route_of(method, path);
    with_month(config, app, at_ms, |usage| {
        usage.count(&Call {
            tenant: caller.tenant,
            key: caller.key,
            user: caller.user,
            api: &api,
            status: resp.status_code(),
            waited,
            at_ms,
        });
    });
}

/// A user seen signing in (no call).
pub fn seen(config: &Config, app: &str, user: &str) {
    let at_ms = JsClock.now_ms();
    with_month(config, app, at_ms, |usage| usage.seen(user, at_ms));
}

fn with_month(config: &Config, app: &str, at_ms: u64, f: impl FnOnce(&mut Usage)) {
    if !config.count_usage {
        return;
    }
    let month = month_name(at_ms);
    PENDING.with(|p| {
        let mut p = p.borrow_mut();
        if !p.contains_key(app) && p.len() >= MAX_APPS {
            return;
        }
        let entry = p.entry(app.to_owned()).or_insert_with(|| Pending {
            usage: Usage::new(month.clone()),
            quota: config.operators.quota.of(app),
        });
        if entry.usage.month != month {
            // The month turned with counts of the last one waiting: they go
            // first, on their own, at the next send.
            entry.usage = Usage::new(month);
        }
        f(&mut entry.usage);
    });
}

/// Whether agent-key calls of `app` are refused for the quota's sake: the
/// app has a quota and its calls this month (as last heard, and this
/// isolate's own not yet sent) reached `QUOTA_AGENT_SHARE` of it.
pub fn reserved(config: &Config, app: &str) -> Option<(u64, u64)> {
    let quota = config.operators.quota.of(app)?;
    let month = month_name(JsClock.now_ms());
    let heard = HEARD.with(|h| {
        h.borrow()
            .get(app)
            .filter(|(m, _)| *m == month)
            .map_or(0, |(_, n)| *n)
    });
    let pending = PENDING.with(|p| {
        p.borrow()
            .get(app)
            .filter(|e| e.usage.month == month)
            .map_or(0, |e| e.usage.total.calls)
    });
    let calls = heard + pending;
    reached(calls, quota, config.operators.quota.agent_share_pct).then_some((calls, quota))
}

/// After a request: when counts wait and no send is due, one is set a
/// second from now in the background of this request.
pub fn flush_later(ctx: &worker::Context, env: &Env) {
    let waiting = PENDING.with(|p| !p.borrow().is_empty());
    if !waiting || SCHEDULED.with(Cell::get) {
        return;
    }
    SCHEDULED.with(|s| s.set(true));
    let env = env.clone();
    ctx.wait_until(async move {
        Delay::from(core::time::Duration::from_millis(FLUSH_AFTER_MS)).await;
        SCHEDULED.with(|s| s.set(false));
        flush(&env).await;
    });
}

/// Sends every app's counts to its month object; a batch not taken is kept.
pub async fn flush(env: &Env) {
    let batches = PENDING.with(|p| core::mem::take(&mut *p.borrow_mut()));
    let Ok(ns) = env.durable_object(KEY_LEDGER_BINDING) else {
        // Usage needs the objects: without them nothing is counted.
        return;
    };
    for (app, pending) in batches {
        let month = pending.usage.month.clone();
        let batch = Batch {
            app: app.clone(),
            quota: pending.quota,
            usage: pending.usage,
        };
        let body = serde_json::to_string(&batch).unwrap_or_default();
        let sent = match stub(&ns, &object_name(&app, &month)) {
            Ok(s) => post(
                &s,
                &format!("{OBJECT_ORIGIN}{ADD_PATH}"),
                &body,
                Want::Servable,
            )
            .await
            .map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        let added = match sent {
            Ok(a) if a.status == 200 => serde_json::from_str::<Added>(&a.body).ok(),
            _ => None,
        };
        match added {
            Some(a) => HEARD.with(|h| {
                h.borrow_mut().insert(app, (month, a.total));
            }),
            None => {
                log::warn(
                    "usage_not_sent",
                    "an app's month object did not take its counts: kept for the next send",
                );
                keep(app, batch.quota, batch.usage);
            }
        }
    }
}

/// Puts a batch back in front of what was counted since.
fn keep(app: String, quota: Option<u64>, usage: Usage) {
    PENDING.with(|p| {
        let mut p = p.borrow_mut();
        match p.get_mut(&app) {
            Some(e) if e.usage.month == usage.month => e.usage.add(&usage),
            Some(_) => {}
            None => {
                p.insert(app, Pending { usage, quota });
            }
        }
    });
}
