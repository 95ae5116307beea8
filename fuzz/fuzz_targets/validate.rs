//! Input validation: never panics; what it accepts is visible ASCII within
//! bounds, and every refusal is one of the fixed messages (so it can never
//! carry the refused value).
#![no_main]
use feishu_tenant_token::validate::{MAX_TENANT_KEY_BYTES, MAX_TOKEN_BYTES};
use feishu_tenant_token::{BaseUrl, TokenRequest};
use libfuzzer_sys::fuzz_target;

fn allowed(name: &str, len: usize, max: usize) -> [String; 3] {
    [
        format!("invalid input: {name} is empty"),
        format!("invalid input: {name} is too long ({len} bytes; at most {max})"),
        format!(
            "invalid input: {name} may hold only visible ASCII characters (no spaces, control characters or non-ASCII)"
        ),
    ]
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (a, b) = text.split_once('\u{1f}').unwrap_or((&text, "tenant"));
    match TokenRequest::parse(Some(a), Some(b)) {
        Ok(r) => {
            let t = r.app_access_token.expose_secret();
            assert!(t.len() <= MAX_TOKEN_BYTES && t.bytes().all(|c| c.is_ascii_graphic()));
            assert!(r.tenant_key.as_str().len() <= MAX_TENANT_KEY_BYTES);
        }
        Err(e) => {
            let mut ok = allowed("app_access_token", a.len(), MAX_TOKEN_BYTES).to_vec();
            ok.extend(allowed("tenant_key", b.len(), MAX_TENANT_KEY_BYTES));
            assert!(
                ok.iter().any(|m| m == e.message()),
                "unexpected message: {}",
                e.message()
            );
        }
    }
    if let Err(e) = BaseUrl::parse(a) {
        assert!(e.message().starts_with("invalid input: baseUrl "));
    }
});
