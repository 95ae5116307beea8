//! [`KvHost`] over Workers KV (binding `TOKENS`), workerd's timers and its log.

use crate::kv_layer::KvHost;
use crate::log;
use js_sys::{Array, Function, Object, Promise, Reflect};
use std::time::Duration;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use worker::{Delay, Env, KvStore};

/// The KV binding every entry lives in (wrangler.toml's `[[kv_namespaces]]`).
pub const BINDING: &str = "TOKENS";

/// The namespace through workers-rs, and the raw binding for `list` and
/// `put`: their workers-rs wrappers go through serde-wasm-bindgen, which
/// would add kilobytes to the Worker.
#[derive(Clone)]
pub struct WorkerKv {
    store: KvStore,
    raw: JsValue,
}

impl WorkerKv {
    pub fn from_env(env: &Env) -> Option<Self> {
        let store = env.kv(BINDING).ok()?;
        let raw = Reflect::get(env, &JsValue::from_str(BINDING)).ok()?;
        Some(Self { store, raw })
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
    async fn list(&self, prefix: &str) -> Result<Vec<String>, String> {
        let list: Function = Reflect::get(&self.raw, &JsValue::from_str("list"))
            .map_err(js_error)?
            .dyn_into()
            .map_err(|_| "KV binding has no list()".to_owned())?;
        let options = Object::new();
        Reflect::set(&options, &"prefix".into(), &JsValue::from_str(prefix)).map_err(js_error)?;
        let promise: Promise = list
            .call1(&self.raw, &options)
            .map_err(js_error)?
            .dyn_into()
            .map_err(|_| "KV list() did not return a promise".to_owned())?;
        let answer = JsFuture::from(promise).await.map_err(js_error)?;
        let keys: Array = Reflect::get(&answer, &"keys".into())
            .map_err(js_error)?
            .dyn_into()
            .map_err(|_| "KV list() answer has no keys".to_owned())?;
        Ok(keys
            .iter()
            .filter_map(|k| Reflect::get(&k, &"name".into()).ok()?.as_string())
            .collect())
    }

    async fn get(&self, key: &str) -> Result<Option<String>, String> {
        self.store.get(key).text().await.map_err(|e| e.to_string())
    }

    async fn put(&self, key: &str, value: &str, ttl_secs: Option<u64>) -> Result<(), String> {
        // The raw binding: workers-rs' `put` takes a `&str` as `Serialize`,
        // through serde-wasm-bindgen and float formatting (11 KB of code).
        let put: Function = Reflect::get(&self.raw, &JsValue::from_str("put"))
            .map_err(js_error)?
            .dyn_into()
            .map_err(|_| "KV binding has no put()".to_owned())?;
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
        let promise: Promise = put
            .call3(
                &self.raw,
                &JsValue::from_str(key),
                &JsValue::from_str(value),
                &options,
            )
            .map_err(js_error)?
            .dyn_into()
            .map_err(|_| "KV put() did not return a promise".to_owned())?;
        JsFuture::from(promise).await.map(|_| ()).map_err(js_error)
    }

    async fn delete(&self, key: &str) -> Result<(), String> {
        self.store.delete(key).await.map_err(|e| e.to_string())
    }

    async fn sleep(&self, ms: u32) {
        Delay::from(Duration::from_millis(u64::from(ms))).await;
    }

    fn warn(&self, event: &'static str, error: &str) {
        log::warn(event, error);
    }
}
