//! Plain JS objects built by this crate's users (the npm API, the Worker).

use js_sys::Object;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// A plain object made here: setting a property on it cannot throw, so
    /// the setter skips the try/catch wrapper `Reflect.set` needs.
    #[wasm_bindgen(extends = Object)]
    pub type Record;
    #[wasm_bindgen(method, structural, indexing_setter)]
    pub fn set(this: &Record, key: &JsValue, value: &JsValue);
}

impl Record {
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Object::new().unchecked_into()
    }

    pub fn set_number(&self, key: &JsValue, v: u64) {
        // Counters and epoch milliseconds stay far below 2^53.
        self.set(key, &JsValue::from_f64(v as f64));
    }
}
