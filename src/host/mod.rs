//! Host bindings (wasm32 only), shared by the npm package and the Worker: the
//! transport over the host's global `fetch` (never `window`, which Node, Deno,
//! Bun and Workers lack), the JS clock, and the plain-object helper.

mod fetch;
mod record;

pub use fetch::{FetchTransport, HostJson, JsClock};
pub use record::Record;
