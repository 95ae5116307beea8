//! The front's side of a limited agent key's object (`objects::key_ledger`):
//! each call of a key with `limits` is counted there before it is sent. The
//! object answers `ok`, or `limited <window> <max> <resets at ms>`. Without
//! the binding, or when the object cannot be asked, the call is refused
//! (503): a limit that cannot be counted is not waived.

use crate::cache::ask::Want;
use crate::config::agent_keys::AgentKey;
use crate::config::agent_keys::limits::KeyLimits;
use crate::coordinator::KEY_LEDGER_BINDING;
use crate::coordinator::ask::{post, stub};
use crate::coordinator::protocol::OBJECT_ORIGIN;
use crate::http::reply::{self, Local};
use crate::log;
use worker::{Env, Response, Result};

/// The path of the question.
pub const ADMIT_PATH: &str = "/ledger/admit";

/// The first word of a refusal.
pub const LIMITED: &str = "limited";

/// What the key's object said of one call.
enum Counted {
    Admitted,
    /// Over `window` (`per_minute`, `per_day`, `per_month`): `max` calls,
    /// reopening at `resets_at_ms`.
    Limited {
        window: String,
        max: u32,
        resets_at_ms: u64,
    },
    /// Not counted: why (no binding, the object unreachable or unreadable).
    Unavailable(String),
}

/// Counts one call of `key` at `now_ms` when it has limits: `None` when
/// the call may go; else the answer to give: 429 `KEY_LIMITED` naming the
/// key, the limit and when it reopens (also `Retry-After`), or 503 when the
/// limits could not be counted.
pub async fn admit(env: &Env, key: &AgentKey, now_ms: u64) -> Result<Option<Response>> {
    let Some(limits) = &key.limits else {
        return Ok(None);
    };
    match count(env, &key.id, limits).await {
        Counted::Admitted => Ok(None),
        Counted::Limited {
            window,
            max,
            resets_at_ms,
        } => {
            let secs = resets_at_ms.saturating_sub(now_ms).div_ceil(1000).max(1);
            let msg = format!(
                "agent key {:?} is over its limit {window} = {max}; it reopens in {secs} s (at {resets_at_ms} ms since the epoch)",
                key.id
            );
            let mut resp = reply::local(Local::KeyLimited, &msg)?;
            resp.headers_mut().set("retry-after", &secs.to_string())?;
            Ok(Some(resp))
        }
        Counted::Unavailable(why) => {
            log::warn("key_ledger_failed", &why);
            let msg = format!(
                "agent key {:?} has limits that could not be counted, so the call was not sent: {why}",
                key.id
            );
            reply::local(Local::KeyLedgerUnavailable, &msg).map(Some)
        }
    }
}

/// Counts one call of key `key_id` against `limits` at its object.
async fn count(env: &Env, key_id: &str, limits: &KeyLimits) -> Counted {
    let Ok(namespace) = env.durable_object(KEY_LEDGER_BINDING) else {
        return Counted::Unavailable(format!(
            "agent key limits need the {KEY_LEDGER_BINDING} Durable Object binding (class KeyLedger: see wrangler.toml)"
        ));
    };
    let stub = match stub(&namespace, &format!("ledger:v1:{key_id}")) {
        Ok(s) => s,
        Err(e) => return Counted::Unavailable(e),
    };
    let url = format!("{OBJECT_ORIGIN}{ADMIT_PATH}");
    let answer = match post(&stub, &url, &limits.line(), Want::Servable).await {
        Ok(a) if a.status == 200 => a.body,
        Ok(a) => {
            return Counted::Unavailable(format!("the key's ledger answered HTTP {}", a.status));
        }
        Err(e) => return Counted::Unavailable(e.to_string()),
    };
    if answer == "ok" {
        return Counted::Admitted;
    }
    let mut words = answer.split(' ');
    match (words.next(), words.next(), words.next(), words.next()) {
        (Some(LIMITED), Some(window), Some(max), Some(at)) => match (max.parse(), at.parse()) {
            (Ok(max), Ok(resets_at_ms)) => Counted::Limited {
                window: window.to_owned(),
                max,
                resets_at_ms,
            },
            _ => Counted::Unavailable("the key's ledger's answer could not be read".to_owned()),
        },
        _ => Counted::Unavailable("the key's ledger's answer could not be read".to_owned()),
    }
}
