//! Usage: every call the Worker makes for an app it holds, counted per
//! month (UTC+8) in all and per tenant, agent key, user and API
//! (`month`); each isolate's counts batched and added up at the app's
//! month object, a `KeyLedger` named `usage:v1:<app>:<month>` (`tally`);
//! read back for `GET /v1/usage` and the operator page (`read`). The
//! monthly quota's guard reads the same totals.

pub mod month;

#[cfg(target_arch = "wasm32")]
pub mod read;
#[cfg(target_arch = "wasm32")]
pub mod tally;
