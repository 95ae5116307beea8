//! Each limited agent key's object (class `KeyLedger`, binding
//! `KEY_LEDGERS`, named `ledger:v1:<key id>`): the key's calls counted
//! against its `limits` (`config::agent_keys::limits`) for every isolate, so
//! that exactly the limit passes in each window. The counts are in the
//! object's storage (an evicted object resumes them); its input gate runs
//! one question at a time, and each is counted in memory before the write,
//! so concurrent calls never both take the last place.

use crate::agents::ledger::{ADMIT_PATH, LIMITED};
use crate::cache::object_store::ObjectStore;
use crate::config::agent_keys::limits::{KeyLimits, Ledger};
use crate::http::reply;
use crate::http::request::read_body;
use core::cell::RefCell;
use feishu_tenant_token::Clock;
use feishu_tenant_token::host::JsClock;
use worker::{DurableObject, Env, Request, Response, State, durable_object};

/// A question is one line of limits.
const MAX_QUESTION_BYTES: usize = 64;

/// The storage key of the ledger.
const LEDGER: &str = "ledger";

#[durable_object]
pub struct KeyLedger {
    store: ObjectStore,
    /// The ledger, once read from storage.
    ledger: RefCell<Option<Ledger>>,
}

impl DurableObject for KeyLedger {
    fn new(state: State, _env: Env) -> Self {
        Self {
            store: ObjectStore::of(&state),
            ledger: RefCell::new(None),
        }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        if !req.path().ends_with(ADMIT_PATH) {
            return reply::json_response(404, String::new());
        }
        let Ok(body) = read_body(&mut req, MAX_QUESTION_BYTES).await? else {
            return reply::json_response(400, String::new());
        };
        let limits = core::str::from_utf8(&body)
            .ok()
            .and_then(KeyLimits::parse_line);
        let Some(limits) = limits else {
            return reply::json_response(400, String::new());
        };
        if self.ledger.borrow().is_none() {
            let stored = self.store.get(LEDGER).await?;
            let ledger = stored
                .as_deref()
                .and_then(Ledger::parse)
                .unwrap_or_default();
            self.ledger.borrow_mut().get_or_insert(ledger);
        }
        let now = JsClock.now_ms();
        let (verdict, text) = {
            let mut slot = self.ledger.borrow_mut();
            let ledger = slot.get_or_insert_with(Ledger::default);
            (ledger.admit(&limits, now), ledger.text())
        };
        match verdict {
            Ok(()) => {
                self.store.put(LEDGER, &text).await?;
                reply::json_response(200, "ok".to_owned())
            }
            Err(limited) => reply::json_response(
                200,
                format!(
                    "{LIMITED} {} {} {}",
                    limited.window.name(),
                    limited.max,
                    limited.resets_at_ms
                ),
            ),
        }
    }
}
