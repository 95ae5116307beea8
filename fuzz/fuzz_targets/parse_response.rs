//! Any status, header and body: the parser returns a grant or a typed error,
//! never panics, and never keeps a token in what it reports.
#![no_main]
use feishu_tenant_token::HttpResponse;
use feishu_tenant_token::wire::parse_tenant_token_response;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let (reset, body) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (
            Some(String::from_utf8_lossy(&rest[..i]).into_owned()),
            &rest[i + 1..],
        ),
        None => (None, rest),
    };
    let status = [200u16, 201, 400, 401, 429, 500, 502, 504][usize::from(first) % 8];
    let response = HttpResponse {
        status,
        ratelimit_reset: reset,
        body: String::from_utf8_lossy(body).into_owned(),
    };
    match parse_tenant_token_response(&response, 1_700_000_000_000) {
        Ok(grant) => {
            let token = grant.token.expose_secret();
            assert!(!token.is_empty() && token.bytes().all(|b| b.is_ascii_graphic()));
            assert!(grant.expires_at_ms > 1_700_000_000_000);
        }
        Err(e) => {
            if let Some(raw) = e.raw_body() {
                assert!(raw.len() <= 1024 + "…[truncated]".len());
            }
        }
    }
});
