//! Calling Feishu for a caller: which headers and body go (`forward`), one
//! request and a look at its answer (`upstream`), forgetting a refused
//! token (`evict`), replacing a token the Worker handed out (`replacement`)
//! and a call made with a token of the Worker's choosing, replayed once with
//! its replacement (`managed_call`: managed, agent and user calls); every
//! call sent within Feishu's frequency limits (`limited`, over `limits/`).

pub mod forward;

#[cfg(target_arch = "wasm32")]
pub mod evict;
#[cfg(target_arch = "wasm32")]
pub mod limited;
#[cfg(target_arch = "wasm32")]
pub mod managed_call;
#[cfg(target_arch = "wasm32")]
pub mod replacement;
#[cfg(target_arch = "wasm32")]
pub mod upstream;
