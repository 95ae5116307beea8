//! Any callback request: checking and parsing never panic, and with an
//! Encrypt Key nothing but a URL verification passes without a signature.
#![no_main]
use feishu_tenant_token::event::{Event, EventConfig, SignatureHeaders, receive};
use feishu_tenant_token::secret::{EncryptKey, VerificationToken};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    // The first byte picks the configuration and which headers are present;
    // header values come from the front of the input, separated by '\n'.
    let config = EventConfig {
        encrypt_key: (mode & 1 != 0).then(|| EncryptKey::new("fuzz-key")),
        verification_token: (mode & 2 != 0).then(|| VerificationToken::new("vt")),
        ..EventConfig::default()
    };
    let mut parts = rest.splitn(4, |&b| b == b'\n');
    let ts = parts.next().map(String::from_utf8_lossy);
    let nonce = parts.next().map(String::from_utf8_lossy);
    let sig = parts.next().map(String::from_utf8_lossy);
    let body = parts.next().unwrap_or_default();
    let signed = mode & 4 != 0;
    let headers = SignatureHeaders {
        timestamp: ts.as_deref().filter(|_| signed),
        nonce: nonce.as_deref().filter(|_| signed),
        signature: sig.as_deref().filter(|_| signed),
    };
    if let Ok(r) = receive(body, &headers, &config, 1_700_000_000_000) {
        if config.encrypt_key.is_some() && !r.signed {
            assert!(matches!(r.event, Event::UrlVerification { .. }));
        }
    }
});
