//! [`KvHost`] over Workers KV (binding `TOKENS`), workerd's timers and its log.
//!
//! A size trick, fenced here: KV is called through its raw JS binding, not
//! workers-rs' `KvStore`, whose builders read and write their options and
//! answers through serde-wasm-bindgen and format KV errors with core's float
//! printing. Measured on the whole Worker: 216,038 B gzip -9 with `KvStore`,
//! 201,628 B with the raw binding (−14.4 KB; `make bench`'s size rows, see
//! docs/size.md). Everything else in the Worker uses workers-rs' typed API.

use crate::cache::layer::KvHost;
use crate::cache::object_store::ObjectStore;
use crate::log;
use js_sys::{Array, Function, Object, Promise, Reflect};
use std::time::Duration;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use worker::{Delay, Env};

/// The KV binding every entry lives in (wrangler.toml's `[[kv_namespaces]]`).
pub const BINDING: &str = "TOKENS";

/// The namespace's raw binding (see [`WorkerKv::call`]).
#[derive(Clone)]
pub struct WorkerKv {
    raw: JsValue,
    /// One key whose copy of record is a Durable Object's storage.
    mirror: Option<(String, ObjectStore)>,
}

impl WorkerKv {
    /// The namespace bound as `TOKENS`, or the misconfiguration to report.
    pub fn from_env(env: &Env) -> Result<Self, String> {
        match Reflect::get(env, &JsValue::from_str(BINDING)) {
            Ok(raw) if raw.is_object() => Ok(Self { raw, mirror: None }),
            _ => Err(format!(
                "worker misconfigured: no KV namespace bound as {BINDING}"
            )),
        }
    }

    /// The same namespace, with `key` kept in `store` too (a managed app's
    /// object keeps its app token there): read there first, strongly
    /// consistent and surviving the object's eviction; written and deleted
    /// in both, KV's copy being what isolates read.
    pub fn mirroring(mut self, key: String, store: ObjectStore) -> Self {
        self.mirror = Some((key, store));
        self
    }

    fn mirror_of(&self, key: &str) -> Option<&ObjectStore> {
        self.mirror
            .as_ref()
            .and_then(|(k, store)| (k == key).then_some(store))
    }

    /// `TOKENS.<method>(...args)`, awaited (see the module's note).
    async fn call(&self, method: &str, args: &[JsValue]) -> Result<JsValue, String> {
        let f: Function = Reflect::get(&self.raw, &JsValue::from_str(method))
            .map_err(js_error)?
            .dyn_into()
            .map_err(|_| format!("KV binding has no {method}()"))?;
        let args: Array = args.iter().collect();
        let promise: Promise = f
            .apply(&self.raw, &args)
            .map_err(js_error)?
            .dyn_into()
            .map_err(|_| format!("KV {method}() did not return a promise"))?;
        JsFuture::from(promise).await.map_err(js_error)
    }
}

/// What a failed JS call said, never a stored value.
fn js_error(e: JsValue) -> String {
    e.as_string()
        .or_else(|| {
            Reflect::get(&e, &JsValue::from_str("message"))
                .ok()?
                .as_string()
        })
        .unwrap_or_else(|| "KV call failed".to_owned())
}

impl KvHost for WorkerKv {
    async fn get(&self, key: &str) -> Result<Option<String>, String> {
        if let Some(store) = self.mirror_of(key) {
            match store.get(key).await {
                Ok(Some(value)) => return Ok(Some(value)),
                Ok(None) => {}
                Err(e) => log::warn("object_storage_failed", &e.to_string()),
            }
        }
        let value = self.call("get", &[JsValue::from_str(key)]).await?;
        Ok(value.as_string())
    }

    async fn put(&self, key: &str, value: &str, ttl_secs: Option<u64>) -> Result<(), String> {
        let options = Object::new();
        if let Some(ttl) = ttl_secs {
            // Seconds, far below 2^53.
            Reflect::set(
                &options,
                &"expirationTtl".into(),
                &JsValue::from_f64(ttl as f64),
            )
            .map_err(js_error)?;
        }
        let args = [
            JsValue::from_str(key),
            JsValue::from_str(value),
            options.into(),
        ];
        let kept = match self.mirror_of(key) {
            Some(store) => store.put(key, value).await.map_err(|e| e.to_string()),
            None => Ok(()),
        };
        self.call("put", &args).await.and(kept).map(|_| ())
    }

    async fn delete(&self, key: &str) -> Result<(), String> {
        let dropped = match self.mirror_of(key) {
            Some(store) => store.delete(key).await.map_err(|e| e.to_string()),
            None => Ok(()),
        };
        self.call("delete", &[JsValue::from_str(key)])
            .await
            .and(dropped)
            .map(|_| ())
    }

    async fn sleep(&self, ms: u32) {
        Delay::from(Duration::from_millis(u64::from(ms))).await;
    }

    fn warn(&self, event: &'static str, error: &str) {
        log::warn(event, error);
    }
}
