//! Any `encrypt` member: decryption never panics, and text the base64 engine
//! decryption uses accepts is canonical (it re-encodes to the same text).
#![no_main]
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use feishu_tenant_token::event::decrypt;
use feishu_tenant_token::secret::EncryptKey;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = decrypt(&EncryptKey::new("fuzz-key"), &text);
    if let Ok(bytes) = STANDARD.decode(text.as_bytes()) {
        assert_eq!(STANDARD.encode(&bytes), text);
    }
});
