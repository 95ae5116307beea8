//! `{"encrypt": "<base64>"}` event bodies: AES-256-CBC with key =
//! SHA-256(Encrypt Key), the IV in the first 16 bytes, PKCS#7 padding
//! (Feishu, "Configure encryption strategy":
//! <https://open.feishu.cn/document/server-docs/event-subscription-guide/event-subscription-configure-/configure-encrypt-key>).
//!
//! RustCrypto's `aes` (portable, constant-time fixsliced software AES) and
//! `cbc` (chaining, strict PKCS#7 unpadding); the `base64` crate's standard
//! engine, which refuses non-canonical input (missing or extra padding,
//! trailing bits, whitespace).

use crate::error::{Error, ErrorCode};
use crate::secret::EncryptKey;
use aes::Aes256;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use cbc::cipher::{BlockDecryptMut, KeyIvInit, block_padding::Pkcs7};
use sha2::{Digest, Sha256};

const BLOCK: usize = 16;

/// Largest `encrypt` member accepted: events are small JSON documents; this
/// bounds the work an unauthenticated caller can cause.
pub const MAX_ENCRYPTED_BYTES: usize = 256 * 1024;

fn failed(detail: &str) -> Error {
    Error::event(ErrorCode::DecryptionFailed, detail)
}

pub fn aes_key(encrypt_key: &EncryptKey) -> [u8; 32] {
    Sha256::digest(encrypt_key.expose_secret().as_bytes()).into()
}

/// The plaintext of an `encrypt` member, or DECRYPTION_FAILED.
pub fn decrypt(encrypt_key: &EncryptKey, encrypted: &str) -> Result<String, Error> {
    if encrypted.len() > MAX_ENCRYPTED_BYTES {
        return Err(failed("`encrypt` is too long"));
    }
    let data = BASE64
        .decode(encrypted)
        .map_err(|_| failed("`encrypt` is not base64"))?;
    if data.len() < 2 * BLOCK || data.len() % BLOCK != 0 {
        return Err(failed(
            "`encrypt` is not an IV followed by whole AES blocks",
        ));
    }
    let (iv, body) = data.split_at(BLOCK);
    let key = aes_key(encrypt_key);
    let cipher = cbc::Decryptor::<Aes256>::new_from_slices(&key, iv)
        .map_err(|_| failed("the IV is not one AES block"))?;
    let plain = cipher
        .decrypt_padded_vec_mut::<Pkcs7>(body)
        .map_err(|_| failed("bad padding (is the Encrypt Key the app's?)"))?;
    String::from_utf8(plain).map_err(|_| failed("the plaintext is not UTF-8"))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use aes::cipher::{BlockEncrypt, KeyInit, generic_array::GenericArray};

    fn b64(bytes: &[u8]) -> String {
        BASE64.encode(bytes)
    }

    /// The reference: encryption written out independently of `decrypt`.
    pub(crate) fn encrypt(key: &str, iv: [u8; 16], plaintext: &[u8]) -> String {
        let k: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let cipher = Aes256::new(GenericArray::from_slice(&k));
        let pad = BLOCK - plaintext.len() % BLOCK;
        let mut data = plaintext.to_vec();
        data.extend(std::iter::repeat_n(pad as u8, pad));
        let mut out = iv.to_vec();
        let mut prev = iv;
        for chunk in data.chunks(BLOCK) {
            let mut b = GenericArray::clone_from_slice(chunk);
            for (x, p) in b.iter_mut().zip(prev) {
                *x ^= p;
            }
            cipher.encrypt_block(&mut b);
            prev.copy_from_slice(&b);
            out.extend_from_slice(&b);
        }
        b64(&out)
    }

    fn key(k: &str) -> EncryptKey {
        EncryptKey::new(k)
    }

    fn code(r: Result<String, Error>) -> ErrorCode {
        match r {
            Ok(p) => panic!("decrypted to {p:?}"),
            Err(e) => e.code(),
        }
    }

    /// `printf '%s' 'hello feishu' | openssl enc -aes-256-cbc -K "$(printf '%s' test-key |
    /// sha256sum | cut -c1-64)" -iv 000102030405060708090a0b0c0d0e0f`, IV prepended, base64.
    const OPENSSL_FIXTURE: &str = "AAECAwQFBgcICQoLDA0OD2xKBTmX58tcssVK54l7Hhk=";

    #[test]
    fn decrypts_openssl_output() {
        assert_eq!(
            decrypt(&key("test-key"), OPENSSL_FIXTURE).unwrap(),
            "hello feishu"
        );
    }

    #[test]
    fn decrypts_the_reference_at_every_padding_length() {
        for len in 0..=48 {
            let text: String = "{\"k\":\"ünïcode\"}".chars().cycle().take(len).collect();
            let enc = encrypt("k3y", [7; 16], text.as_bytes());
            assert_eq!(decrypt(&key("k3y"), &enc).unwrap(), text, "len {len}");
        }
    }

    #[test]
    fn every_tampering_is_rejected_never_a_panic() {
        let enc = encrypt("k3y", [9; 16], br#"{"type":"url_verification"}"#);
        let raw = BASE64.decode(&enc).unwrap();
        assert_eq!(
            code(decrypt(&key("other"), &enc)),
            ErrorCode::DecryptionFailed
        );
        // The last block's padding is what a flipped bit in the last two
        // blocks (or the IV, for one-block bodies) spoils.
        let last_two = raw.len() - 2 * BLOCK..raw.len();
        for i in last_two {
            for bit in 0..8 {
                let mut t = raw.clone();
                t[i] ^= 1 << bit;
                if let Ok(p) = decrypt(&key("k3y"), &b64(&t)) {
                    // A flip in the second-last block may leave the padding
                    // intact; it must then change the plaintext.
                    assert_ne!(p, r#"{"type":"url_verification"}"#, "byte {i} bit {bit}");
                }
            }
        }
        let shapes = [
            String::new(),
            "not base64!".to_owned(),
            b64(&raw[..BLOCK]),
            b64(&raw[..raw.len() - 1]),
            b64(&raw[..raw.len() - BLOCK][..BLOCK]),
            "A".repeat(MAX_ENCRYPTED_BYTES + 4),
        ];
        for s in shapes {
            assert_eq!(code(decrypt(&key("k3y"), &s)), ErrorCode::DecryptionFailed);
        }
    }

    #[test]
    fn padding_must_be_strict_pkcs7() {
        // Encrypts raw final blocks (no padding added) to see what the
        // unpadding accepts: only n bytes of value n, 1 <= n <= 16.
        let raw = |last: &[u8]| {
            let mut block = [b'a'; BLOCK];
            block[BLOCK - last.len()..].copy_from_slice(last);
            let k: [u8; 32] = Sha256::digest(b"k3y").into();
            let cipher = Aes256::new(GenericArray::from_slice(&k));
            let mut b = GenericArray::clone_from_slice(&block);
            for (x, p) in b.iter_mut().zip([5u8; 16]) {
                *x ^= p;
            }
            cipher.encrypt_block(&mut b);
            let mut out = vec![5u8; 16];
            out.extend_from_slice(&b);
            decrypt(&key("k3y"), &b64(&out))
        };
        assert_eq!(raw(&[1]).unwrap(), "a".repeat(15));
        assert_eq!(raw(&[3, 3, 3]).unwrap(), "a".repeat(13));
        for bad in [&[0][..], &[17], &[3, 2], &[2, 3, 3], &[b'a', 2]] {
            assert_eq!(code(raw(bad)), ErrorCode::DecryptionFailed, "{bad:?}");
        }
    }

    #[test]
    fn base64_must_be_canonical() {
        let good = encrypt("k3y", [1; 16], b"{}");
        assert_eq!(decrypt(&key("k3y"), &good).unwrap(), "{}");
        let unpadded = good.trim_end_matches('=').to_owned();
        let spaced = format!(" {good}");
        let newline = format!("{good}\n");
        let url_safe = good.replace('+', "-").replace('/', "_");
        for bad in [unpadded, spaced, newline, format!("{good}=="), url_safe] {
            if bad == good {
                continue;
            }
            assert_eq!(
                code(decrypt(&key("k3y"), &bad)),
                ErrorCode::DecryptionFailed,
                "{bad:?}"
            );
        }
        for bad in ["Zg=", "Zg", "Z===", "Zh==", "Zm9=", "====", "Zm=v"] {
            assert!(BASE64.decode(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn errors_never_show_the_key() {
        let e = decrypt(&key("super-secret-key"), "AAAA").unwrap_err();
        assert!(!e.to_string().contains("super-secret-key"));
    }
}
