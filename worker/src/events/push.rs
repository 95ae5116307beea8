//! An event as it goes on to the app's own handler: in Feishu's own format,
//! sealed and signed again with the app's Encrypt Key (or as plaintext, with
//! its Verification Token inside, for an app without one), so a handler
//! built on the official SDKs' `EventDispatcher` takes it unchanged. Pure.

use feishu_tenant_token::event::{EventConfig, encrypt, sign};
use serde::Serialize;

/// The request body and the headers Feishu sends with it.
#[derive(Debug, PartialEq, Eq)]
pub struct Push {
    pub body: String,
    pub headers: Vec<(&'static str, String)>,
}

/// `plaintext` (a checked event, as Feishu sent it once opened) for the
/// handler, with `iv` and `nonce` from a CSPRNG and the time in seconds.
pub fn sealed(
    check: &EventConfig,
    plaintext: &str,
    iv: [u8; 16],
    nonce: &str,
    now_secs: u64,
) -> Push {
    let json = ("content-type", "application/json; charset=utf-8".to_owned());
    let Some(key) = &check.encrypt_key else {
        return Push {
            body: plaintext.to_owned(),
            headers: vec![json],
        };
    };
    #[derive(Serialize)]
    struct Sealed {
        encrypt: String,
    }
    let body = serde_json::to_string(&Sealed {
        encrypt: encrypt(key, plaintext, iv),
    })
    .unwrap_or_default();
    let timestamp = now_secs.to_string();
    let signature = sign(&timestamp, nonce, key, body.as_bytes());
    Push {
        headers: vec![
            json,
            ("x-lark-request-timestamp", timestamp),
            ("x-lark-request-nonce", nonce.to_owned()),
            ("x-lark-signature", signature),
        ],
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use feishu_tenant_token::event::{self, Event, SignatureHeaders};
    use feishu_tenant_token::secret::{EncryptKey, VerificationToken};

    const EVENT: &str = r#"{"schema":"2.0","header":{"event_id":"e1","event_type":"im.message.receive_v1","token":"vt","app_id":"cli_a"},"event":{"message":{"message_id":"om_1"}}}"#;

    fn check(key: Option<&str>) -> EventConfig {
        EventConfig {
            encrypt_key: key.map(EncryptKey::new),
            verification_token: Some(VerificationToken::new("vt")),
            ..EventConfig::default()
        }
    }

    #[test]
    fn a_sealed_event_passes_feishus_own_checks() {
        let c = check(Some("the-encrypt-key"));
        let p = sealed(&c, EVENT, [5; 16], "n0nce", 1_800_000_000);
        let header = |n: &str| {
            p.headers
                .iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| v.as_str())
        };
        let headers = SignatureHeaders {
            timestamp: header("x-lark-request-timestamp"),
            nonce: header("x-lark-request-nonce"),
            signature: header("x-lark-signature"),
        };
        let got = event::receive(p.body.as_bytes(), &headers, &c, 1_800_000_000_000).unwrap();
        assert!(got.signed);
        assert_eq!(got.plaintext, EVENT);
        assert!(
            matches!(got.event, Event::Other { ref event_type, .. } if event_type == "im.message.receive_v1")
        );
        assert!(!p.body.contains("om_1"), "sealed");
        let other = check(Some("another-key"));
        assert!(event::receive(p.body.as_bytes(), &headers, &other, 1_800_000_000_000).is_err());
    }

    #[test]
    fn without_an_encrypt_key_the_plaintext_carries_the_token() {
        let c = check(None);
        let p = sealed(&c, EVENT, [5; 16], "n", 1);
        assert_eq!(p.body, EVENT);
        assert_eq!(p.headers.len(), 1);
        assert!(event::receive(p.body.as_bytes(), &SignatureHeaders::default(), &c, 0).is_ok());
    }
}
