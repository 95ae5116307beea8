//! Forgetting a token Feishu refused, everywhere this isolate can reach.

use crate::cache::evict::{Eviction, evict_refused};
use crate::cache::workers_kv::WorkerKv;
use crate::config::Brand;
use crate::log;
use crate::sources::state;
use feishu_tenant_token::AccessToken;
use serde::Serialize;
use worker::Env;

/// Forgets a refused token: this isolate's memory, then KV (compare-and-
/// delete through the reverse index). One log line, never the token. What
/// KV held is returned: the token's keys, and its replacement if another
/// isolate fetched one already.
/// Only `brand`'s keys in KV are touched (the brand whose host refused).
pub async fn evict(env: &Env, brand: Brand, token: &AccessToken, via: &'static str) -> Eviction {
    let memory = state::forget_refused(token);
    let kv = match WorkerKv::from_env(env) {
        Ok(kv) => evict_refused(&kv, token, brand == Brand::Lark).await,
        Err(_) => Eviction {
            failed: true,
            ..Eviction::default()
        },
    };
    #[derive(Serialize)]
    struct Line {
        event: &'static str,
        via: &'static str,
        memory_entries: usize,
        kv_evicted: usize,
        kv_kept_newer: usize,
        kv_failed: bool,
    }
    log::info(&Line {
        event: "token_refused",
        via,
        memory_entries: memory,
        kv_evicted: kv.evicted,
        kv_kept_newer: kv.replaced,
        kv_failed: kv.failed,
    });
    kv
}
