//! Who reads Feishu's JSON into the serde types: serde_json everywhere by
//! default (and in every native test), or a host's own parser where that
//! links less code (the npm `.wasm`: the host's `JSON.parse`, see
//! `host::HostJson`). The types and their lenient rules are the same either way.

pub(crate) mod lenient;
mod loose;

pub use loose::Loose;
use serde::de::DeserializeOwned;

pub trait ReadJson {
    /// `text` as a JSON object read as `T`; `None` for anything else.
    fn object<T: DeserializeOwned>(&self, text: &str) -> Option<T>;
}

/// serde_json: refuses duplicate members, so two readers of one document
/// can never disagree about which value counts.
#[derive(Clone, Copy, Debug, Default)]
pub struct SerdeJson;

impl ReadJson for SerdeJson {
    fn object<T: DeserializeOwned>(&self, text: &str) -> Option<T> {
        lenient::parse_object(text)
    }
}
