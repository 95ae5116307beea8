//! Feishu's frequency limits met at the gateway (`RATE_LIMITS`,
//! `RATE_LIMIT_WAIT_MS`): every call through the Worker is admitted under
//! its limit key (brand, app and tenant or user, or the token it bears,
//! and its route), waits its turn when the route has a known limit or
//! Feishu closed the key, and a limit answer closes the key for every later
//! call in this isolate and, with `LIMIT_KEEPERS` bound, in every isolate
//! (`keeper`). The rules (what a limit answer is, routes, rates,
//! pacing) are the core's `rate_limit`; this folder holds the isolate's
//! pacers and does the waiting. Above `sources/` and below `calls/`.

pub mod admit;
pub mod coalesce;
mod isolate;
pub mod keeper;
mod line;
