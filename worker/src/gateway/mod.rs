//! The gateway: every `/open-apis/*` request the token endpoints do not
//! answer goes on to `FEISHU_BASE_URL` (never another host) with its method,
//! path, query, headers (less those `forward::forwarded` drops) and body,
//! streamed both ways, nothing cached. A small JSON answer saying the bearer
//! token was refused (99991663/99991665, `host::answer_code`, the check the
//! npm clients' `fetch` uses too) evicts that token from this isolate's
//! memory and from KV (compare-and-delete); a token the Worker handed out is
//! then replaced in flight (`replacement.rs`). With `X-Tenant-Key`
//! and an API key, a managed call: the Worker puts the tenant's token in,
//! and replays once with a fresh one if Feishu refused it.

pub mod forward;

#[cfg(target_arch = "wasm32")]
mod evict;
#[cfg(target_arch = "wasm32")]
pub mod managed_call;
#[cfg(target_arch = "wasm32")]
pub mod pass_through;
#[cfg(target_arch = "wasm32")]
pub mod replacement;
#[cfg(target_arch = "wasm32")]
pub mod upstream;
