//! A managed app's ticket and resend limit: in the storage of the app's
//! object (named by the app token's KV key), strongly consistent across
//! locations, with KV as the copy the fallback path reads; without the
//! binding, or when the object fails, KV alone.

use crate::cache::ask::Want;
use crate::cache::object_store::ObjectStore;
use crate::cache::tickets::KvTickets;
use crate::cache::workers_kv::WorkerKv;
use crate::coordinator::STORE_APP_BINDING;
use crate::coordinator::ask::ObjectStub;
use crate::coordinator::ask::{fault_seen, post, stub};
use crate::coordinator::protocol::{
    OBJECT_ORIGIN, RESEND_CLAIM, RESEND_RELEASE, TICKET_DELETE, TICKET_GET, TICKET_PREFIX,
    TICKET_PUT,
};
use crate::coordinator::storage::ticket_op;
use feishu_tenant_token::host::JsClock;
use feishu_tenant_token::secret::AppTicket;
use feishu_tenant_token::store_app::TicketStore;
use feishu_tenant_token::{Clock, HttpResponse, kv};
use worker::Env;

pub struct Tickets {
    kv: KvTickets<WorkerKv>,
    keeper: Option<Keeper>,
}

/// Who holds the ticket: the app's object, asked through its stub, or (in
/// the app's object itself) its own storage.
enum Keeper {
    Object(ObjectStub),
    Here(ObjectStore),
}

impl Tickets {
    pub fn new(env: &Env, kv: WorkerKv, app_id: String) -> Self {
        let object = env
            .durable_object(STORE_APP_BINDING)
            .ok()
            .and_then(|namespace| stub(&namespace, &kv::app_token_key(&app_id)).ok());
        Self {
            kv: KvTickets { kv, app_id },
            keeper: object.map(Keeper::Object),
        }
    }

    /// The tickets of the app whose object `store` belongs to.
    pub fn in_object(store: ObjectStore, kv: WorkerKv, app_id: String) -> Self {
        Self {
            kv: KvTickets { kv, app_id },
            keeper: Some(Keeper::Here(store)),
        }
    }

    /// The keeper's answer to `op`; `None` without the binding, or on a
    /// fault (logged).
    async fn call(&self, op: &str, body: &str) -> Option<String> {
        let answer = match self.keeper.as_ref()? {
            Keeper::Here(store) => ticket_op(store, op, body, JsClock.now_ms())
                .await
                .map_err(|_| "the object's storage failed".to_owned()),
            Keeper::Object(stub) => {
                let url = format!("{OBJECT_ORIGIN}{TICKET_PREFIX}{op}");
                match post(stub, &url, body, Want::Servable).await {
                    Ok(HttpResponse {
                        status: 200, body, ..
                    }) => Ok(body),
                    Ok(HttpResponse { status, .. }) => {
                        Err(format!("the coordinator answered HTTP {status}"))
                    }
                    Err(_) => Err("the coordinator could not be asked".to_owned()),
                }
            }
        };
        answer
            .map_err(|why| fault_seen(&format!("ticket {op}: {why}")))
            .ok()
    }

    /// Gives back a resend claim whose resend was never sent.
    pub async fn release_resend(&self) {
        if self.call(RESEND_RELEASE, "").await.is_none() {
            self.kv.release_resend().await;
        }
    }
}

impl TicketStore for Tickets {
    async fn get(&self) -> Result<Option<AppTicket>, String> {
        match self.call(TICKET_GET, "").await {
            Some(t) => Ok((!t.is_empty()).then(|| AppTicket::new(t))),
            None => self.kv.get().await,
        }
    }

    async fn put(&self, ticket: &AppTicket) -> Result<(), String> {
        let stored = self
            .call(TICKET_PUT, ticket.expose_secret())
            .await
            .is_some();
        // KV too: what the fallback path reads. Stored by the object is
        // stored: a failed copy does not refuse the event.
        match self.kv.put(ticket).await {
            Err(why) if !stored => Err(why),
            _ => Ok(()),
        }
    }

    async fn delete(&self) -> Result<(), String> {
        let dropped = self.call(TICKET_DELETE, "").await.is_some();
        match self.kv.delete().await {
            Err(why) if !dropped => Err(why),
            _ => Ok(()),
        }
    }

    async fn claim_resend(&self, now_ms: u64) -> bool {
        match self.call(RESEND_CLAIM, "").await {
            Some(granted) => granted == "1",
            None => self.kv.claim_resend(now_ms).await,
        }
    }
}
