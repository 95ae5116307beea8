//! The top: the [`route::Route`] a path names, and the way every request
//! goes (`dispatch`).

pub mod route;

#[cfg(target_arch = "wasm32")]
pub mod dispatch;
