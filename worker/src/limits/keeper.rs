//! The limits across isolates (class `LimitKeeper`, binding
//! `LIMIT_KEEPERS`, one object per app and tenant or user of one brand,
//! named `limits:v1:<who>`): with it bound, a key with a known or learnt
//! limit is paced by that one object for every isolate and location, and a
//! closure one front saw holds every other. Feishu counts a limit per app,
//! tenant and API, so pacing in each isolate alone lets N isolates send N
//! times the rate.
//!
//! The object is asked only for a key with a known limit (`RATE_LIMITS` or
//! a default), or one this isolate learnt from a refusal: a route with
//! neither makes no object question. A fault of the object (unbound,
//! unreachable, an answer it cannot read) leaves the isolate pacing by
//! itself, as without it, logged at most once a minute.

use crate::cache::ask::Want;
use crate::coordinator::LIMIT_BINDING;
use crate::coordinator::ask::{fault_seen, post, stub};
use crate::coordinator::protocol::OBJECT_ORIGIN;
use worker::{Env, ObjectNamespace};

/// The path of every question to the object.
pub const LIMITS_PATH: &str = "/limits";

/// At most this many keys in one question (a route and its target).
pub const MAX_KEYS_ASKED: usize = 2;

/// One thing a front asks of the object. The question is lines of plain
/// text, one per `Op`: `admit <interval ms or -> <key>` and `hold <reopens
/// in ms> <learnt interval ms or -> <key>` (the key last: it holds spaces);
/// the answer is one number of ms. Plain text rather than JSON: serde's
/// reader and writer for these types were 2.8 KB gzip of the Worker
/// (measured: 350,733 -> 347,893 B).
#[derive(Debug, PartialEq, Eq)]
pub enum Op {
    /// Admit one call under `key`, with its known interval: answers the wait.
    Admit {
        key: String,
        interval_ms: Option<u64>,
    },
    /// Hold `key` closed for `reopens_in_ms` (a closure a front saw), then
    /// paced at `learnt_ms`: answers when it reopens.
    Hold {
        key: String,
        reopens_in_ms: u64,
        learnt_ms: Option<u64>,
    },
}

impl Op {
    /// The op as one line of the question.
    pub fn line(&self) -> String {
        let ms = |v: &Option<u64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
        match self {
            Op::Admit { key, interval_ms } => format!("admit {} {key}\n", ms(interval_ms)),
            Op::Hold {
                key,
                reopens_in_ms,
                learnt_ms,
            } => format!("hold {reopens_in_ms} {} {key}\n", ms(learnt_ms)),
        }
    }

    /// The ops of a question, or `None` when a line is not one.
    pub fn parse_all(text: &str) -> Option<Vec<Op>> {
        let ms = |v: &str| match v {
            "-" => Some(None),
            v => v.parse::<u64>().ok().map(Some),
        };
        text.lines()
            .map(|line| {
                let (verb, rest) = line.split_once(' ')?;
                match verb {
                    "admit" => {
                        let (interval, key) = rest.split_once(' ')?;
                        Some(Op::Admit {
                            key: key.to_owned(),
                            interval_ms: ms(interval)?,
                        })
                    }
                    "hold" => {
                        let (reopens, rest) = rest.split_once(' ')?;
                        let (learnt, key) = rest.split_once(' ')?;
                        Some(Op::Hold {
                            key: key.to_owned(),
                            reopens_in_ms: reopens.parse().ok()?,
                            learnt_ms: ms(learnt)?,
                        })
                    }
                    _ => None,
                }
            })
            .collect()
    }
}

/// The object namespace, when bound.
pub fn bound(env: &Env) -> Option<ObjectNamespace> {
    env.durable_object(LIMIT_BINDING).ok()
}

/// Asks `who`'s object `ops`: the wait (for admits) or when the key reopens
/// (for a hold), in ms from its answer; `None` on any fault (the isolate
/// paces alone).
pub async fn ask(namespace: &ObjectNamespace, who: &str, ops: &[Op]) -> Option<u64> {
    let stub = match stub(namespace, &format!("limits:v1:{who}")) {
        Ok(s) => s,
        Err(e) => {
            fault_seen(&e);
            return None;
        }
    };
    let url = format!("{OBJECT_ORIGIN}{LIMITS_PATH}");
    let body: String = ops.iter().map(Op::line).collect();
    match post(&stub, &url, &body, Want::Servable).await {
        Ok(a) if a.status == 200 => match a.body.trim().parse::<u64>() {
            Ok(ms) => Some(ms),
            Err(_) => {
                fault_seen("the limit keeper's answer could not be read");
                None
            }
        },
        Ok(a) => {
            fault_seen(&format!("the limit keeper answered HTTP {}", a.status));
            None
        }
        Err(e) => {
            fault_seen(&e.to_string());
            None
        }
    }
}
