//! Plain JS objects this crate builds.

use js_sys::Object;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// A plain object this crate made: setting a property on it cannot throw,
    /// so the setter skips the try/catch wrapper `Reflect.set` needs.
    #[wasm_bindgen(extends = Object)]
    pub(crate) type Record;
    #[wasm_bindgen(method, structural, indexing_setter)]
    pub(crate) fn set(this: &Record, key: &JsValue, value: &JsValue);
}

impl Record {
    pub(crate) fn new() -> Self {
        Object::new().unchecked_into()
    }

    #[cfg(feature = "npm")]
    pub(crate) fn set_number(&self, key: &JsValue, v: u64) {
        // Counters and epoch milliseconds stay far below 2^53.
        self.set(key, &JsValue::from_f64(v as f64));
    }
}
