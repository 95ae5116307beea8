//! Host bindings (wasm32 only), shared by the npm package and the Worker: the
//! transport over the host's global `fetch` (never `window`, which Node, Deno,
//! Bun and Workers lack), the JS clock, the plain-object helper, and the check
//! of an API answer for a refused token, and bounded reading of a body stream.

mod fetch;
mod record;
mod refusal;
mod stream;

pub use fetch::{FetchTransport, HostJson, JsClock};
pub use record::Record;
pub use refusal::{answer_code, refuses_token};
pub use stream::{Unread, read_within};
