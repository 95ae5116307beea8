//! Where the isolate's tokens come from: the token requests' bodies
//! (`body`), the clients over memory, KV, the coordinator and Feishu
//! (`clients`), store-app mode's chain (`chain`), and the isolate's slots
//! holding them (`state`).

pub mod body;
#[cfg(target_arch = "wasm32")]
pub mod chain;
#[cfg(target_arch = "wasm32")]
pub mod clients;
#[cfg(target_arch = "wasm32")]
pub mod state;
