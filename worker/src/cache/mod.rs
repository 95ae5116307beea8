//! Workers KV behind the isolate's memory: the layer that reads, writes and
//! evicts tokens (`layer`, `evict`), a managed app's tickets in KV
//! (`tickets`), and the binding to the namespace (`workers_kv`). Everything
//! but the binding is written over [`layer::KvHost`] and tested natively.

pub mod ask;
pub mod evict;
pub mod layer;
#[cfg(target_arch = "wasm32")]
pub mod object_store;
pub mod tickets;
#[cfg(target_arch = "wasm32")]
pub mod workers_kv;
