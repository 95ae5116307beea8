//! Host bindings (wasm32 only): the fetch transport and clock, and with the
//! `npm` feature the npm API over them. `FetchTransport` and `JsClock` are
//! public so other wasm crates (the Worker) use the very same transport.

#[cfg(feature = "npm")]
mod api;
#[cfg(feature = "npm")]
mod convert;
#[cfg(feature = "npm")]
mod errors;
mod fetch;
mod record;
#[cfg(all(feature = "npm", feature = "store-app"))]
mod store_app;
#[cfg(feature = "npm")]
mod types;

pub use fetch::{FetchTransport, JsClock};
