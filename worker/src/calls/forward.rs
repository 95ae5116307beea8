//! The gateway's rules for passing a request on to Feishu: which headers
//! go, which token a request carries, whether its body may be kept for a
//! replay. Pure, so they are tested natively; `upstream.rs` does the I/O.

/// `X-Tenant-Key`: a managed API call's tenant (never forwarded).
pub const TENANT_HEADER: &str = "x-tenant-key";

/// `X-User-Id`: a managed call's user (their user token goes in); never
/// forwarded, nor `X-App-Id`, which names the user's app among several.
pub const USER_HEADER: &str = "x-user-id";
pub const APP_HEADER: &str = "x-app-id";

/// Largest body a managed API call keeps, so that it can be sent again
/// after Feishu refused the token. A larger one (a file upload) is
/// streamed once and not replayed, so the Worker never holds it whole.
pub const MAX_REPLAY_BODY_BYTES: u64 = 1024 * 1024;

/// Headers that ask a server to act as another method than the one sent
/// (`X-HTTP-Method-Override: DELETE` on a `POST`): an allow-list checks
/// the method sent, so none of them goes on.
const METHOD_OVERRIDES: [&str; 3] = [
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

/// Hop-by-hop headers (RFC 9110, section 7.6.1, "Connection"; and the
/// proxy ones RFC 9110 and RFC 7230 name): they describe one connection,
/// not the request, so a proxy never forwards them.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Whether a request header goes on to Feishu. Not: hop-by-hop headers
/// (and any the `Connection` header names), `Host` and `Content-Length`
/// (the runtime sets both for the new request), the platform's own `cf-*`
/// and the client-address headers it adds (`X-Forwarded-*`, `X-Real-IP`,
/// `True-Client-IP`: Feishu needs no caller's address), [`TENANT_HEADER`],
/// [`USER_HEADER`], [`APP_HEADER`], the method overrides
/// ([`METHOD_OVERRIDES`]: an allow-list checks the method sent),
/// and `Cookie`: Feishu's API takes none, and on a company domain any page
/// could make a visitor's browser send its session cookies through the
/// Worker to Feishu.
#[cfg(test)]
pub fn forwarded(name: &str, connection: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let named_by_connection = connection
        .split(',')
        .any(|t| t.trim().eq_ignore_ascii_case(&name));
    !(named_by_connection
        || REQUEST_DROPPED_NAMES.contains(&name.as_str())
        || REQUEST_DROPPED_PREFIXES.iter().any(|p| name.starts_with(p)))
}

/// The request headers that never go on, by name and by prefix (lower
/// case): [`forwarded`]'s rule, which `calls::upstream::send` also hands to
/// the runtime to apply in one step.
pub const REQUEST_DROPPED_NAMES: [&str; 20] = [
    HOP_BY_HOP[0],
    HOP_BY_HOP[1],
    HOP_BY_HOP[2],
    HOP_BY_HOP[3],
    HOP_BY_HOP[4],
    HOP_BY_HOP[5],
    HOP_BY_HOP[6],
    HOP_BY_HOP[7],
    HOP_BY_HOP[8],
    "host",
    "content-length",
    "x-real-ip",
    "true-client-ip",
    "cookie",
    TENANT_HEADER,
    USER_HEADER,
    APP_HEADER,
    METHOD_OVERRIDES[0],
    METHOD_OVERRIDES[1],
    METHOD_OVERRIDES[2],
];
pub const REQUEST_DROPPED_PREFIXES: [&str; 2] = ["cf-", "x-forwarded-"];

/// Whether an answer header from Feishu comes back to the caller (the rule
/// the runtime applies in one step, `calls::upstream::passed_on`, with the
/// two lists below; spelt out here for the native tests). Not:
/// `Access-Control-*` (CORS is the Worker's own, by `ALLOWED_ORIGINS`, on
/// every answer) and `Set-Cookie` (a cookie Feishu sets would be stored for
/// the Worker's origin, shared by every page of it, and sent back to a
/// Worker that forwards no `Cookie`: nothing but risk).
#[cfg(test)]
pub fn answer_header_kept(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    !(ANSWER_DROPPED_PREFIXES.iter().any(|p| name.starts_with(p))
        || ANSWER_DROPPED_NAMES.contains(&name.as_str()))
}

/// The answer headers that never come back, by prefix and by name (lower
/// case, as `Headers` gives names).
pub const ANSWER_DROPPED_PREFIXES: [&str; 1] = ["access-control-"];
pub const ANSWER_DROPPED_NAMES: [&str; 1] = ["set-cookie"];

/// The path and query of the absolute URL the runtime hands a request with
/// (`https://host/open-apis/x?y` -> `/open-apis/x?y`), already normalised
/// by it. Read off the string rather than parsed again: the `url` crate's
/// parser would add ~100 KB (IDNA tables) to the Worker for nothing.
pub fn path_and_query(url: &str) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    match after_scheme.find('/') {
        Some(i) => after_scheme[i..].to_owned(),
        None => "/".to_owned(),
    }
}

/// What a managed call does with the caller's body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyPlan {
    /// No body (GET, HEAD, or none sent): the call can be replayed.
    None,
    /// Declared no larger than [`MAX_REPLAY_BODY_BYTES`]: read whole, so the
    /// call can be replayed with a fresh token.
    Keep,
    /// Larger, or of unknown length: streamed once, never replayed.
    Stream,
}

/// Decides from the method and the declared `Content-Length` alone, before
/// a byte of the body is read.
pub fn body_plan(method: &str, content_length: Option<&str>, has_body: bool) -> BodyPlan {
    if !has_body || method.eq_ignore_ascii_case("GET") || method.eq_ignore_ascii_case("HEAD") {
        return BodyPlan::None;
    }
    match content_length.map(|l| l.trim().parse::<u64>()) {
        Some(Ok(0)) => BodyPlan::None,
        Some(Ok(n)) if n <= MAX_REPLAY_BODY_BYTES => BodyPlan::Keep,
        _ => BodyPlan::Stream,
    }
}

/// Feishu's code when an app's monthly API call quota is spent
/// (`../shared/feishu-limits.md`).
pub const QUOTA_EXHAUSTED: i64 = 99_991_403;

/// What 99991403 means, added to Feishu's `msg` on the way back (an SDK
/// shows the `msg`; the code alone says little, and every caller of the app
/// meets it at once).
pub const QUOTA_EXHAUSTED_MEANS: &str = "the app's monthly API call quota is spent: Feishu refuses every call of this app, from every caller, until the next calendar month (UTC+8) or a plan upgrade";

/// Feishu's answer `text` as `{"code", "msg"}` with
/// [`QUOTA_EXHAUSTED_MEANS`] added to its `msg`; `None` when it is not a
/// JSON object. Its other members are not carried over (Feishu's `error`
/// with its `log_id` stays in the `x-tt-logid` header it also sends):
/// serde's writers for arbitrary members were 1.6 to 3.6 KB gzip of the
/// Worker (measured), for an answer that says one thing.
pub fn quota_explained(text: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Read {
        #[serde(default)]
        msg: Option<String>,
    }
    #[derive(serde::Serialize)]
    struct Written {
        code: i64,
        msg: String,
    }
    let read: Read = serde_json::from_str(text).ok()?;
    let msg = match read.msg.filter(|m| !m.is_empty()) {
        Some(said) => format!("{said} ({QUOTA_EXHAUSTED_MEANS})"),
        None => QUOTA_EXHAUSTED_MEANS.to_owned(),
    };
    serde_json::to_string(&Written {
        code: QUOTA_EXHAUSTED,
        msg,
    })
    .ok()
}

#[cfg(test)]
mod quota_tests {
    use super::*;

    #[test]
    fn a_spent_quota_is_explained_in_feishus_own_shape() {
        let text = r#"{"code":99991403,"msg":"monthly API call quota exceeded","error":{"log_id":"2026x"}}"#;
        let out: serde_json::Value = serde_json::from_str(&quota_explained(text).unwrap()).unwrap();
        assert_eq!(out["code"], 99_991_403);
        assert_eq!(out.as_object().unwrap().len(), 2, "code and msg");
        let msg = out["msg"].as_str().unwrap();
        assert!(
            msg.starts_with("monthly API call quota exceeded ("),
            "{msg}"
        );
        assert!(msg.contains("next calendar month (UTC+8)"), "{msg}");
        let bare = quota_explained(r#"{"code":99991403}"#).unwrap();
        assert!(bare.contains(QUOTA_EXHAUSTED_MEANS));
        for not_an_object in ["[1]", "not json", "\"x\""] {
            assert_eq!(quota_explained(not_an_object), None, "{not_an_object}");
        }
    }
}

#[cfg(test)]
mod secret_tests {
    use super::*;
    use crate::keys::ours::carries_ours;
    use feishu_tenant_token::secret::{ApiKey, contains_secret};

    #[test]
    fn a_secret_is_found_anywhere_in_a_header_value() {
        let key = "k".repeat(32);
        for text in [
            key.clone(),
            format!("Token {key}"),
            format!("Bearer {key}, Bearer x"),
            format!("a{key}b"),
        ] {
            assert!(contains_secret(&text, &key), "{text}");
        }
        assert!(!contains_secret("Bearer kkkk", &key));
        assert!(!contains_secret("anything", ""));
    }

    #[test]
    fn method_overrides_never_go_on() {
        for name in [
            "X-HTTP-Method-Override",
            "x-http-method",
            "X-Method-Override",
        ] {
            assert!(!forwarded(name, ""), "{name}");
        }
    }

    #[test]
    fn our_credentials_are_found_in_any_shape() {
        let api = ApiKey::new("api-key-0123456789abcdef0123456789abcdef");
        let keys = [api.clone()];
        let gateway = "g1.eyJrIjoiYSIsImEiOiJjbGlfeCJ9.c2lnbmF0dXJl";
        for text in [
            "Bearer ftt_ak_0123456789abcdef".to_owned(),
            "ftt_ak_0123456789abcdef".to_owned(),
            "Token FTT_AK_0123456789abcdef".to_owned(),
            format!("Bearer {gateway}"),
            gateway.to_owned(),
            format!("Bearer{gateway}"),
            format!("x,{gateway};y"),
            format!("Basic {}", api.expose_secret()),
            format!("prefix{}suffix", api.expose_secret()),
        ] {
            assert!(carries_ours(&text, &keys), "{text}");
        }
        for text in [
            "Bearer t-g1.abc",
            "Bearer t-0123456789abcdef",
            "Mozilla/5.0 (g1.2)",
            "",
            "Bearer u-abc",
        ] {
            assert!(!carries_ours(text, &keys), "{text}");
        }
    }

    #[test]
    fn cookies_stay_here_and_cors_and_set_cookie_are_ours() {
        assert!(!forwarded("Cookie", ""));
        assert!(!answer_header_kept("Access-Control-Allow-Origin"));
        assert!(!answer_header_kept("set-cookie"));
        assert!(answer_header_kept("content-type"));
        assert!(answer_header_kept("x-ogw-ratelimit-reset"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_headers_go_on_except_hop_by_hop_platform_and_ours() {
        for kept in [
            "Authorization",
            "content-type",
            "Accept",
            "User-Agent",
            "x-request-id",
            "cache-control",
        ] {
            assert!(forwarded(kept, ""), "{kept}");
        }
        for dropped in [
            "Connection",
            "keep-alive",
            "Transfer-Encoding",
            "TE",
            "upgrade",
            "Proxy-Authorization",
            "host",
            "content-length",
            "CF-Connecting-IP",
            "cf-ray",
            "cf-ipcountry",
            "X-Forwarded-For",
            "x-forwarded-proto",
            "x-real-ip",
            "True-Client-IP",
            "X-Tenant-Key",
        ] {
            assert!(!forwarded(dropped, ""), "{dropped}");
        }
        assert!(
            !forwarded("x-trace", "keep-alive, X-Trace"),
            "named by Connection"
        );
        assert!(forwarded("x-trace", "close"));
    }

    #[test]
    fn path_and_query_off_the_runtime_url() {
        assert_eq!(
            path_and_query("https://gw.example.com/open-apis/im/v1/messages?a=1&b=%20"),
            "/open-apis/im/v1/messages?a=1&b=%20"
        );
        assert_eq!(
            path_and_query("http://127.0.0.1:8787/open-apis/"),
            "/open-apis/"
        );
        assert_eq!(path_and_query("http://worker"), "/");
    }

    #[test]
    fn small_declared_bodies_are_kept_for_a_replay_others_stream() {
        assert_eq!(body_plan("GET", None, false), BodyPlan::None);
        assert_eq!(body_plan("get", Some("10"), true), BodyPlan::None);
        assert_eq!(body_plan("POST", Some("0"), true), BodyPlan::None);
        assert_eq!(body_plan("POST", None, false), BodyPlan::None);
        assert_eq!(body_plan("POST", Some("120"), true), BodyPlan::Keep);
        assert_eq!(body_plan("PATCH", Some("1048576"), true), BodyPlan::Keep);
        assert_eq!(body_plan("POST", Some("1048577"), true), BodyPlan::Stream);
        assert_eq!(body_plan("POST", None, true), BodyPlan::Stream, "chunked");
        assert_eq!(body_plan("PUT", Some("many"), true), BodyPlan::Stream);
    }
}
