//! HTTP in and out: reading what a caller sent (`request`, a URL's query
//! and origin: `query`), every answer the Worker writes (`reply`) and CORS
//! (`cors`).

#[cfg(target_arch = "wasm32")]
pub mod cors;
pub mod query;
#[cfg(target_arch = "wasm32")]
pub mod reply;
#[cfg(target_arch = "wasm32")]
pub mod request;
