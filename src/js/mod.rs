//! The npm API: the core bound to the host's `fetch` and clock (wasm32 only).

mod api;
mod convert;
mod errors;
mod fetch;
mod types;
