//! The limits' object (class `LimitKeeper`, binding `LIMIT_KEEPERS`, one
//! per app and tenant or user: `limits::keeper`): one pacer per limit key
//! for every isolate. Memory only: a pacer holds seconds of state, and an
//! evicted object starts over as an isolate does (the next refusal closes
//! the key again).

use crate::http::reply;
use crate::http::request::read_body;
use crate::limits::keeper::{LIMITS_PATH, MAX_KEYS_ASKED, Op};
use core::cell::RefCell;
use feishu_tenant_token::Clock;
use feishu_tenant_token::host::JsClock;
use feishu_tenant_token::rate_limit::pacer::Pacer;
use std::collections::HashMap;
use worker::{DurableObject, Env, Request, Response, State, durable_object};

/// A question is a few keys: anything longer is not a front's.
const MAX_QUESTION_BYTES: usize = 4_096;

/// At most this many keys kept (idle ones dropped first).
const MAX_KEYS: usize = 1_024;

#[durable_object]
pub struct LimitKeeper {
    pacers: RefCell<HashMap<String, Pacer>>,
}

impl DurableObject for LimitKeeper {
    fn new(_state: State, _env: Env) -> Self {
        Self {
            pacers: RefCell::new(HashMap::new()),
        }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        if !req.path().ends_with(LIMITS_PATH) {
            return reply::json_response(404, String::new());
        }
        let Ok(body) = read_body(&mut req, MAX_QUESTION_BYTES).await? else {
            return reply::json_response(400, String::new());
        };
        let ops = core::str::from_utf8(&body).ok().and_then(Op::parse_all);
        let Some(ops) = ops.filter(|ops| ops.len() <= MAX_KEYS_ASKED) else {
            return reply::json_response(400, String::new());
        };
        let now = JsClock.now_ms();
        let mut pacers = self.pacers.borrow_mut();
        let mut wait_ms = 0;
        for op in ops {
            wait_ms = wait_ms.max(match op {
                Op::Admit { key, interval_ms } => {
                    pacers.entry(key).or_default().admit(now, interval_ms)
                }
                Op::Hold {
                    key,
                    reopens_in_ms,
                    learnt_ms,
                } => pacers
                    .entry(key)
                    .or_default()
                    .hold(now, reopens_in_ms, learnt_ms)
                    .saturating_sub(now),
            });
        }
        if pacers.len() > MAX_KEYS {
            pacers.retain(|_, p| !p.idle(now));
        }
        reply::json_response(200, wait_ms.to_string())
    }
}
