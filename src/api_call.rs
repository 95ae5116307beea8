//! Calling a Feishu business API with a tenant token: where the request may
//! go, whether an answer says the token was refused, and whether the request
//! is replayed with a fresh token. Plain functions, tested natively; the npm
//! clients' `fetch` is the host around them.
//!
//! Feishu puts the verdict in the JSON body's `code`, whatever the HTTP status
//! (Feishu, "Common error codes":
//! <https://open.feishu.cn/document/server-docs/api-call-guide/generic-error-code>):
//! 99991663 and 99991665 mean the access token is no longer accepted.

use crate::error::Error;
use crate::json::ReadJson;
use crate::json::lenient;
use crate::validate::BaseUrl;
use serde::Deserialize;

/// The codes that mean "this token is no longer accepted": drop it, fetch a
/// new one, replay once.
pub const TOKEN_REFUSED_CODES: [i64; 2] = [99_991_663, 99_991_665];

/// Answers larger than this are never read for a refusal (a refusal is a
/// few dozen bytes; a large answer is a file or a page of data).
pub const MAX_INSPECTED_BYTES: u64 = 64 * 1024;

/// The URL a call goes to: a path (`/open-apis/...`, resolved against
/// `base`), or an absolute URL on exactly `base`'s origin. Anything else is
/// refused before a token is attached, so a token never leaves for another host.
pub fn resolve(base: &BaseUrl, input: &str) -> Result<String, Error> {
    if input.is_empty() || input.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(Error::invalid_input(
            "the URL is empty or has spaces or control characters",
        ));
    }
    if input.starts_with('/') && !input.starts_with("//") && !input.starts_with("/\\") {
        return Ok(base.join(input));
    }
    let origin = base.origin();
    let same_origin = match (input.get(..origin.len()), input.get(origin.len()..)) {
        (Some(head), Some(rest)) => {
            head.eq_ignore_ascii_case(origin)
                && (rest.is_empty() || rest.starts_with(['/', '?', '#']))
        }
        _ => false,
    };
    if same_origin {
        return Ok(input.to_owned());
    }
    Err(Error::invalid_input(
        "the URL must be a path or on baseUrl's origin: a token is never sent to another host",
    ))
}

/// Whether an answer with this status can be a refusal: an error (HTTP
/// 4xx/5xx). Feishu refuses a token with 400, so an answer with a 2xx or 3xx
/// status is never read nor copied, whatever its size. Asked first, before
/// any header is read: a header read is a crossing into the host and a copy,
/// the most of what a passed-on success cost (`bench/RESULTS.md` row 3b).
pub fn may_refuse(status: u16) -> bool {
    status >= 400
}

/// Whether an answer is read for a refusal: one that [`may_refuse`], JSON by
/// its content type, and not declared larger than [`MAX_INSPECTED_BYTES`]
/// (one of unknown length is read from a bounded copy).
pub fn worth_inspecting(
    status: u16,
    content_type: Option<&str>,
    content_length: Option<&str>,
) -> bool {
    let json = content_type.is_some_and(|ct| {
        let essence = ct.split(';').next().unwrap_or_default().trim();
        essence.eq_ignore_ascii_case("application/json")
            || essence.to_ascii_lowercase().ends_with("+json")
    });
    let small = match content_length.map(|l| l.trim().parse::<u64>()) {
        Some(Ok(l)) => l <= MAX_INSPECTED_BYTES,
        Some(Err(_)) => false,
        None => true,
    };
    may_refuse(status) && json && small
}

#[derive(Deserialize)]
struct CodeOnly {
    #[serde(default, deserialize_with = "lenient::int")]
    code: Option<i64>,
}

/// Whether a JSON body says the token was refused.
pub fn token_refused(json: &impl ReadJson, body: &str) -> bool {
    answer_code(json, body).is_some_and(refuses_token)
}

/// Whether Feishu's `code` says the token was refused.
pub fn refuses_token(code: i64) -> bool {
    TOKEN_REFUSED_CODES.contains(&code)
}

/// Feishu's `code` in a JSON answer no larger than [`MAX_INSPECTED_BYTES`].
pub fn answer_code(json: &impl ReadJson, body: &str) -> Option<i64> {
    if body.len() as u64 > MAX_INSPECTED_BYTES {
        return None;
    }
    json.object::<CodeOnly>(body).and_then(|c| c.code)
}

/// What a request's body allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Body {
    /// No body, or one that can be sent again (a string, bytes, a Blob,
    /// form data, URL parameters).
    Replayable,
    /// A stream: read by the first send, it cannot be sent again.
    Stream,
}

/// What to do with an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Hand the answer to the caller as it is.
    Return,
    /// Drop the refused token, get a fresh one and send the request again.
    Replay,
}

/// At most one replay per call, only for a refused token, only when the body
/// can be sent again. Rate limits (99991400) and the monthly quota (99991403)
/// are never replayed: they are answers, not stale tokens.
pub fn after_answer(refused: bool, replays_so_far: u32, body: Body) -> Next {
    if refused && replays_so_far == 0 && body == Body::Replayable {
        Next::Replay
    } else {
        Next::Return
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use crate::json::SerdeJson;

    fn base() -> BaseUrl {
        BaseUrl::parse("https://open.feishu.cn").unwrap()
    }

    #[test]
    fn the_origin_leaves_out_a_path_prefix() {
        assert_eq!(base().origin(), "https://open.feishu.cn");
        let b = BaseUrl::parse("http://127.0.0.1:8790/prefix").unwrap();
        assert_eq!(b.origin(), "http://127.0.0.1:8790");
    }

    #[test]
    fn paths_resolve_against_the_base() {
        assert_eq!(
            resolve(&base(), "/open-apis/im/v1/messages?receive_id_type=chat_id").unwrap(),
            "https://open.feishu.cn/open-apis/im/v1/messages?receive_id_type=chat_id"
        );
        let proxied = BaseUrl::parse("https://gw.example.com/feishu").unwrap();
        assert_eq!(
            resolve(&proxied, "/open-apis/x").unwrap(),
            "https://gw.example.com/feishu/open-apis/x"
        );
    }

    #[test]
    fn absolute_urls_only_on_the_base_origin() {
        assert!(resolve(&base(), "https://open.feishu.cn/open-apis/x").is_ok());
        assert!(resolve(&base(), "HTTPS://OPEN.FEISHU.CN/open-apis/x").is_ok());
        for other in [
            "https://open.feishu.cn.evil.example/open-apis/x",
            "https://open.feishu.cn@evil.example/x",
            "https://open.feishu.cn:8443/x",
            "http://open.feishu.cn/x",
            "https://open.larksuite.com/x",
            "//evil.example/x",
            "/\\evil.example/x",
            "open-apis/x",
            "javascript:alert(1)",
            "",
            "/open-apis/x y",
            "/open-apis/\nx",
        ] {
            let e = resolve(&base(), other).unwrap_err();
            assert_eq!(e.code(), ErrorCode::InvalidInput, "{other:?}");
        }
    }

    #[test]
    fn only_small_json_answers_are_inspected() {
        assert!(worth_inspecting(
            400,
            Some("application/json; charset=utf-8"),
            None
        ));
        assert!(worth_inspecting(400, Some("Application/JSON"), Some("120")));
        assert!(worth_inspecting(
            400,
            Some("application/problem+json"),
            Some("65536")
        ));
        assert!(
            !worth_inspecting(200, Some("application/json"), Some("120")),
            "a success is never read"
        );
        assert!(!worth_inspecting(302, Some("application/json"), Some("2")));
        assert!(!worth_inspecting(
            400,
            Some("application/json"),
            Some("65537")
        ));
        assert!(
            !worth_inspecting(200, Some("application/json"), None),
            "a stream of unknown size"
        );
        assert!(!worth_inspecting(
            400,
            Some("application/json"),
            Some("many")
        ));
        assert!(!worth_inspecting(
            400,
            Some("application/octet-stream"),
            Some("10")
        ));
        assert!(!worth_inspecting(401, Some("text/html"), None));
        assert!(!worth_inspecting(400, None, Some("10")));
    }

    #[test]
    fn only_errors_may_refuse() {
        for status in [200, 201, 204, 206, 301, 302, 304, 399] {
            assert!(!may_refuse(status), "{status}");
        }
        for status in [400, 401, 403, 429, 500, 503] {
            assert!(may_refuse(status), "{status}");
        }
    }

    #[test]
    fn refusals_are_the_two_codes_in_the_body() {
        for body in [
            r#"{"code":99991663,"msg":"Invalid access token for authorization."}"#,
            r#"{"msg":"x","code":99991665,"data":{}}"#,
        ] {
            assert!(token_refused(&SerdeJson, body), "{body}");
        }
        for body in [
            r#"{"code":0,"data":{"code":99991663}}"#,
            r#"{"code":99991400,"msg":"request trigger frequency limit"}"#,
            r#"{"code":99991403,"msg":"monthly quota exceeded"}"#,
            r#"{"code":"99991663"}"#,
            r#"[99991663]"#,
            "99991663",
            "not json",
        ] {
            assert!(!token_refused(&SerdeJson, body), "{body}");
        }
        let padded = format!(r#"{{"code":99991663,"pad":"{}"}}"#, "x".repeat(70_000));
        assert!(!token_refused(&SerdeJson, &padded), "over the bound");
    }

    #[test]
    fn one_replay_for_a_refused_token_with_a_replayable_body() {
        assert_eq!(after_answer(true, 0, Body::Replayable), Next::Replay);
        assert_eq!(after_answer(true, 1, Body::Replayable), Next::Return);
        assert_eq!(after_answer(true, 0, Body::Stream), Next::Return);
        assert_eq!(after_answer(false, 0, Body::Replayable), Next::Return);
    }
}
