//! Agent keys: an operator gives each agent or service a key of its own,
//! scoped to what it may call (`AGENT_KEYS`, read in `config::agent_keys`),
//! and the agent works unchanged with the key where the official SDKs and
//! lark-mcp take the app secret, while the Worker alone holds the app's
//! secret (`SELF_BUILT_APPS`, or store-app mode's) and Feishu's tokens.
//!
//! - `grants`: what a key or gateway token may get and do (pure);
//! - `endpoints`, `calls`: the token endpoints' and the gateway's side;
//! - `ledger`: a limited key's calls counted at its object;
//! - `registry`: the keys as this isolate knows them (`AGENT_KEYS` and the
//!   key registry's).

pub mod grants;

#[cfg(target_arch = "wasm32")]
pub mod calls;
#[cfg(target_arch = "wasm32")]
pub mod endpoints;
#[cfg(target_arch = "wasm32")]
pub mod events;
#[cfg(target_arch = "wasm32")]
pub mod ledger;
#[cfg(target_arch = "wasm32")]
pub mod registry;
