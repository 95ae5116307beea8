//! Feishu's event callback: from raw body bytes and headers to a checked
//! [`Event`]. Used by the Worker's `POST /feishu/events` and the npm module's
//! `parseEvent`.
//!
//! Order of checks (the reasons are in SECURITY.md):
//! 1. With an Encrypt Key, a signed request is checked (replay window, then
//!    signature over the raw bytes) before anything is decrypted or parsed.
//! 2. Unsigned requests are accepted only for URL verification (Feishu's
//!    console does not sign those); any other failure on an unsigned request
//!    reports the same INVALID_SIGNATURE, so the endpoint answers no
//!    questions about decryption (no padding oracle).
//! 3. The verification token, when configured, must match (constant time).

mod decrypt;
mod encrypt;
mod identity;
mod parse;
mod signature;

pub use decrypt::{MAX_ENCRYPTED_BYTES, decrypt};
pub use encrypt::encrypt;
pub use identity::{Identity, MESSAGE_RECEIVED, identity};
pub use parse::{Event, Schema};
pub use signature::{DEFAULT_MAX_AGE_SECS, SignatureHeaders, sign};

use crate::error::{Error, ErrorCode};
use crate::json::lenient;
use crate::json::{ReadJson, SerdeJson};
use crate::secret::{EncryptKey, VerificationToken, constant_time_eq};
use serde::Deserialize;

/// What an app configured for its event callback.
#[derive(Clone, Debug)]
pub struct EventConfig {
    pub encrypt_key: Option<EncryptKey>,
    pub verification_token: Option<VerificationToken>,
    /// The replay window, seconds; [`DEFAULT_MAX_AGE_SECS`] by default.
    pub max_age_secs: u64,
}

impl Default for EventConfig {
    fn default() -> Self {
        Self {
            encrypt_key: None,
            verification_token: None,
            max_age_secs: DEFAULT_MAX_AGE_SECS,
        }
    }
}

/// A checked event and its plaintext JSON (for callers that want more than
/// [`Event`] keeps).
#[derive(Debug)]
pub struct Received {
    pub event: Event,
    pub plaintext: String,
    /// Whether the request carried a valid signature.
    pub signed: bool,
}

fn unsigned_rejected() -> Error {
    Error::event(
        ErrorCode::InvalidSignature,
        "only URL verification may come without X-Lark-Signature when an Encrypt Key is set",
    )
}

/// Checks one callback request, reading its JSON with serde_json.
pub fn receive(
    body: &[u8],
    headers: &SignatureHeaders<'_>,
    config: &EventConfig,
    now_ms: u64,
) -> Result<Received, Error> {
    receive_with(&SerdeJson, body, headers, config, now_ms)
}

/// As [`receive`], with the host's JSON reader.
pub fn receive_with(
    json: &impl ReadJson,
    body: &[u8],
    headers: &SignatureHeaders<'_>,
    config: &EventConfig,
    now_ms: u64,
) -> Result<Received, Error> {
    let text = core::str::from_utf8(body)
        .map_err(|_| Error::event(ErrorCode::InvalidEvent, "the body is not UTF-8"))?;
    let (plaintext, signed) = match &config.encrypt_key {
        Some(key) => {
            let signed = headers.any();
            if signed {
                signature::verify(headers, key, body, now_ms, config.max_age_secs)?;
            }
            let opened = encrypted_member(json, text).and_then(|enc| decrypt(key, &enc));
            match opened {
                Ok(plain) => (plain, signed),
                Err(e) if signed => return Err(e),
                Err(_) => return Err(unsigned_rejected()),
            }
        }
        None => {
            if encrypted_member(json, text).is_ok() {
                return Err(Error::event(
                    ErrorCode::DecryptionFailed,
                    "the event is encrypted but no Encrypt Key is configured",
                ));
            }
            (text.to_owned(), false)
        }
    };
    let parsed = match parse::parse(json, &plaintext) {
        Ok(p) => p,
        Err(_) if config.encrypt_key.is_some() && !signed => return Err(unsigned_rejected()),
        Err(e) => return Err(e),
    };
    if config.encrypt_key.is_some()
        && !signed
        && !matches!(parsed.event, Event::UrlVerification { .. })
    {
        return Err(unsigned_rejected());
    }
    if let Some(expected) = &config.verification_token {
        let given = parsed.token.as_deref().unwrap_or_default();
        if !constant_time_eq(expected.expose_secret().as_bytes(), given.as_bytes()) {
            return Err(Error::event(
                ErrorCode::InvalidVerificationToken,
                "the event's token is not the app's Verification Token",
            ));
        }
    }
    Ok(Received {
        event: parsed.event,
        plaintext,
        signed,
    })
}

/// `{"encrypt": "..."}`.
#[derive(Deserialize)]
struct Sealed {
    #[serde(default, deserialize_with = "lenient::text")]
    encrypt: Option<String>,
}

/// The `encrypt` member of `{"encrypt": "..."}`.
fn encrypted_member(json: &impl ReadJson, text: &str) -> Result<String, Error> {
    let sealed: Sealed = json
        .object(text)
        .ok_or_else(|| Error::event(ErrorCode::InvalidEvent, "the body is not a JSON object"))?;
    sealed.encrypt.ok_or_else(|| {
        Error::event(
            ErrorCode::DecryptionFailed,
            "the body has no string `encrypt`",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::decrypt::tests::encrypt;
    use super::*;

    const NOW: u64 = 1_700_000_000_000;
    const TICKET: &str = r#"{"ts":"1","uuid":"u","token":"vt","type":"event_callback","event":{"app_id":"cli_a","app_ticket":"tkt-9","type":"app_ticket"}}"#;
    const CHALLENGE: &str = r#"{"challenge":"c-1","token":"vt","type":"url_verification"}"#;

    fn config(key: Option<&str>, token: Option<&str>) -> EventConfig {
        EventConfig {
            encrypt_key: key.map(EncryptKey::new),
            verification_token: token.map(VerificationToken::new),
            ..EventConfig::default()
        }
    }

    fn sealed(key: &str, plain: &str) -> String {
        format!(
            r#"{{"encrypt":"{}"}}"#,
            encrypt(key, [3; 16], plain.as_bytes())
        )
    }

    fn signed_headers(key: &str, body: &str, ts: u64) -> (String, String) {
        let ts = ts.to_string();
        let sig = sign(&ts, "nonce-1", &EncryptKey::new(key), body.as_bytes());
        (ts, sig)
    }

    fn run(
        body: &str,
        ts_sig: Option<(&str, &str)>,
        cfg: &EventConfig,
    ) -> Result<Event, ErrorCode> {
        let headers = match ts_sig {
            Some((ts, sig)) => SignatureHeaders {
                timestamp: Some(ts),
                nonce: Some("nonce-1"),
                signature: Some(sig),
            },
            None => SignatureHeaders::default(),
        };
        receive(body.as_bytes(), &headers, cfg, NOW)
            .map(|r| r.event)
            .map_err(|e| e.code())
    }

    #[test]
    fn plain_events_with_a_verification_token() {
        let cfg = config(None, Some("vt"));
        assert!(matches!(
            run(TICKET, None, &cfg),
            Ok(Event::AppTicket { .. })
        ));
        assert!(matches!(
            run(CHALLENGE, None, &cfg),
            Ok(Event::UrlVerification { .. })
        ));
        let wrong = config(None, Some("other"));
        assert_eq!(
            run(TICKET, None, &wrong),
            Err(ErrorCode::InvalidVerificationToken)
        );
        let no_token = TICKET.replace(r#""token":"vt","#, "");
        assert_eq!(
            run(&no_token, None, &cfg),
            Err(ErrorCode::InvalidVerificationToken)
        );
        assert_eq!(
            run(&sealed("k", TICKET), None, &cfg),
            Err(ErrorCode::DecryptionFailed)
        );
    }

    #[test]
    fn encrypted_and_signed_events() {
        let cfg = config(Some("ek"), Some("vt"));
        let body = sealed("ek", TICKET);
        let (ts, sig) = signed_headers("ek", &body, NOW / 1000);
        let event = run(&body, Some((&ts, &sig)), &cfg).unwrap();
        let Event::AppTicket { app_ticket, .. } = event else {
            panic!("{event:?}")
        };
        assert_eq!(app_ticket.expose_secret(), "tkt-9");

        // Tampering with each part of the request.
        let tampered = body.replacen('A', "B", 1);
        assert_eq!(
            run(&tampered, Some((&ts, &sig)), &cfg),
            Err(ErrorCode::InvalidSignature)
        );
        let (old_ts, old_sig) = signed_headers("ek", &body, NOW / 1000 - 301);
        assert_eq!(
            run(&body, Some((&old_ts, &old_sig)), &cfg),
            Err(ErrorCode::StaleEvent)
        );
        assert_eq!(run(&body, None, &cfg), Err(ErrorCode::InvalidSignature));
        let (ts2, sig2) = signed_headers("not-ek", &body, NOW / 1000);
        assert_eq!(
            run(&body, Some((&ts2, &sig2)), &cfg),
            Err(ErrorCode::InvalidSignature)
        );
        let wrong_token = config(Some("ek"), Some("vt-other"));
        assert_eq!(
            run(&body, Some((&ts, &sig)), &wrong_token),
            Err(ErrorCode::InvalidVerificationToken)
        );
        // Signed with the right key, encrypted with another: signature first, then decryption.
        let other = sealed("ek2", TICKET);
        let (ts3, sig3) = signed_headers("ek", &other, NOW / 1000);
        assert_eq!(
            run(&other, Some((&ts3, &sig3)), &cfg),
            Err(ErrorCode::DecryptionFailed)
        );
        // A signed plaintext body where an encrypted one is required.
        let (ts4, sig4) = signed_headers("ek", TICKET, NOW / 1000);
        assert_eq!(
            run(TICKET, Some((&ts4, &sig4)), &cfg),
            Err(ErrorCode::DecryptionFailed)
        );
    }

    #[test]
    fn unsigned_url_verification_is_accepted_and_nothing_else() {
        let cfg = config(Some("ek"), Some("vt"));
        let challenge = sealed("ek", CHALLENGE);
        assert_eq!(
            run(&challenge, None, &cfg),
            Ok(Event::UrlVerification {
                challenge: "c-1".into()
            })
        );
        // Every other unsigned failure looks the same, whatever went wrong.
        for body in [
            sealed("ek", TICKET),
            sealed("other-key", CHALLENGE),
            sealed("ek", "not json"),
            r#"{"encrypt":"%%%"}"#.to_owned(),
            CHALLENGE.to_owned(),
        ] {
            assert_eq!(
                run(&body, None, &cfg),
                Err(ErrorCode::InvalidSignature),
                "{body}"
            );
        }
        let wrong = sealed("ek", &CHALLENGE.replace("\"vt\"", "\"nope\""));
        assert_eq!(
            run(&wrong, None, &cfg),
            Err(ErrorCode::InvalidVerificationToken)
        );
    }

    #[test]
    fn bytes_that_are_not_utf8_are_refused() {
        let r = receive(
            &[0xff, 0xfe],
            &SignatureHeaders::default(),
            &config(None, None),
            NOW,
        );
        assert_eq!(r.unwrap_err().code(), ErrorCode::InvalidEvent);
    }
}
