//! Reading a body stream within a bound: what arrives is counted as it
//! arrives, and the stream is cancelled as soon as the bound is passed, so
//! a body of any size, declared or not, costs at most the bound and one
//! chunk of memory. Used for the answers the npm clients' `fetch` and the
//! Worker's gateway inspect, and for every body the Worker reads.

use js_sys::{Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{ReadableStream, ReadableStreamDefaultReader};

/// Why a bounded read stopped without the whole body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unread {
    /// More than the bound arrived (the stream was cancelled).
    TooLarge,
    /// The stream failed or gave something other than bytes.
    Broken,
}

/// All of `stream`, if it ends within `max` bytes.
pub async fn read_within(stream: &ReadableStream, max: u64) -> Result<Vec<u8>, Unread> {
    let reader: ReadableStreamDefaultReader = stream.get_reader().unchecked_into();
    let mut bytes = Vec::new();
    loop {
        let step = JsFuture::from(reader.read())
            .await
            .map_err(|_| Unread::Broken)?;
        let member = |name: &str| Reflect::get(&step, &JsValue::from_str(name));
        if member("done").ok().and_then(|d| d.as_bool()) != Some(false) {
            return Ok(bytes);
        }
        let chunk: Uint8Array = member("value")
            .ok()
            .and_then(|v| v.dyn_into().ok())
            .ok_or(Unread::Broken)?;
        if bytes.len() as u64 + u64::from(chunk.length()) > max {
            let _ = reader.cancel();
            return Err(Unread::TooLarge);
        }
        bytes.extend(chunk.to_vec());
    }
}
