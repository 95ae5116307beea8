//! The npm API and the host bindings behind it (wasm32 only): the core bound to
//! the host's `fetch` and clock. `FetchTransport` and `JsClock` are public so
//! other wasm crates (the Worker) use the very same transport.

mod api;
mod convert;
mod errors;
mod fetch;
mod types;

pub use fetch::{DEFAULT_TIMEOUT_MS, FetchTransport, JsClock};
