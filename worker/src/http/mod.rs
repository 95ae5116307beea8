//! HTTP in and out: reading what a caller sent (`request`), every answer
//! the Worker writes (`reply`) and CORS (`cors`).

#[cfg(target_arch = "wasm32")]
pub mod cors;
#[cfg(target_arch = "wasm32")]
pub mod reply;
#[cfg(target_arch = "wasm32")]
pub mod request;
