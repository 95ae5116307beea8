//! The Durable Object classes, one per role, each with its own binding and
//! storage layout: the token coordinator (`token_coordinator`: one object
//! per KV key), the store app's keeper (`store_app_keeper`: the managed
//! app's ticket, resend claim and app token) and each user's object
//! (`user_object`), the limits' object per app and tenant
//! (`limit_keeper`), each limited agent key's ledger and each app's month of usage
//! (`key_ledger`), and the key registry (`key_registry`: keys made at run
//! time, admin actions' last lines), and each app's event log (`event_log`:
//! events received once, pushed to the app's handlers). The first two serve token questions the same way
//! (`key_server`).

#[cfg(target_arch = "wasm32")]
pub mod event_log;
#[cfg(target_arch = "wasm32")]
pub mod key_ledger;
#[cfg(target_arch = "wasm32")]
pub mod key_registry;
#[cfg(target_arch = "wasm32")]
pub mod key_server;
#[cfg(target_arch = "wasm32")]
pub mod limit_keeper;
#[cfg(target_arch = "wasm32")]
pub mod store_app_keeper;
#[cfg(target_arch = "wasm32")]
pub mod token_coordinator;
#[cfg(target_arch = "wasm32")]
pub mod user_object;
