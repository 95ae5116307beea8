//! Feishu's own token endpoints, answered from the isolate's memory, then KV
//! (then the coordinator, when bound), then Feishu: `tenant_access_token`
//! (for a caller's app token), the self-built apps' two `.../internal` ones
//! and the store apps' `app_access_token`. The request bodies and the
//! clients are `sources/`'.

#[cfg(target_arch = "wasm32")]
pub mod endpoints;
