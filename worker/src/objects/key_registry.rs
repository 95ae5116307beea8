//! The key registry's one object (class `KeyRegistry`, binding
//! `KEY_REGISTRY`, named `registry:v1`): the agent keys made, rotated and
//! revoked at run time (`config::agent_keys::registry`, only the keys'
//! SHA-256, in the object's storage, never in KV), and the last admin
//! actions' audit lines for the operator page. Its input gate runs one
//! change at a time; isolates read its view at most once a second while
//! keys are used (`agents::registry`).

use crate::agents::registry::{AUDIT_PATH, Asked, CHANGE_PATH, SAME, VIEW_PATH};
use crate::cache::object_store::ObjectStore;
use crate::config::agent_keys::registry::Registry;
use crate::http::reply;
use crate::http::request::read_body;
use core::cell::RefCell;
use feishu_tenant_token::Clock;
use feishu_tenant_token::host::JsClock;
use serde_json::Value;
use worker::{DurableObject, Env, Request, Response, State, durable_object};

/// A change is one key entry (at most `MAX_ITEMS` allow and user items).
const MAX_QUESTION_BYTES: usize = 64 * 1024;
/// The audit lines kept for the page (the full record is the log).
pub const AUDIT_LINES_KEPT: usize = 100;

const REGISTRY: &str = "registry";
const AUDIT: &str = "audit";

#[durable_object]
pub struct KeyRegistry {
    store: ObjectStore,
    registry: RefCell<Option<Registry>>,
}

impl KeyRegistry {
    async fn registry(&self) -> worker::Result<Registry> {
        if let Some(r) = self.registry.borrow().as_ref() {
            return Ok(r.clone());
        }
        let stored = self.store.get(REGISTRY).await?;
        let r: Registry = stored
            .as_deref()
            .and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_default();
        self.registry.borrow_mut().replace(r.clone());
        Ok(r)
    }

    async fn audit_lines(&self) -> worker::Result<Vec<Value>> {
        let stored = self.store.get(AUDIT).await?;
        Ok(stored
            .as_deref()
            .and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_default())
    }
}

impl DurableObject for KeyRegistry {
    fn new(state: State, _env: Env) -> Self {
        Self {
            store: ObjectStore::of(&state),
            registry: RefCell::new(None),
        }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let path = req.path();
        let Ok(body) = read_body(&mut req, MAX_QUESTION_BYTES).await? else {
            return reply::json_response(400, String::new());
        };
        let body = String::from_utf8_lossy(&body).into_owned();
        if path.ends_with(VIEW_PATH) {
            let registry = self.registry().await?;
            if body.parse::<u64>().ok() == Some(registry.version) {
                return reply::json_response(200, SAME.to_owned());
            }
            return reply::json_response(200, serde_json::to_string(&registry).unwrap_or_default());
        }
        if path.ends_with(AUDIT_PATH) {
            let lines = self.audit_lines().await?;
            return reply::json_response(200, serde_json::to_string(&lines).unwrap_or_default());
        }
        if !path.ends_with(CHANGE_PATH) {
            return reply::json_response(404, String::new());
        }
        let Ok(asked) = serde_json::from_str::<Asked>(&body) else {
            return reply::json_response(400, String::new());
        };
        let mut registry = self.registry().await?;
        let outcome = match asked.change {
            Some(change) => registry.apply(change, JsClock.now_ms()),
            None => Ok(()),
        };
        if outcome.is_ok() {
            self.store
                .put(
                    REGISTRY,
                    &serde_json::to_string(&registry).unwrap_or_default(),
                )
                .await?;
            self.registry.borrow_mut().replace(registry.clone());
        }
        let mut line = asked.audit;
        if let (Value::Object(o), Err(why)) = (&mut line, &outcome) {
            o.insert("refused".to_owned(), Value::String(why.clone()));
        }
        let mut lines = self.audit_lines().await?;
        lines.push(line);
        let over = lines.len().saturating_sub(AUDIT_LINES_KEPT);
        lines.drain(..over);
        self.store
            .put(AUDIT, &serde_json::to_string(&lines).unwrap_or_default())
            .await?;
        let answer = match outcome {
            Ok(()) => serde_json::json!({"ok": true, "version": registry.version}),
            Err(why) => serde_json::json!({"ok": false, "error": why}),
        };
        reply::json_response(200, answer.to_string())
    }
}
