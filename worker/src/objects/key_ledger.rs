//! The ledgers (class `KeyLedger`, binding `KEY_LEDGERS`): objects that
//! count calls, each in its storage (an evicted object resumes its counts).
//!
//! - `ledger:v1:<key id>`, each limited agent key's: its calls counted
//!   against its `limits` (`config::agent_keys::limits`) for every isolate,
//!   so that exactly the limit passes in each window. Its input gate runs
//!   one question at a time, and each is counted in memory before the
//!   write, so concurrent calls never both take the last place.
//! - `usage:v1:<app>:<month>`, each app's month (`usage::month`): isolates'
//!   batches added up (`usage::tally`), the quota's 80 % and 95 % lines
//!   logged once each, the record read back by `usage::read`.

use crate::agents::ledger::{ADMIT_PATH, LIMITED};
use crate::cache::object_store::ObjectStore;
use crate::config::agent_keys::limits::{KeyLimits, Ledger};
use crate::http::reply;
use crate::http::request::read_body;
use crate::log;
use crate::usage::month::Usage;
use crate::usage::tally::{self as usage_paths, Added, Batch};
use core::cell::RefCell;
use feishu_tenant_token::Clock;
use feishu_tenant_token::host::JsClock;
use serde::Serialize;
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

/// Storage key of an app's month.
const USAGE: &str = "usage";
/// A batch names at most `month::MAX_NAMES` per dimension.
const MAX_BATCH_BYTES: usize = 256 * 1024;

impl KeyLedger {
    /// An app's month: a batch added (`add`), or the record read.
    async fn usage(&self, mut req: Request, add: bool) -> worker::Result<Response> {
        let stored = self.store.get(USAGE).await?;
        if !add {
            return reply::json_response(200, stored.unwrap_or_default());
        }
        let Ok(body) = read_body(&mut req, MAX_BATCH_BYTES).await? else {
            return reply::json_response(400, String::new());
        };
        let Ok(batch) = serde_json::from_slice::<Batch>(&body) else {
            return reply::json_response(400, String::new());
        };
        let mut record: Usage = stored
            .as_deref()
            .and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_else(|| Usage::new(batch.usage.month.clone()));
        record.add(&batch.usage);
        if let Some(quota) = batch.quota
            && let Some(percent) = record.quota_line(quota)
        {
            #[derive(Serialize)]
            struct Line<'a> {
                event: &'static str,
                app: &'a str,
                month: &'a str,
                percent: u8,
                calls: u64,
                quota: u64,
            }
            log::warn_line(&Line {
                event: "quota_warning",
                app: &batch.app,
                month: &record.month,
                percent,
                calls: record.total.calls,
                quota,
            });
        }
        self.store
            .put(USAGE, &serde_json::to_string(&record).unwrap_or_default())
            .await?;
        let added = Added {
            total: record.total.calls,
        };
        reply::json_response(200, serde_json::to_string(&added).unwrap_or_default())
    }
}

impl DurableObject for KeyLedger {
    fn new(state: State, _env: Env) -> Self {
        Self {
            store: ObjectStore::of(&state),
            ledger: RefCell::new(None),
        }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let path = req.path();
        if path.ends_with(usage_paths::ADD_PATH) || path.ends_with(usage_paths::VIEW_PATH) {
            return self.usage(req, path.ends_with(usage_paths::ADD_PATH)).await;
        }
        if !path.ends_with(ADMIT_PATH) {
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
