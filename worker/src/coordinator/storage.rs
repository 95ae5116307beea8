//! What a managed app's object keeps in its Durable Object storage: the
//! app's ticket, when its last ticket resend was claimed, and the app's own
//! token (the copy of record; KV holds the copy isolates read). Fronts reach
//! these through the object (`tickets.rs`); the object itself reads them
//! here directly, since asking its own stub would wait on itself.

use crate::cache::object_store::ObjectStore;
use crate::coordinator::protocol::{
    RESEND_CLAIM, RESEND_RELEASE, TICKET_DELETE, TICKET_GET, TICKET_PUT,
};
use feishu_tenant_token::store_app::RESEND_MIN_INTERVAL_MS;

const TICKET: &str = "ticket";
const RESEND_AT: &str = "resend_at_ms";

/// A ticket operation: the ticket for `ticket-get` (empty when there is
/// none), "1"/"0" for `resend-claim` (granted or not), empty otherwise.
/// The object runs one storage operation at a time (its input gate), so
/// a claim's read-then-write is atomic: the resend limit holds exactly.
pub async fn ticket_op(
    store: &ObjectStore,
    op: &str,
    body: &str,
    now_ms: u64,
) -> worker::Result<String> {
    let answer = match op {
        TICKET_GET => store.get(TICKET).await?,
        TICKET_PUT => store.put(TICKET, body).await.map(|()| None)?,
        TICKET_DELETE => store.delete(TICKET).await.map(|()| None)?,
        RESEND_CLAIM => {
            let last = store.get(RESEND_AT).await?;
            let recent = last
                .and_then(|at| at.parse::<u64>().ok())
                .is_some_and(|at| now_ms.saturating_sub(at) < RESEND_MIN_INTERVAL_MS);
            if !recent {
                store.put(RESEND_AT, &now_ms.to_string()).await?;
            }
            Some(if recent { "0" } else { "1" }.to_owned())
        }
        RESEND_RELEASE => store.delete(RESEND_AT).await.map(|()| None)?,
        _ => return Err(worker::Error::RustError("unknown ticket operation".into())),
    };
    Ok(answer.unwrap_or_default())
}
