//! Any `encrypt` member: decryption never panics; base64 is canonical (what
//! decodes re-encodes to the same text) and round-trips any bytes.
#![no_main]
use feishu_tenant_token::base64;
use feishu_tenant_token::event::decrypt;
use feishu_tenant_token::secret::EncryptKey;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = decrypt(&EncryptKey::new("fuzz-key"), &text);
    if let Some(bytes) = base64::decode(&text) {
        assert_eq!(base64::encode(&bytes), text);
    }
    assert_eq!(base64::decode(&base64::encode(data)).as_deref(), Some(data));
});
