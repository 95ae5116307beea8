//! Feishu's request body for `POST /open-apis/auth/v3/tenant_access_token`,
//! read with serde: duplicate members are refused (two JSON readers could
//! disagree on which counts), a member of the wrong type is named. Pure, so
//! it is tested natively.

#[cfg(target_arch = "wasm32")]
use crate::http::reply::{self, Local};
use crate::keys::ours::carries_ours;
use feishu_tenant_token::secret::ApiKey;
use feishu_tenant_token::secret::AppTicket;
use feishu_tenant_token::store_app::parse_ticket;
use feishu_tenant_token::{AppCredentials, Loose, TokenRequest};
use serde::Deserialize;
#[cfg(target_arch = "wasm32")]
use worker::{Response, Result};

/// Why a body was refused: not Feishu's JSON at all, or a field that is wrong.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    BadBody(String),
    InvalidField(String),
}

/// `{"app_access_token", "tenant_key"}`; other members are ignored.
#[derive(Deserialize)]
struct TenantTokenBody {
    #[serde(default)]
    app_access_token: Loose,
    #[serde(default)]
    tenant_key: Loose,
}

/// A member that should be a string: absent (or `null`), a string, or wrong.
fn field(t: Loose, name: &str) -> Result<Option<String>, Refusal> {
    match t {
        Loose::Absent => Ok(None),
        Loose::Str(s) => Ok(Some(s)),
        _ => Err(Refusal::InvalidField(format!("{name} must be a string"))),
    }
}

/// The body's bytes -> a validated request, or why not.
pub fn tenant_token_request(bytes: &[u8]) -> Result<TokenRequest, Refusal> {
    let body: TenantTokenBody = json_object(bytes)?;
    let app = field(body.app_access_token, "app_access_token")?;
    let tenant = field(body.tenant_key, "tenant_key")?;
    TokenRequest::parse(app.as_deref(), tenant.as_deref())
        .map_err(|e| Refusal::InvalidField(e.message().to_owned()))
}

/// `{"app_id", "app_secret"}` of the internal endpoints, with `"app_ticket"`
/// for a store app's `app_access_token`; other members ignored.
#[derive(Deserialize)]
struct AppBody {
    #[serde(default)]
    app_id: Loose,
    #[serde(default)]
    app_secret: Loose,
    #[serde(default)]
    app_ticket: Loose,
}

fn required(t: Loose, name: &str) -> Result<String, Refusal> {
    field(t, name)?.ok_or_else(|| Refusal::InvalidField(format!("{name} is missing")))
}

fn credentials(body: &mut AppBody) -> Result<AppCredentials, Refusal> {
    let id = required(core::mem::take(&mut body.app_id), "app_id")?;
    let secret = required(core::mem::take(&mut body.app_secret), "app_secret")?;
    AppCredentials::parse(&id, &secret, ["app_id", "app_secret"])
        .map_err(|e| Refusal::InvalidField(e.message().to_owned()))
}

/// A self-built app's token request body -> its checked credentials, or why not.
pub fn internal_request(bytes: &[u8]) -> Result<AppCredentials, Refusal> {
    credentials(&mut json_object(bytes)?)
}

/// A store app's `app_access_token` request body -> credentials and the
/// ticket as sent. The ticket is checked by [`ticket`] only where it is
/// used: the Worker's own managed app is served whatever ticket came (some
/// SDKs send none, or a stale one).
pub fn app_token_request(bytes: &[u8]) -> Result<(AppCredentials, Option<String>), Refusal> {
    let mut body: AppBody = json_object(bytes)?;
    let app = credentials(&mut body)?;
    Ok((app, field(body.app_ticket, "app_ticket")?))
}

/// The caller's ticket, checked (missing, empty, blank or not visible ASCII: refused).
pub fn ticket(raw: Option<String>) -> Result<AppTicket, Refusal> {
    let raw = raw.ok_or_else(|| Refusal::InvalidField("app_ticket is missing".to_owned()))?;
    parse_ticket(&raw, "app_ticket").map_err(|e| Refusal::InvalidField(e.message().to_owned()))
}

/// The bytes as a JSON object read as `T` (serde refuses duplicate members).
fn json_object<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, Refusal> {
    let text = core::str::from_utf8(bytes)
        .map_err(|_| Refusal::BadBody("body is not UTF-8".to_owned()))?;
    // serde would read an array into a struct too: Feishu's bodies are objects.
    if !text.trim_start().starts_with('{') {
        return Err(Refusal::BadBody("body must be a JSON object".to_owned()));
    }
    serde_json::from_str(text).map_err(|e| Refusal::BadBody(format!("body is not valid JSON: {e}")))
}

/// The answer refusing a body (400: not JSON, or a field Feishu would refuse).
#[cfg(target_arch = "wasm32")]
pub fn refused(r: Refusal) -> Result<Response> {
    match r {
        Refusal::BadBody(msg) => reply::local(Local::BadBody, &msg),
        Refusal::InvalidField(msg) => reply::local(Local::InvalidField, &msg),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(body: &str) -> Refusal {
        match tenant_token_request(body.as_bytes()) {
            Ok(r) => panic!("{body}: accepted for tenant {}", r.tenant_key.as_str()),
            Err(r) => r,
        }
    }

    #[test]
    fn feishus_body_is_read() {
        let r = tenant_token_request(br#"{"app_access_token":"a-1","tenant_key":"t1","x":[1]}"#)
            .unwrap();
        assert_eq!(r.tenant_key.as_str(), "t1");
        assert_eq!(r.app_access_token.expose_secret(), "a-1");
    }

    #[test]
    fn duplicates_arrays_and_junk_are_bad_bodies() {
        for body in [
            r#"{"app_access_token":"a","app_access_token":"b","tenant_key":"t"}"#,
            r#"{"app_access_token":"a","tenant_key":"t","tenant_key":"u"}"#,
            r#"["a","t"]"#,
            "",
            "{",
            "{} {}",
            "\u{feff}{}",
            "null",
            r#"{"app_access_token":"\ud800","tenant_key":"t"}"#,
        ] {
            assert!(matches!(refusal(body), Refusal::BadBody(_)), "{body}");
        }
        assert!(matches!(
            tenant_token_request(&[0xff, 0xfe]),
            Err(Refusal::BadBody(_))
        ));
    }

    #[test]
    fn internal_bodies_carry_checked_credentials() {
        let app = internal_request(br#"{"app_id":"cli_a","app_secret":"s1"}"#).unwrap();
        assert_eq!(app.app_id(), "cli_a");
        assert_eq!(app.app_secret().expose_secret(), "s1");
        for (body, why) in [
            (r#"{"app_id":"cli_a"}"#, "app_secret is missing"),
            (r#"{"app_secret":"s"}"#, "app_id is missing"),
            (
                r#"{"app_id":1,"app_secret":"s"}"#,
                "app_id must be a string",
            ),
            (
                r#"{"app_id":"cli_a","app_secret":" "}"#,
                "app_secret is empty",
            ),
        ] {
            match internal_request(body.as_bytes()) {
                Err(Refusal::InvalidField(m)) => assert!(m.contains(why), "{body}: {m}"),
                other => panic!("{body}: {:?}", other.map(|a| a.app_id().to_owned())),
            }
        }
        assert!(matches!(
            internal_request(br#"{"app_id":"a","app_id":"b","app_secret":"s"}"#),
            Err(Refusal::BadBody(_))
        ));
    }

    #[test]
    fn app_token_bodies_carry_the_ticket_checked_where_used() {
        let (app, raw) =
            app_token_request(br#"{"app_id":"cli_a","app_secret":"s","app_ticket":"tkt-1"}"#)
                .unwrap();
        assert_eq!(app.app_id(), "cli_a");
        assert_eq!(ticket(raw).unwrap().expose_secret(), "tkt-1");
        for absent in [
            r#"{"app_id":"cli_a","app_secret":"s"}"#,
            r#"{"app_id":"cli_a","app_secret":"s","app_ticket":null}"#,
        ] {
            assert!(app_token_request(absent.as_bytes()).unwrap().1.is_none());
        }
        assert!(matches!(
            app_token_request(br#"{"app_id":"cli_a","app_secret":"s","app_ticket":5}"#),
            Err(Refusal::InvalidField(m)) if m.contains("app_ticket must be a string")
        ));
        for (raw, why) in [
            (None, "app_ticket is missing"),
            (Some("t t"), "visible ASCII"),
            (Some(""), "app_ticket"),
        ] {
            match ticket(raw.map(str::to_owned)) {
                Err(Refusal::InvalidField(m)) => assert!(m.contains(why), "{raw:?}: {m}"),
                _ => panic!("{raw:?}: accepted or not a field error"),
            }
        }
    }

    #[test]
    fn wrong_fields_are_named() {
        assert_eq!(
            refusal(r#"{"app_access_token":7,"tenant_key":"t"}"#),
            Refusal::InvalidField("app_access_token must be a string".into())
        );
        assert_eq!(
            refusal(r#"{"app_access_token":"a","tenant_key":{"k":1}}"#),
            Refusal::InvalidField("tenant_key must be a string".into())
        );
        let Refusal::InvalidField(msg) = refusal(r#"{"app_access_token":"a","tenant_key":null}"#)
        else {
            panic!("not a field error")
        };
        assert!(msg.contains("tenant_key is missing"), "{msg}");
    }
}

/// Whether a long-connection request's body (`{AppID, AppSecret}`, as the
/// SDKs' `WSClient` sends it) carries one of the Worker's own credentials
/// (an agent key, a gateway token, an API key: `carries_ours`) as its
/// secret.
pub fn ws_secret_is_ours(body: &[u8], api_keys: &[ApiKey]) -> bool {
    #[derive(serde::Deserialize)]
    struct WsBody<'a> {
        #[serde(rename = "AppSecret", borrow, default)]
        app_secret: Option<std::borrow::Cow<'a, str>>,
    }
    serde_json::from_slice::<WsBody<'_>>(body)
        .ok()
        .and_then(|b| b.app_secret)
        .is_some_and(|s| carries_ours(&s, api_keys))
}

#[cfg(test)]
mod ws_tests {
    use feishu_tenant_token::secret::ApiKey;

    #[test]
    fn our_credentials_as_the_long_connection_secret_are_seen() {
        let api = "api-key-0123456789abcdef0123456789abcdef";
        let keys = [ApiKey::new(api)];
        let gateway = r#"{"AppID":"cli_a","AppSecret":"g1.eyJrIjoiYSIsImEiOiJjbGlfeCJ9.c2ln"}"#;
        let api_body = format!(r#"{{"AppID":"cli_a","AppSecret":"{api}"}}"#);
        for ours in [
            &br#"{"AppID":"cli_a","AppSecret":"ftt_ak_abc"}"#[..],
            gateway.as_bytes(),
            api_body.as_bytes(),
        ] {
            assert!(super::ws_secret_is_ours(ours, &keys));
        }
        for other in [
            &br#"{"AppID":"cli_a","AppSecret":"real"}"#[..],
            b"{}",
            b"not json",
            br#"{"AppSecret":5}"#,
        ] {
            assert!(!super::ws_secret_is_ours(other, &keys));
        }
    }
}
