//! What a managed app's coordinator object keeps in its Durable Object
//! storage: the app's ticket, when its last ticket resend was claimed, and
//! the app's own token (the copy of record; KV holds the copy isolates
//! read). Fronts reach these through the object (`coordinated::Tickets`);
//! the object itself reads them here directly, since asking its own stub
//! would wait on itself.

use feishu_tenant_token::store_app::RESEND_MIN_INTERVAL_MS;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use worker::State;
use worker::worker_sys::DurableObjectStorage;

const TICKET: &str = "ticket";
const RESEND_AT: &str = "resend_at_ms";

/// A ticket operation's name, as fronts send it (after `TICKET_PREFIX`).
pub const TICKET_GET: &str = "ticket-get";
pub const TICKET_PUT: &str = "ticket-put";
pub const TICKET_DELETE: &str = "ticket-delete";
pub const RESEND_CLAIM: &str = "resend-claim";
pub const RESEND_RELEASE: &str = "resend-release";

/// The raw storage binding: workers-rs' typed `get`/`put` go through
/// serde-wasm-bindgen, more code than the Worker's size gate carries.
#[derive(Clone)]
pub struct ObjectStore(JsValue);

impl ObjectStore {
    pub fn of(state: &State) -> Self {
        let storage = state.storage();
        let raw: &JsValue = storage.as_raw().as_ref();
        Self(raw.clone())
    }

    fn raw(&self) -> &DurableObjectStorage {
        self.0.unchecked_ref()
    }

    pub async fn get(&self, key: &str) -> Result<Option<String>, JsValue> {
        Ok(JsFuture::from(self.raw().get(key)?).await?.as_string())
    }

    pub async fn put(&self, key: &str, value: &str) -> Result<(), JsValue> {
        JsFuture::from(self.raw().put(key, JsValue::from_str(value))?).await?;
        Ok(())
    }

    pub async fn delete(&self, key: &str) -> Result<(), JsValue> {
        JsFuture::from(self.raw().delete(key)?).await?;
        Ok(())
    }

    /// A ticket operation: the ticket for `ticket-get` (empty when there is
    /// none), "1"/"0" for `resend-claim` (granted or not), empty otherwise.
    /// The object runs one storage operation at a time (its input gate), so
    /// a claim's read-then-write is atomic: the resend limit holds exactly.
    pub async fn ticket_op(&self, op: &str, body: &str, now_ms: u64) -> Result<String, JsValue> {
        let answer = match op {
            TICKET_GET => self.get(TICKET).await?,
            TICKET_PUT => self.put(TICKET, body).await.map(|()| None)?,
            TICKET_DELETE => self.delete(TICKET).await.map(|()| None)?,
            RESEND_CLAIM => {
                let last = self.get(RESEND_AT).await?;
                let recent = last
                    .and_then(|at| at.parse::<u64>().ok())
                    .is_some_and(|at| now_ms.saturating_sub(at) < RESEND_MIN_INTERVAL_MS);
                if !recent {
                    self.put(RESEND_AT, &now_ms.to_string()).await?;
                }
                Some(if recent { "0" } else { "1" }.to_owned())
            }
            RESEND_RELEASE => self.delete(RESEND_AT).await.map(|()| None)?,
            _ => return Err(JsValue::from_str("unknown ticket operation")),
        };
        Ok(answer.unwrap_or_default())
    }
}
