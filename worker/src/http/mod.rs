//! HTTP in and out: the [`route::Route`] a path names, the way every request
//! goes (`dispatch`), reading what a caller sent (`request`), every answer
//! the Worker writes (`reply`) and CORS (`cors`).

pub mod route;

#[cfg(target_arch = "wasm32")]
pub mod cors;
#[cfg(target_arch = "wasm32")]
pub mod dispatch;
#[cfg(target_arch = "wasm32")]
pub mod reply;
#[cfg(target_arch = "wasm32")]
pub mod request;
