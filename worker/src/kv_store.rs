//! [`KvHost`] over Workers KV (binding `TOKENS`), workerd's timers and its log.

use crate::kv_layer::KvHost;
use crate::log;
use std::time::Duration;
use worker::{Delay, KvStore};

/// The KV binding every entry lives in (wrangler.toml's `[[kv_namespaces]]`).
pub const BINDING: &str = "TOKENS";

#[derive(Clone)]
pub struct WorkerKv(pub KvStore);

impl KvHost for WorkerKv {
    async fn get(&self, key: &str) -> Result<Option<String>, String> {
        self.0.get(key).text().await.map_err(|e| e.to_string())
    }

    async fn put(&self, key: &str, value: &str, ttl_secs: Option<u64>) -> Result<(), String> {
        let put = self.0.put(key, value).map_err(|e| e.to_string())?;
        let put = match ttl_secs {
            Some(ttl) => put.expiration_ttl(ttl),
            None => put,
        };
        put.execute().await.map_err(|e| e.to_string())
    }

    async fn delete(&self, key: &str) -> Result<(), String> {
        self.0.delete(key).await.map_err(|e| e.to_string())
    }

    async fn sleep(&self, ms: u32) {
        Delay::from(Duration::from_millis(u64::from(ms))).await;
    }

    fn warn(&self, event: &'static str, error: &str) {
        log::warn(event, error);
    }
}
