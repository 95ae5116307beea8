//! The fetch transport for real, in wasm: under Node and in headless Chromium
//! (wasm-bindgen-test), against the Feishu sandbox that `scripts/test.sh`
//! starts at `FTT_SANDBOX_URL` (read at compile time).
#![cfg(target_arch = "wasm32")]

use feishu_tenant_token::host::{FetchTransport, JsClock};
use feishu_tenant_token::wire::{build_tenant_token_request, parse_tenant_token_response};
use feishu_tenant_token::{
    BaseUrl, Clock, ErrorCode, Freshness, TokenClient, TokenRequest, Transport, TransportError,
    Upstream,
};
use wasm_bindgen_test::wasm_bindgen_test;

const SANDBOX: &str = match option_env!("FTT_SANDBOX_URL") {
    Some(url) => url,
    None => "http://127.0.0.1:8790",
};
const APP: &str = "a-sandbox-app-one";

/// A tenant key no other test (or earlier run) has used, so the sandbox's
/// per-tenant state starts empty.
fn fresh_tenant(label: &str) -> String {
    format!("{label}-{}", (js_sys::Math::random() * 1e12) as u64)
}

fn base() -> BaseUrl {
    BaseUrl::parse(SANDBOX).expect("FTT_SANDBOX_URL is a loopback http URL")
}

fn transport(timeout_ms: u32) -> FetchTransport {
    FetchTransport::new(None, timeout_ms).expect("this runtime has a global fetch")
}

#[wasm_bindgen_test]
async fn global_fetch_posts_and_the_core_parses_the_answer() {
    let req = TokenRequest::parse(Some(APP), Some(&fresh_tenant("plain"))).unwrap();
    let http = build_tenant_token_request(&base(), &req);
    let sent = JsClock.now_ms();
    let resp = transport(5_000).send(http).await.expect("sandbox answers");
    assert_eq!(resp.status, 200);
    let grant = parse_tenant_token_response(&resp, sent).expect("a token");
    assert!(grant.token.expose_secret().starts_with("t-"));
    assert!(grant.remaining_secs(JsClock.now_ms()) >= 7190);
}

#[wasm_bindgen_test]
async fn the_rate_limit_reset_header_is_readable() {
    // In a browser this needs the sandbox's CORS expose-headers, as with Feishu.
    let req = TokenRequest::parse(Some(APP), Some("fault-429")).unwrap();
    let resp = transport(5_000)
        .send(build_tenant_token_request(&base(), &req))
        .await
        .unwrap();
    assert_eq!(resp.status, 429);
    assert_eq!(resp.ratelimit_reset.as_deref(), Some("2"));
}

#[wasm_bindgen_test]
async fn a_slow_answer_times_out() {
    let req = TokenRequest::parse(Some(APP), Some("fault-slow")).unwrap();
    let started = JsClock.now_ms();
    let err = transport(200)
        .send(build_tenant_token_request(&base(), &req))
        .await
        .unwrap_err();
    assert_eq!(err, TransportError::Timeout { after_ms: 200 });
    assert!(JsClock.now_ms() - started < 2_500);
}

#[wasm_bindgen_test]
async fn a_refused_connection_is_a_network_error() {
    // Port 9 (discard) has no listener on these machines.
    let req = TokenRequest::parse(Some(APP), Some("t")).unwrap();
    let http = build_tenant_token_request(&BaseUrl::parse("http://127.0.0.1:9").unwrap(), &req);
    match transport(5_000).send(http).await {
        Err(TransportError::Network(detail)) => assert!(!detail.contains(APP), "{detail}"),
        other => panic!("expected a network error, got {other:?}"),
    }
}

#[wasm_bindgen_test]
async fn the_client_caches_over_fetch() {
    let client = TokenClient::new(
        Upstream::new(transport(5_000), JsClock, base()),
        JsClock,
        Freshness::default(),
    );
    let req = TokenRequest::parse(Some(APP), Some(&fresh_tenant("cached"))).unwrap();
    let a = client.get(&req).await.unwrap();
    let b = client.get(&req).await.unwrap();
    assert_eq!(a, b);
    let s = client.stats();
    assert_eq!((s.hits, s.upstream_calls), (1, 1));
}

#[wasm_bindgen_test]
async fn feishu_errors_come_through_typed() {
    let client = TokenClient::new(
        Upstream::new(transport(5_000), JsClock, base()),
        JsClock,
        Freshness::default(),
    );
    let req = TokenRequest::parse(Some("a-unknown"), Some("t")).unwrap();
    let e = client.get(&req).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::FeishuApiError);
    assert_eq!(e.feishu_code(), Some(99_991_664));
}
