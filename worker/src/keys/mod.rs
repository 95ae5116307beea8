//! The checks of the Worker's own credentials, at every request: services'
//! API keys and the managed app's own secret (`api_keys`), anything shaped
//! as one of ours that must never reach Feishu (`ours`), and the gateway
//! tokens agent keys are given (`gateway_token`).

pub mod admin_session;
pub mod agent_key;
pub mod bearer;
pub mod gateway_token;
pub mod ours;

#[cfg(target_arch = "wasm32")]
pub mod api_keys;
#[cfg(target_arch = "wasm32")]
pub mod random;
