//! A managed app's `app_ticket` and its once-a-minute resend marker in KV:
//! the store the chain uses without a coordinator, and the copy the
//! fallback path reads with one.

use crate::cache::layer::KvHost;
use feishu_tenant_token::kv::{self, KV_MIN_EXPIRATION_TTL_SECS};
use feishu_tenant_token::secret::AppTicket;
use feishu_tenant_token::store_app::TicketStore;

/// A managed app's ticket in KV. A failed read counts as "no ticket" (the
/// chain then asks Feishu for a resend); the resend marker spans every isolate.
pub struct KvTickets<H> {
    pub kv: H,
    pub app_id: String,
}

impl<H: KvHost> TicketStore for KvTickets<H> {
    async fn get(&self) -> Result<Option<AppTicket>, String> {
        let text = self.kv.get(&kv::ticket_key(&self.app_id)).await?;
        Ok(text.filter(|t| !t.is_empty()).map(AppTicket::new))
    }

    async fn put(&self, ticket: &AppTicket) -> Result<(), String> {
        let key = kv::ticket_key(&self.app_id);
        self.kv.put(&key, ticket.expose_secret(), None).await
    }

    async fn delete(&self) -> Result<(), String> {
        self.kv.delete(&kv::ticket_key(&self.app_id)).await
    }

    async fn claim_resend(&self, _now_ms: u64) -> bool {
        let key = kv::resend_marker_key(&self.app_id);
        if let Ok(Some(_)) = self.kv.get(&key).await {
            return false;
        }
        // KV's shortest TTL (60 s) is also the once-a-minute resend limit.
        let _ = self
            .kv
            .put(&key, "1", Some(KV_MIN_EXPIRATION_TTL_SECS))
            .await;
        true
    }
}

impl<H: KvHost> KvTickets<H> {
    /// Gives back a claim whose resend was never sent (Feishu unreachable),
    /// so the next caller may try at once.
    pub async fn release_resend(&self) {
        if let Err(why) = self.kv.delete(&kv::resend_marker_key(&self.app_id)).await {
            self.kv.warn("kv_delete_failed", &why);
        }
    }
}
