//! User access tokens (OAuth 2 on Feishu's v2 endpoints): the sign-in URL
//! with PKCE, the code exchange and refresh requests, their answers, and the
//! rules for a refresh that failed. Plain functions, no I/O: the Worker's
//! user objects and an npm client share them.
//!
//! A refresh token comes back only with the `offline_access` scope, lives
//! about 7 days and is single-use: each refresh returns a new one and the old
//! one then fails (20064 revoked, 20073 already consumed). Two refreshers of
//! one user race; the loser's 20064/20073 means "re-read the shared store",
//! not "signed out" ([`after_refresh_failed`]).

use crate::AppCredentials;
mod client;
pub mod sign_in;

pub use client::{
    DEFAULT_CLAIM_LEASE_MS, MIN_CLAIM_LEASE_MS, MemoryStore, UserAccess, UserStore,
    UserTokenFailure, UserTokens, Versioned,
};

use crate::error::Error;
use crate::json::{ReadJson, SerdeJson};
use crate::redact::diagnostic_body;
use crate::secret::AccessToken;
use crate::source::{failure, send};
use crate::transport::{HttpRequest, HttpResponse, Transport};
use crate::validate::BaseUrl;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use core::fmt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// `POST {base}` + this: the code exchange and the refresh.
pub const OAUTH_TOKEN_PATH: &str = "/open-apis/authen/v2/oauth/token";
/// `{accounts base}` + this: the page a browser signs in on.
pub const AUTHORIZE_PATH: &str = "/open-apis/authen/v1/authorize";
/// `GET {base}` + this, with the user's token: who signed in (`open_id`).
pub const USER_INFO_PATH: &str = "/open-apis/authen/v1/user_info";
/// The scope without which no refresh token comes back: always asked.
pub const OFFLINE_ACCESS: &str = "offline_access";

/// A refresh failed on a server error: worth one retry.
pub const SERVER_ERROR: i64 = 20050;
/// The refresh token is not one Feishu knows.
pub const REFRESH_INVALID: i64 = 20026;
/// The refresh token's ~7 days are over.
pub const REFRESH_EXPIRED: i64 = 20037;
/// The refresh token was revoked, or used already by another refresher.
pub const REFRESH_REVOKED: i64 = 20064;
/// The refresh token was used already.
pub const REFRESH_CONSUMED: i64 = 20073;
/// An API call's user token is invalid / expired: refresh once, replay.
pub const USER_TOKEN_REFUSED_CODES: [i64; 2] = [99_991_668, 99_991_677];

/// A user's refresh token: single-use, about 7 days.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken(String);

impl RefreshToken {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// For the wire and the encrypted store, nowhere else.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshToken([redacted])")
    }
}

/// What a code exchange or a refresh grants.
#[derive(Clone, Debug)]
pub struct UserGrant {
    pub access_token: AccessToken,
    pub expires_at_ms: u64,
    /// `None` without `offline_access`.
    pub refresh_token: Option<RefreshToken>,
    pub refresh_expires_at_ms: Option<u64>,
    pub scope: String,
    /// A refresh under way somewhere (`UserTokens` claims the grant in the
    /// store before it sends the refresh token); `None` as Feishu grants it.
    pub claim: Option<Claim>,
}

/// Who is refreshing a stored grant, and until when the others wait for
/// it: the claim a client stores (compare-and-set) before it sends the
/// single-use refresh token, so that processes sharing a store send it once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    /// The claiming client's random id.
    pub by: String,
    /// The lease's end: past it the holder is taken to have died, and the
    /// claim may be taken over (the one case a refresh token can be sent
    /// twice: a holder that did not die but stalled past its lease).
    pub until_ms: u64,
}

/// A PKCE code verifier (RFC 7636): 43 to 128 unreserved characters.
pub fn is_code_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// The S256 challenge of a verifier: base64url(SHA-256(verifier)), unpadded.
pub fn code_challenge(verifier: &str) -> String {
    B64.encode(Sha256::digest(verifier.as_bytes()))
}

/// A verifier from 32 random bytes (the caller's CSPRNG).
pub fn code_verifier_from(random: &[u8; 32]) -> String {
    B64.encode(random)
}

/// The sign-in page's URL: `scopes` plus `offline_access` (always asked),
/// `state` and the S256 `challenge`.
pub fn authorize_url(
    accounts: &BaseUrl,
    app_id: &str,
    redirect_uri: &str,
    scopes: &[&str],
    state: &str,
    challenge: &str,
) -> String {
    let mut scope: Vec<&str> = scopes.iter().copied().filter(|s| !s.is_empty()).collect();
    if !scope.contains(&OFFLINE_ACCESS) {
        scope.push(OFFLINE_ACCESS);
    }
    let query = [
        ("client_id", app_id),
        ("response_type", "code"),
        ("redirect_uri", redirect_uri),
        ("scope", &scope.join(" ")),
        ("state", state),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ]
    .iter()
    .map(|(k, v)| format!("{k}={}", percent_encode(v)))
    .collect::<Vec<_>>()
    .join("&");
    format!("{}?{query}", accounts.join(AUTHORIZE_PATH))
}

/// Every byte but RFC 3986's unreserved ones escaped.
fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[derive(Serialize)]
#[serde(tag = "grant_type", rename_all = "snake_case")]
enum TokenBody<'a> {
    AuthorizationCode {
        client_id: &'a str,
        client_secret: &'a str,
        code: &'a str,
        redirect_uri: &'a str,
        code_verifier: &'a str,
    },
    RefreshToken {
        client_id: &'a str,
        client_secret: &'a str,
        refresh_token: &'a str,
    },
}

/// The code exchange (`grant_type=authorization_code`, with the verifier).
pub fn build_code_exchange(
    base: &BaseUrl,
    app: &AppCredentials,
    code: &str,
    redirect_uri: &str,
    code_verifier: &str,
) -> HttpRequest {
    HttpRequest::post_json(
        base.join(OAUTH_TOKEN_PATH),
        crate::wire::json_body(&TokenBody::AuthorizationCode {
            client_id: app.app_id(),
            client_secret: app.app_secret().expose_secret(),
            code,
            redirect_uri,
            code_verifier,
        }),
    )
}

/// A refresh (`grant_type=refresh_token`): the token is spent by it.
pub fn build_refresh(
    base: &BaseUrl,
    app: &AppCredentials,
    refresh_token: &RefreshToken,
) -> HttpRequest {
    HttpRequest::post_json(
        base.join(OAUTH_TOKEN_PATH),
        crate::wire::json_body(&TokenBody::RefreshToken {
            client_id: app.app_id(),
            client_secret: app.app_secret().expose_secret(),
            refresh_token: refresh_token.expose_secret(),
        }),
    )
}

/// A code exchange's or a refresh's answer as read (by the host's JSON
/// reader: `Transport::read_json`), for [`parse_user_token_reply`].
#[derive(Deserialize)]
pub struct TokenAnswer {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    msg: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    refresh_token_expires_in: Option<u64>,
    #[serde(default)]
    scope: Option<String>,
}

/// Longest `expires_in` believed (a user token lives about 2 hours).
const MAX_EXPIRES_IN_SECS: u64 = 24 * 3600;
/// Longest `refresh_token_expires_in` believed (about 7 days in practice).
const MAX_REFRESH_EXPIRES_IN_SECS: u64 = 400 * 24 * 3600;

/// The answer to a code exchange or a refresh, read with serde_json: see
/// [`parse_user_token_reply`].
pub fn parse_user_token_response(
    response: &HttpResponse,
    sent_at_ms: u64,
) -> Result<UserGrant, Error> {
    let answer = ReadJson::object(&SerdeJson, &response.body);
    parse_user_token_reply(response, answer, sent_at_ms)
}

/// The answer to a code exchange or a refresh (`answer`: its body as the
/// host's JSON reader read it, `None` when it is no JSON object): the
/// grant, or Feishu's refusal (its `code`, e.g. 20064) or what was wrong
/// with the answer. The raw body kept for diagnosis has every token redacted.
pub fn parse_user_token_reply(
    response: &HttpResponse,
    answer: Option<TokenAnswer>,
    sent_at_ms: u64,
) -> Result<UserGrant, Error> {
    let status = response.status;
    let raw = || diagnostic_body(&response.body);
    let Some(answer) = answer else {
        return Err(if (200..300).contains(&status) {
            Error::invalid_response("body is not the expected JSON", status, raw())
        } else {
            Error::http(status, raw())
        });
    };
    if let Some(code) = answer.code.filter(|c| *c != 0) {
        let msg = answer.msg.or(answer.error_description).or(answer.error);
        let msg = msg.unwrap_or_default();
        return Err(Error::feishu_api(code, msg, status));
    }
    if !(200..300).contains(&status) {
        return Err(Error::http(status, raw()));
    }
    let plausible =
        |t: &String| !t.is_empty() && t.len() <= 4096 && t.bytes().all(|b| b.is_ascii_graphic());
    let Some(access) = answer.access_token.filter(plausible) else {
        return Err(Error::invalid_response(
            "`access_token` is missing or malformed",
            status,
            raw(),
        ));
    };
    let expires_in = match answer.expires_in {
        Some(e) if (1..=MAX_EXPIRES_IN_SECS).contains(&e) => e,
        _ => {
            return Err(Error::invalid_response(
                "`expires_in` is missing or out of range",
                status,
                raw(),
            ));
        }
    };
    let refresh = answer
        .refresh_token
        .filter(plausible)
        .map(RefreshToken::new);
    let refresh_expires_at_ms = match (&refresh, answer.refresh_token_expires_in) {
        (None, _) => None,
        (Some(_), Some(e)) if (1..=MAX_REFRESH_EXPIRES_IN_SECS).contains(&e) => {
            Some(sent_at_ms + e * 1000)
        }
        (Some(_), _) => {
            return Err(Error::invalid_response(
                "`refresh_token_expires_in` is missing or out of range",
                status,
                raw(),
            ));
        }
    };
    Ok(UserGrant {
        access_token: AccessToken::new(access),
        expires_at_ms: sent_at_ms + expires_in * 1000,
        refresh_token: refresh,
        refresh_expires_at_ms,
        scope: answer.scope.unwrap_or_default(),
        claim: None,
    })
}

/// What to do after a refresh failed with `error`, on attempt `attempt`
/// (1 = the first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterRefresh {
    /// A server error (20050): once more, with the same refresh token.
    RetryOnce,
    /// 20064 / 20073: the token is spent, maybe by another refresher that
    /// stored its result. Re-read the shared store: a newer grant there is
    /// the answer; the same refresh token still there means signed out.
    ReRead,
    /// 20026 / 20037 (invalid, expired), or a retry that failed again on a
    /// refusal: the user must sign in again. Nothing is retried.
    SignedOut,
    /// Anything else (network, rate limit, a 5xx without Feishu's code):
    /// the grant is kept as it is, the caller gets the error, no loop.
    Fail,
}

pub fn after_refresh_failed(error: &Error, attempt: u32) -> AfterRefresh {
    match error.feishu_code() {
        Some(SERVER_ERROR) if attempt <= 1 => AfterRefresh::RetryOnce,
        Some(REFRESH_REVOKED | REFRESH_CONSUMED) => AfterRefresh::ReRead,
        Some(REFRESH_INVALID | REFRESH_EXPIRED) => AfterRefresh::SignedOut,
        _ => AfterRefresh::Fail,
    }
}

/// After [`AfterRefresh::ReRead`]: whether the store's refresh token (read
/// again) is still the one that was refused. Then the user is signed out;
/// otherwise another refresher won and its grant is the answer.
pub fn still_the_refused_one(stored: Option<&RefreshToken>, refused: &RefreshToken) -> bool {
    stored.is_none_or(|s| crate::secret::constant_time_eq(s.0.as_bytes(), refused.0.as_bytes()))
}

/// `user_info`'s answer as read, for [`parse_user_info_reply`].
#[derive(Deserialize)]
pub struct UserInfoAnswer {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    msg: Option<String>,
    #[serde(default)]
    data: Option<UserInfoData>,
}

#[derive(Deserialize)]
pub struct UserInfoData {
    #[serde(default)]
    open_id: Option<String>,
}

/// A sign-in's last step, for every host: `code` exchanged (with the PKCE
/// verifier) for the user's grant, then who signed in (`user_info` with the
/// new token). The grant is not stored: the caller stores it under the
/// `open_id` returned.
pub async fn exchange_code<T: Transport>(
    transport: &T,
    now_ms: u64,
    base: &BaseUrl,
    app: &AppCredentials,
    code: &str,
    redirect_uri: &str,
    code_verifier: &str,
) -> Result<(String, UserGrant), Error> {
    let exchange = build_code_exchange(base, app, code, redirect_uri, code_verifier);
    let answer = send(transport, exchange).await?;
    let grant = parse_user_token_reply(&answer, transport.read_json(&answer.body), now_ms)?;
    let ask = HttpRequest::get_with_bearer(
        base.join(USER_INFO_PATH),
        grant.access_token.expose_secret(),
    );
    let who = transport.send(ask).await.map_err(failure)?;
    let open_id = parse_user_info_reply(&who, transport.read_json(&who.body))?;
    Ok((open_id, grant))
}

/// `user_info`'s answer read with serde_json: see [`parse_user_info_reply`].
pub fn parse_user_info(response: &HttpResponse) -> Result<String, Error> {
    parse_user_info_reply(response, ReadJson::object(&SerdeJson, &response.body))
}

/// Who signed in: the `open_id` in the answer to `GET {base}`
/// + [`USER_INFO_PATH`] with the user's token, or Feishu's refusal.
pub fn parse_user_info_reply(
    response: &HttpResponse,
    answer: Option<UserInfoAnswer>,
) -> Result<String, Error> {
    let status = response.status;
    let raw = || diagnostic_body(&response.body);
    let Some(answer) = answer else {
        return Err(Error::http(status, raw()));
    };
    if let Some(code) = answer.code.filter(|c| *c != 0) {
        return Err(Error::feishu_api(
            code,
            answer.msg.unwrap_or_default(),
            status,
        ));
    }
    let open_id = answer.data.and_then(|d| d.open_id);
    match open_id {
        Some(id) if (200..300).contains(&status) && !id.is_empty() && id.len() <= 128 => Ok(id),
        _ => Err(Error::invalid_response(
            "`data.open_id` is missing",
            status,
            raw(),
        )),
    }
}

/// The keep-alive refreshes a grant this long before its refresh token
/// lapses (or halfway there, for a shorter life).
pub const KEEP_ALIVE_MARGIN_MS: u64 = 24 * 3600 * 1000;

/// When the keep-alive should refresh a grant whose refresh token lapses at
/// `refresh_expires_at_ms`: a day before, or halfway from `now_ms` when
/// less than two days are left.
pub fn keep_alive_at(now_ms: u64, refresh_expires_at_ms: u64) -> u64 {
    let left = refresh_expires_at_ms.saturating_sub(now_ms);
    refresh_expires_at_ms - (left / 2).min(KEEP_ALIVE_MARGIN_MS)
}

/// An `open_id`: `ou_` and up to 100 letters, digits, `_` or `-`. Anything
/// else is refused before anything is named by it (a
/// storage key, an object).
pub fn is_open_id(text: &str) -> bool {
    text.strip_prefix("ou_").is_some_and(|rest| {
        (1..=100).contains(&rest.len())
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    })
}

/// Whether an API answer's `code` says the user token was refused.
pub fn user_token_refused(code: i64) -> bool {
    USER_TOKEN_REFUSED_CODES.contains(&code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> AppCredentials {
        AppCredentials::parse("cli_a", "s3cret", ["appId", "appSecret"]).unwrap()
    }

    fn answer(status: u16, body: &str) -> HttpResponse {
        HttpResponse {
            status,
            ratelimit_reset: None,
            body: body.to_owned(),
        }
    }

    #[test]
    fn pkce_s256_matches_rfc_7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert!(is_code_verifier(verifier));
        assert_eq!(
            code_challenge(verifier),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert_eq!(code_verifier_from(&[7; 32]).len(), 43);
        assert!(is_code_verifier(&code_verifier_from(&[255; 32])));
        for bad in ["short", &"a".repeat(129), &format!("{}!", "a".repeat(43))] {
            assert!(!is_code_verifier(bad));
        }
    }

    #[test]
    fn the_sign_in_url_always_asks_offline_access() {
        let accounts = BaseUrl::parse("https://accounts.feishu.cn").unwrap();
        let url = authorize_url(
            &accounts,
            "cli_a",
            "https://w.example/oauth/callback",
            &["im:message"],
            "st&=",
            "ch",
        );
        assert_eq!(
            url,
            "https://accounts.feishu.cn/open-apis/authen/v1/authorize?client_id=cli_a&response_type=code\
             &redirect_uri=https%3A%2F%2Fw.example%2Foauth%2Fcallback&scope=im%3Amessage%20offline_access\
             &state=st%26%3D&code_challenge=ch&code_challenge_method=S256"
        );
        let once = authorize_url(&accounts, "cli_a", "r", &["offline_access"], "s", "c");
        assert!(once.contains("&scope=offline_access&"), "{once}");
    }

    #[test]
    fn requests_carry_the_grant_and_the_verifier() {
        let base = BaseUrl::parse("https://open.feishu.cn").unwrap();
        let r = build_code_exchange(&base, &app(), "c0de", "https://w/cb", "v");
        assert_eq!(
            r.url,
            "https://open.feishu.cn/open-apis/authen/v2/oauth/token"
        );
        let v: serde_json::Value = serde_json::from_str(r.body_text()).unwrap();
        assert_eq!(v["grant_type"], "authorization_code");
        assert_eq!(
            (
                v["client_id"].as_str(),
                v["code"].as_str(),
                v["code_verifier"].as_str()
            ),
            (Some("cli_a"), Some("c0de"), Some("v"))
        );
        let r = build_refresh(&base, &app(), &RefreshToken::new("ur-1"));
        let v: serde_json::Value = serde_json::from_str(r.body_text()).unwrap();
        assert_eq!(
            (v["grant_type"].as_str(), v["refresh_token"].as_str()),
            (Some("refresh_token"), Some("ur-1"))
        );
        assert_eq!(
            format!("{:?}", RefreshToken::new("ur-1")),
            "RefreshToken([redacted])"
        );
    }

    #[test]
    fn answers_are_grants_refusals_or_named_defects_with_tokens_redacted() {
        let ok = answer(
            200,
            r#"{"code":0,"access_token":"u-1","expires_in":7200,"refresh_token":"ur-1","refresh_token_expires_in":604800,"scope":"offline_access"}"#,
        );
        let g = parse_user_token_response(&ok, 1000).unwrap();
        assert_eq!(
            (g.access_token.expose_secret(), g.expires_at_ms),
            ("u-1", 7_201_000)
        );
        assert_eq!(
            g.refresh_token.as_ref().map(RefreshToken::expose_secret),
            Some("ur-1")
        );
        assert_eq!(g.refresh_expires_at_ms, Some(604_801_000));
        let no_offline = answer(200, r#"{"code":0,"access_token":"u-1","expires_in":7200}"#);
        assert!(
            parse_user_token_response(&no_offline, 0)
                .unwrap()
                .refresh_token
                .is_none()
        );
        let refused = parse_user_token_response(&answer(400, r#"{"code":20064,"error":"invalid_grant","error_description":"refresh token revoked"}"#), 0).unwrap_err();
        assert_eq!(refused.feishu_code(), Some(20064));
        let bad = parse_user_token_response(&answer(200, r#"{"code":0,"access_token":"u-secret","expires_in":0,"refresh_token":"ur-secret"}"#), 0).unwrap_err();
        let shown = format!("{bad:?} {}", bad.message());
        assert!(
            !shown.contains("u-secret") && !shown.contains("ur-secret"),
            "{shown}"
        );
        assert!(parse_user_token_response(&answer(502, "<html>"), 0).is_err());
    }

    /// Feishu for a sign-in: the token endpoint, then user_info.
    struct SignIn {
        bearer_seen: core::cell::RefCell<Option<String>>,
        user_info: HttpResponse,
    }

    impl Transport for SignIn {
        async fn send(
            &self,
            request: HttpRequest,
        ) -> Result<HttpResponse, crate::transport::TransportError> {
            match request.method {
                crate::transport::Method::Post => {
                    assert!(request.url.ends_with(OAUTH_TOKEN_PATH));
                    assert!(request.body_text().contains(r#""code_verifier":"v""#));
                    Ok(answer(
                        200,
                        r#"{"code":0,"access_token":"u-1","expires_in":7200,"refresh_token":"ur-1","refresh_token_expires_in":604800}"#,
                    ))
                }
                crate::transport::Method::Get => {
                    assert!(request.url.ends_with(USER_INFO_PATH));
                    assert_eq!(request.body, None);
                    let (name, value) = &request.headers[0];
                    assert_eq!(*name, "authorization");
                    let bearer = value.strip_prefix("Bearer ").unwrap();
                    *self.bearer_seen.borrow_mut() = Some(bearer.to_owned());
                    Ok(self.user_info.clone())
                }
            }
        }
    }

    impl crate::transport::Timer for SignIn {
        async fn sleep(&self, _ms: u64) {}
        fn random(&self) -> f64 {
            0.5
        }
    }

    #[test]
    fn a_code_is_exchanged_then_user_info_names_whose_grant_it_is() {
        let base = BaseUrl::parse("https://open.feishu.cn").unwrap();
        let run = |user_info: &str| {
            let feishu = SignIn {
                bearer_seen: Default::default(),
                user_info: answer(200, user_info),
            };
            let got = futures::executor::block_on(exchange_code(
                &feishu,
                1_000,
                &base,
                &app(),
                "c",
                "https://w/cb",
                "v",
            ));
            (got, feishu.bearer_seen.take())
        };
        let (got, bearer) = run(r#"{"code":0,"data":{"open_id":"ou_a"}}"#);
        let (user, grant) = got.unwrap();
        assert_eq!(user, "ou_a");
        assert_eq!(grant.access_token.expose_secret(), "u-1");
        assert_eq!(
            bearer.as_deref(),
            Some("u-1"),
            "user_info asked with the new token"
        );
        let (refused, _) = run(r#"{"code":99991668,"msg":"invalid"}"#);
        assert_eq!(refused.unwrap_err().feishu_code(), Some(99991668));
    }

    #[test]
    fn user_info_names_the_user_or_carries_feishus_refusal() {
        let ok = answer(200, r#"{"code":0,"data":{"open_id":"ou_a","name":"A"}}"#);
        assert_eq!(parse_user_info(&ok).unwrap(), "ou_a");
        let refused = answer(400, r#"{"code":99991668,"msg":"invalid"}"#);
        assert_eq!(
            parse_user_info(&refused).unwrap_err().feishu_code(),
            Some(99991668)
        );
        for bad in [r#"{"code":0,"data":{}}"#, "[]", "oops"] {
            assert!(parse_user_info(&answer(200, bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn open_ids_are_checked_before_anything_is_named_by_them() {
        assert!(is_open_id("ou_7d8a6e6df7621556ce0d21922b676706"));
        assert!(is_open_id("ou_sandbox_alice"));
        let long = format!("ou_{}", "a".repeat(101));
        for bad in ["", "ou_", "on_1", "ou_a/b", "ou_a:b", "ou_%2F", &long] {
            assert!(!is_open_id(bad), "{bad}");
        }
    }

    #[test]
    fn the_keep_alive_refreshes_a_day_before_the_lapse_or_halfway() {
        let day = KEEP_ALIVE_MARGIN_MS;
        assert_eq!(keep_alive_at(0, 7 * day), 6 * day);
        assert_eq!(keep_alive_at(0, 600_000), 300_000, "a 10-minute life");
        assert_eq!(keep_alive_at(5, 5), 5, "lapsed: at once");
        assert_eq!(keep_alive_at(10, 5), 5);
    }

    #[test]
    fn refresh_failures_retry_once_re_read_or_sign_out_never_loop() {
        let e = |code| Error::feishu_api(code, String::new(), 400);
        assert_eq!(after_refresh_failed(&e(20050), 1), AfterRefresh::RetryOnce);
        assert_eq!(after_refresh_failed(&e(20050), 2), AfterRefresh::Fail);
        assert_eq!(after_refresh_failed(&e(20064), 1), AfterRefresh::ReRead);
        assert_eq!(after_refresh_failed(&e(20073), 1), AfterRefresh::ReRead);
        assert_eq!(after_refresh_failed(&e(20037), 1), AfterRefresh::SignedOut);
        assert_eq!(after_refresh_failed(&e(20026), 1), AfterRefresh::SignedOut);
        assert_eq!(
            after_refresh_failed(&Error::http(503, String::new()), 1),
            AfterRefresh::Fail
        );
        let old = RefreshToken::new("ur-1");
        assert!(still_the_refused_one(
            Some(&RefreshToken::new("ur-1")),
            &old
        ));
        assert!(still_the_refused_one(None, &old));
        assert!(
            !still_the_refused_one(Some(&RefreshToken::new("ur-2")), &old),
            "another refresher won"
        );
        assert!(user_token_refused(99_991_677) && !user_token_refused(99_991_663));
    }
}
