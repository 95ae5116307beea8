//! `X-Lark-Signature` = hex(SHA-256(timestamp + nonce + Encrypt Key + raw
//! body bytes)), and the replay window on `X-Lark-Request-Timestamp`.

use crate::error::{Error, ErrorCode};
use crate::secret::{EncryptKey, constant_time_eq};
use sha2::{Digest, Sha256};

/// How old (or how far in the future) a signed event's timestamp may be.
/// Feishu's SDKs do not check it at all; five minutes allows for clock skew
/// and Feishu's retries while keeping a captured request from being replayed later.
pub const DEFAULT_MAX_AGE_SECS: u64 = 5 * 60;

/// The three signature headers, as received.
#[derive(Clone, Copy, Debug, Default)]
pub struct SignatureHeaders<'a> {
    pub timestamp: Option<&'a str>,
    pub nonce: Option<&'a str>,
    pub signature: Option<&'a str>,
}

impl SignatureHeaders<'_> {
    /// Whether the request claims to be signed at all.
    pub fn any(&self) -> bool {
        self.timestamp.is_some() || self.nonce.is_some() || self.signature.is_some()
    }
}

pub fn sign(timestamp: &str, nonce: &str, key: &EncryptKey, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(timestamp.as_bytes());
    h.update(nonce.as_bytes());
    h.update(key.expose_secret().as_bytes());
    h.update(body);
    let digest = h.finalize();
    let mut hex = String::with_capacity(64);
    for b in digest {
        hex.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        hex.push(char::from(b"0123456789abcdef"[usize::from(b & 0xf)]));
    }
    hex
}

/// Checks the timestamp against `now_ms` first (cheap, and a stale request is
/// refused whatever its signature), then the signature over the raw bytes.
pub fn verify(
    headers: &SignatureHeaders<'_>,
    key: &EncryptKey,
    body: &[u8],
    now_ms: u64,
    max_age_secs: u64,
) -> Result<(), Error> {
    let (Some(ts), Some(nonce), Some(given)) =
        (headers.timestamp, headers.nonce, headers.signature)
    else {
        return Err(Error::event(
            ErrorCode::InvalidSignature,
            "X-Lark-Request-Timestamp, X-Lark-Request-Nonce and X-Lark-Signature are all required",
        ));
    };
    let secs = ts.trim().parse::<u64>().map_err(|_| {
        Error::event(
            ErrorCode::StaleEvent,
            "X-Lark-Request-Timestamp is not a whole number of seconds",
        )
    })?;
    let now_secs = now_ms / 1000;
    if secs.abs_diff(now_secs) > max_age_secs {
        return Err(Error::event(
            ErrorCode::StaleEvent,
            &format!(
                "X-Lark-Request-Timestamp is {} s away from now (at most {max_age_secs})",
                secs.abs_diff(now_secs)
            ),
        ));
    }
    let expected = sign(ts, nonce, key, body);
    let given = given.trim().to_ascii_lowercase();
    if !constant_time_eq(expected.as_bytes(), given.as_bytes()) {
        return Err(Error::event(
            ErrorCode::InvalidSignature,
            "X-Lark-Signature does not match the body",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000_000;

    fn h<'a>(ts: &'a str, nonce: &'a str, sig: &'a str) -> SignatureHeaders<'a> {
        SignatureHeaders {
            timestamp: Some(ts),
            nonce: Some(nonce),
            signature: Some(sig),
        }
    }

    #[test]
    fn matches_an_independent_sha256() {
        // printf '%s' '1700000000n0nceKEY{"a":1}' | sha256sum
        let key = EncryptKey::new("KEY");
        assert_eq!(
            sign("1700000000", "n0nce", &key, br#"{"a":1}"#),
            "9483751d7041df9c12fafe5eb0b56c68b8e3ef0710fefbf2daaba3f2c91d5719"
        );
    }

    #[test]
    fn accepts_a_good_signature_in_either_case() {
        let key = EncryptKey::new("KEY");
        let body = br#"{"encrypt":"x"}"#;
        let sig = sign("1700000000", "n", &key, body);
        verify(&h("1700000000", "n", &sig), &key, body, NOW, 300).unwrap();
        let upper = sig.to_ascii_uppercase();
        verify(&h("1700000000", "n", &upper), &key, body, NOW, 300).unwrap();
    }

    #[test]
    fn rejects_every_tampered_part() {
        let key = EncryptKey::new("KEY");
        let body = br#"{"encrypt":"x"}"#;
        let sig = sign("1700000000", "n", &key, body);
        let code = |r: Result<(), Error>| r.unwrap_err().code();
        let bad_sig = ErrorCode::InvalidSignature;
        assert_eq!(
            code(verify(
                &h("1700000000", "n", &sig),
                &key,
                b"{\"encrypt\":\"y\"}",
                NOW,
                300
            )),
            bad_sig
        );
        assert_eq!(
            code(verify(&h("1700000001", "n", &sig), &key, body, NOW, 300)),
            bad_sig
        );
        assert_eq!(
            code(verify(&h("1700000000", "m", &sig), &key, body, NOW, 300)),
            bad_sig
        );
        assert_eq!(
            code(verify(
                &h("1700000000", "n", &sig),
                &EncryptKey::new("KEY2"),
                body,
                NOW,
                300
            )),
            bad_sig
        );
        assert_eq!(
            code(verify(
                &h("1700000000", "n", &sig[1..]),
                &key,
                body,
                NOW,
                300
            )),
            bad_sig
        );
        assert_eq!(
            code(verify(&h("1700000000", "n", ""), &key, body, NOW, 300)),
            bad_sig
        );
        let missing = SignatureHeaders {
            signature: None,
            ..h("1700000000", "n", &sig)
        };
        assert_eq!(code(verify(&missing, &key, body, NOW, 300)), bad_sig);
        assert!(missing.any());
        assert!(!SignatureHeaders::default().any());
    }

    #[test]
    fn replay_window_both_ways_and_configurable() {
        let key = EncryptKey::new("KEY");
        let at = |secs: u64, window: u64| {
            let ts = secs.to_string();
            let sig = sign(&ts, "n", &key, b"{}");
            verify(&h(&ts, "n", &sig), &key, b"{}", NOW, window).map_err(|e| e.code())
        };
        let now = NOW / 1000;
        assert_eq!(at(now - 300, 300), Ok(()));
        assert_eq!(at(now - 301, 300), Err(ErrorCode::StaleEvent));
        assert_eq!(at(now + 301, 300), Err(ErrorCode::StaleEvent));
        assert_eq!(at(now - 3600, 7200), Ok(()));
        assert_eq!(at(0, 300), Err(ErrorCode::StaleEvent));
        let sig = sign("soon", "n", &key, b"{}");
        assert_eq!(
            verify(&h("soon", "n", &sig), &key, b"{}", NOW, 300)
                .unwrap_err()
                .code(),
            ErrorCode::StaleEvent
        );
    }
}
