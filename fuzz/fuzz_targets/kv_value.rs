//! Whatever KV returns: decoding never panics, and a decoded grant re-encodes
//! to a value that decodes to the same grant.
#![no_main]
use feishu_tenant_token::kv;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(grant) = kv::decode_value(&String::from_utf8_lossy(data)) {
        assert_eq!(kv::decode_value(&kv::encode_value(&grant)), Some(grant));
    }
});
