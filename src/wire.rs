//! The `tenant_access_token` endpoint on the wire: a request builder and a
//! response parser, both plain functions (no I/O).
//!
//! `POST {base}/open-apis/auth/v3/tenant_access_token`
//! body `{"app_access_token", "tenant_key"}` ->
//! `{"code", "msg", "tenant_access_token", "expire"}`.

use crate::error::Error;
use crate::freshness::TokenGrant;
use crate::json::lenient;
use crate::redact::diagnostic_body;
use crate::secret::AccessToken;
use crate::transport::{HttpRequest, HttpResponse};
use crate::validate::{BaseUrl, MAX_TOKEN_BYTES, TokenRequest};
use serde::{Deserialize, Serialize};

pub const TENANT_TOKEN_PATH: &str = "/open-apis/auth/v3/tenant_access_token";

/// Feishu's "request trigger frequency limit" code.
pub const RATE_LIMITED_CODE: i64 = 99_991_400;

/// Seconds until the rate-limit window resets (Feishu response header).
pub const RATELIMIT_RESET_HEADER: &str = "x-ogw-ratelimit-reset";

/// A token lives at most 2 hours; allow slack for clock skew and future
/// changes, but refuse an `expire` that would pin a token in the cache for days.
pub const MAX_EXPIRE_SECS: u64 = 24 * 60 * 60;

/// Feishu's reply members. A member of the wrong type counts as absent:
/// which ones are present decides the error class. Both token members are
/// read; the endpoint's [`TokenMember`] says which one counts.
#[derive(Deserialize)]
pub(crate) struct TokenReply {
    #[serde(default, deserialize_with = "lenient::int")]
    pub(crate) code: Option<i64>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub(crate) msg: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub(crate) tenant_access_token: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub(crate) app_access_token: Option<String>,
    #[serde(default, deserialize_with = "lenient::int")]
    pub(crate) expire: Option<i64>,
}

/// The request body, `{"app_access_token","tenant_key"}`.
#[derive(Serialize)]
struct TenantTokenBody<'a> {
    app_access_token: &'a str,
    tenant_key: &'a str,
}

/// A request body as JSON. Serialising a struct of strings cannot fail.
pub(crate) fn json_body(body: &impl Serialize) -> String {
    serde_json::to_string(body).unwrap_or_default()
}

pub fn build_tenant_token_request(base: &BaseUrl, request: &TokenRequest) -> HttpRequest {
    HttpRequest::post_json(
        base.join(TENANT_TOKEN_PATH),
        json_body(&TenantTokenBody {
            app_access_token: request.app_access_token.expose_secret(),
            tenant_key: request.tenant_key.as_str(),
        }),
    )
}

/// Turns an answer into a grant or a typed error. `sent_at_ms` is when the
/// request left (the freshness rule counts `expire` from then).
pub fn parse_tenant_token_response(
    response: &HttpResponse,
    sent_at_ms: u64,
) -> Result<TokenGrant, Error> {
    parse_tenant_token_reply(response, read_reply(&response.body), sent_at_ms)
}

/// As [`parse_tenant_token_response`], with the body already read (by the
/// transport's JSON reader, see [`Transport::read_json`](crate::Transport::read_json)).
pub(crate) fn parse_tenant_token_reply(
    response: &HttpResponse,
    reply: Option<TokenReply>,
    sent_at_ms: u64,
) -> Result<TokenGrant, Error> {
    parse_token_reply(response, reply, sent_at_ms, &TENANT_TOKEN_MEMBER)
}

/// A body read with serde_json, the reader of every parser tested natively.
pub(crate) fn read_reply(body: &str) -> Option<TokenReply> {
    crate::json::ReadJson::object(&crate::json::SerdeJson, body)
}

/// The member holding the token in a reply, and the messages naming it
/// (static, so no formatting code is needed on this path).
pub(crate) struct TokenMember {
    pub take: fn(&mut TokenReply) -> Option<String>,
    pub bad: &'static str,
    pub missing: &'static str,
}

pub(crate) const APP_TOKEN_MEMBER: TokenMember = TokenMember {
    take: |r| r.app_access_token.take(),
    bad: "`app_access_token` is empty, too long or has odd characters",
    missing: "`app_access_token` is missing or not a string",
};

pub(crate) const TENANT_TOKEN_MEMBER: TokenMember = TokenMember {
    take: |r| r.tenant_access_token.take(),
    bad: "`tenant_access_token` is empty, too long or has odd characters",
    missing: "`tenant_access_token` is missing or not a string",
};

/// The parser shared by the token endpoints, which differ only in the name
/// of the member holding the token.
pub(crate) fn parse_token_reply(
    response: &HttpResponse,
    reply: Option<TokenReply>,
    sent_at_ms: u64,
    token_member: &TokenMember,
) -> Result<TokenGrant, Error> {
    let mut reply = accepted_reply(response, reply)?;
    let token = (token_member.take)(&mut reply);
    let raw = || diagnostic_body(&response.body);
    grant_from(reply, token, token_member, response.status, sent_at_ms, raw)
}

/// For endpoints whose success carries nothing but `code: 0`.
#[cfg(feature = "store-app")]
pub(crate) fn parse_ok_reply(
    response: &HttpResponse,
    reply: Option<TokenReply>,
) -> Result<(), Error> {
    accepted_reply(response, reply).map(|_| ())
}

/// A 2xx reply with `code: 0`, or the typed error for anything else.
fn accepted_reply(response: &HttpResponse, reply: Option<TokenReply>) -> Result<TokenReply, Error> {
    let status = response.status;
    let feishu = reply
        .as_ref()
        .and_then(|r| r.code.map(|c| (c, r.msg.clone().unwrap_or_default())));

    if status == 429 || matches!(feishu, Some((RATE_LIMITED_CODE, _))) {
        let reset = response
            .ratelimit_reset
            .as_deref()
            .and_then(|v| v.trim().parse::<u64>().ok());
        return Err(Error::rate_limited(status, feishu, reset));
    }

    let raw = || diagnostic_body(&response.body);
    match (reply, feishu) {
        (_, Some((code, msg))) if code != 0 => Err(Error::feishu_api(code, msg, status)),
        (Some(reply), Some(_)) if is_success(status) => Ok(reply),
        _ if !is_success(status) => Err(Error::http(status, raw())),
        (None, _) => Err(Error::invalid_response(
            "body is not the expected JSON",
            status,
            raw(),
        )),
        (Some(_), _) => Err(Error::invalid_response(
            "body has no integer `code`",
            status,
            raw(),
        )),
    }
}

fn is_success(status: u16) -> bool {
    (200..300).contains(&status)
}

fn grant_from(
    reply: TokenReply,
    token: Option<String>,
    token_member: &TokenMember,
    status: u16,
    sent_at_ms: u64,
    raw: impl Fn() -> String,
) -> Result<TokenGrant, Error> {
    let token = match token {
        Some(t) if is_plausible_token(&t) => t,
        Some(_) => {
            return Err(Error::invalid_response(token_member.bad, status, raw()));
        }
        None => {
            return Err(Error::invalid_response(token_member.missing, status, raw()));
        }
    };
    let expire = match reply.expire.map(u64::try_from) {
        Some(Ok(e)) if (1..=MAX_EXPIRE_SECS).contains(&e) => e,
        Some(_) => {
            return Err(Error::invalid_response(
                "`expire` is out of range",
                status,
                raw(),
            ));
        }
        None => {
            return Err(Error::invalid_response(
                "`expire` is missing or not an integer",
                status,
                raw(),
            ));
        }
    };
    Ok(TokenGrant::new(AccessToken::new(token), sent_at_ms, expire))
}

fn is_plausible_token(t: &str) -> bool {
    !t.is_empty() && t.len() <= MAX_TOKEN_BYTES && t.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    const SENT: u64 = 1_000_000;

    fn reply(status: u16, body: &str) -> Result<TokenGrant, Error> {
        reply_with_reset(status, body, None)
    }

    fn reply_with_reset(status: u16, body: &str, reset: Option<&str>) -> Result<TokenGrant, Error> {
        parse_tenant_token_response(
            &HttpResponse {
                status,
                ratelimit_reset: reset.map(str::to_owned),
                body: body.to_owned(),
            },
            SENT,
        )
    }

    fn err(r: Result<TokenGrant, Error>) -> Error {
        match r {
            Ok(g) => panic!(
                "expected an error, got a grant expiring at {}",
                g.expires_at_ms
            ),
            Err(e) => e,
        }
    }

    #[test]
    fn builds_the_documented_request() {
        let req = TokenRequest::parse(
            Some("a-32bd8551db2f081cbfd26293f27516390b9feb04"),
            Some("73658811060f175d"),
        )
        .unwrap();
        let http = build_tenant_token_request(&BaseUrl::default(), &req);
        assert_eq!(
            http.url,
            "https://open.feishu.cn/open-apis/auth/v3/tenant_access_token"
        );
        assert_eq!(http.method.as_str(), "POST");
        assert_eq!(
            http.headers,
            [("content-type", "application/json; charset=utf-8".to_owned())]
        );
        assert_eq!(
            http.body_text(),
            r#"{"app_access_token":"a-32bd8551db2f081cbfd26293f27516390b9feb04","tenant_key":"73658811060f175d"}"#
        );
        assert!(!format!("{http:?}").contains("32bd8551"));
    }

    #[test]
    fn json_special_characters_are_escaped() {
        let req = TokenRequest::parse(Some(r#"a-"\x"#), Some("t")).unwrap();
        let http = build_tenant_token_request(&BaseUrl::default(), &req);
        let body: serde_json::Value = serde_json::from_str(http.body_text()).unwrap();
        assert_eq!(body["app_access_token"], r#"a-"\x"#);
    }

    #[test]
    fn success_yields_token_and_expiry_from_send_time() {
        let g = reply(
            200,
            r#"{"code":0,"msg":"ok","tenant_access_token":"t-caecc734c2e3328a62489fe0648c4b98779515d3","expire":7140}"#,
        )
        .unwrap();
        assert_eq!(
            g.token.expose_secret(),
            "t-caecc734c2e3328a62489fe0648c4b98779515d3"
        );
        assert_eq!(g.expires_at_ms, SENT + 7_140_000);
    }

    #[test]
    fn feishu_api_errors_keep_code_msg_and_status() {
        let e = err(reply(
            400,
            r#"{"code":99991664,"msg":"invalid app access token"}"#,
        ));
        assert_eq!(e.code(), ErrorCode::FeishuApiError);
        assert_eq!(e.feishu_code(), Some(99991664));
        assert_eq!(e.feishu_msg(), Some("invalid app access token"));
        assert_eq!(e.http_status(), Some(400));
        let e = err(reply(200, r#"{"code":10003,"msg":"invalid param"}"#));
        assert_eq!(e.feishu_code(), Some(10003));
        assert_eq!(e.http_status(), Some(200));
    }

    #[test]
    fn rate_limits_by_code_or_status_with_reset_seconds() {
        let e = err(reply_with_reset(
            400,
            r#"{"code":99991400,"msg":"request trigger frequency limit"}"#,
            Some("12"),
        ));
        assert_eq!(e.code(), ErrorCode::RateLimited);
        assert_eq!(e.retry_after_secs(), Some(12));
        assert_eq!(e.feishu_code(), Some(99991400));

        let e = err(reply_with_reset(429, "Too Many Requests", Some(" 3 ")));
        assert_eq!(e.code(), ErrorCode::RateLimited);
        assert_eq!(e.retry_after_secs(), Some(3));
        assert_eq!(e.feishu_code(), None);

        let e = err(reply_with_reset(429, "", Some("soon")));
        assert_eq!(e.retry_after_secs(), None);
    }

    #[test]
    fn http_errors_without_a_feishu_body_keep_the_raw_body() {
        let e = err(reply(502, "<html>Bad Gateway</html>"));
        assert_eq!(e.code(), ErrorCode::HttpError);
        assert_eq!(e.http_status(), Some(502));
        assert_eq!(e.raw_body(), Some("<html>Bad Gateway</html>"));
        let e = err(reply(500, r#"{"error":"boom"}"#));
        assert_eq!(e.code(), ErrorCode::HttpError);
    }

    #[test]
    fn malformed_success_bodies_are_invalid_responses() {
        let cases = [
            ("<html>hello</html>", "not the expected JSON"),
            (
                r#"{"code":0,"msg":"ok","tenant_access_token":"t-1"#,
                "not the expected JSON",
            ),
            (r#"{"msg":"ok"}"#, "no integer `code`"),
            (r#"{"code":"0"}"#, "no integer `code`"),
            ("[0]", "not the expected JSON"),
            (r#"{"code":0,"expire":7200}"#, "missing"),
            (
                r#"{"code":0,"tenant_access_token":7,"expire":7200}"#,
                "not a string",
            ),
            (
                r#"{"code":0,"tenant_access_token":"","expire":7200}"#,
                "empty",
            ),
            (
                r#"{"code":0,"tenant_access_token":"t 1","expire":7200}"#,
                "odd",
            ),
            (
                r#"{"code":0,"tenant_access_token":"t-1"}"#,
                "`expire` is missing",
            ),
            (
                r#"{"code":0,"tenant_access_token":"t-1","expire":"7200"}"#,
                "not an integer",
            ),
            (
                r#"{"code":0,"tenant_access_token":"t-1","expire":0}"#,
                "out of range",
            ),
            (
                r#"{"code":0,"tenant_access_token":"t-1","expire":-5}"#,
                "out of range",
            ),
            (
                r#"{"code":0,"tenant_access_token":"t-1","expire":999999999}"#,
                "out of range",
            ),
            (
                r#"{"code":0,"tenant_access_token":"t-1","expire":7200.5}"#,
                "not an integer",
            ),
        ];
        for (body, why) in cases {
            let e = err(reply(200, body));
            assert_eq!(e.code(), ErrorCode::InvalidResponse, "{body}");
            assert!(e.message().contains(why), "{body}: {}", e.message());
            assert!(e.raw_body().is_some());
        }
    }

    #[test]
    fn raw_bodies_never_keep_a_token() {
        let e = err(reply(
            200,
            r#"{"code":0,"tenant_access_token":"t-secretvalue"}"#,
        ));
        let raw = e.raw_body().unwrap();
        assert!(!raw.contains("t-secretvalue"), "{raw}");
        assert!(!e.to_string().contains("t-secretvalue"));
    }
}
