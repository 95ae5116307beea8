//! The host's CSPRNG (`crypto.getRandomValues`): for keys, IVs, nonces and
//! sign-in states.

/// `N` bytes from the host's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    #[wasm_bindgen::prelude::wasm_bindgen]
    extern "C" {
        #[wasm_bindgen(js_namespace = crypto, js_name = getRandomValues)]
        fn get_random_values(buf: &mut [u8]);
    }
    let mut out = [0u8; N];
    get_random_values(&mut out);
    out
}
