//! `{"encrypt": "<base64>"}` event bodies: AES-256-CBC with key =
//! SHA-256(Encrypt Key), the IV in the first 16 bytes, PKCS#7 padding.
//!
//! RustCrypto's `aes` (portable, constant-time fixsliced software AES) does
//! the block cipher; the CBC chaining and the padding check are here.

use crate::base64;
use crate::error::{Error, ErrorCode};
use crate::secret::EncryptKey;
use aes::Aes256;
use aes::cipher::{BlockDecrypt, KeyInit, generic_array::GenericArray};
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
    let data = base64::decode(encrypted).ok_or_else(|| failed("`encrypt` is not base64"))?;
    if data.len() < 2 * BLOCK || data.len() % BLOCK != 0 {
        return Err(failed(
            "`encrypt` is not an IV followed by whole AES blocks",
        ));
    }
    let cipher = Aes256::new(GenericArray::from_slice(&aes_key(encrypt_key)));
    let (iv, body) = data.split_at(BLOCK);
    let mut plain = Vec::with_capacity(body.len());
    let mut previous = iv;
    for block in body.chunks_exact(BLOCK) {
        let mut b = GenericArray::clone_from_slice(block);
        cipher.decrypt_block(&mut b);
        plain.extend(b.iter().zip(previous).map(|(x, p)| x ^ p));
        previous = block;
    }
    let unpadded =
        strip_pkcs7(&plain).ok_or_else(|| failed("bad padding (is the Encrypt Key the app's?)"))?;
    String::from_utf8(unpadded.to_vec()).map_err(|_| failed("the plaintext is not UTF-8"))
}

fn strip_pkcs7(plain: &[u8]) -> Option<&[u8]> {
    let n = usize::from(*plain.last()?);
    if n == 0 || n > BLOCK || n > plain.len() {
        return None;
    }
    let (text, pad) = plain.split_at(plain.len() - n);
    pad.iter().all(|&b| usize::from(b) == n).then_some(text)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use aes::cipher::BlockEncrypt;

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
        base64::encode(&out)
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
        let raw = base64::decode(&enc).unwrap();
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
                if let Ok(p) = decrypt(&key("k3y"), &base64::encode(&t)) {
                    // A flip in the second-last block may leave the padding
                    // intact; it must then change the plaintext.
                    assert_ne!(p, r#"{"type":"url_verification"}"#, "byte {i} bit {bit}");
                }
            }
        }
        let shapes = [
            String::new(),
            "not base64!".to_owned(),
            base64::encode(&raw[..BLOCK]),
            base64::encode(&raw[..raw.len() - 1]),
            base64::encode(&raw[..raw.len() - BLOCK][..BLOCK]),
            "A".repeat(MAX_ENCRYPTED_BYTES + 4),
        ];
        for s in shapes {
            assert_eq!(code(decrypt(&key("k3y"), &s)), ErrorCode::DecryptionFailed);
        }
    }

    #[test]
    fn padding_rules() {
        assert_eq!(strip_pkcs7(&[b'a', 1]), Some(&b"a"[..]));
        assert_eq!(strip_pkcs7(&[16; 16]), Some(&b""[..]));
        assert_eq!(strip_pkcs7(&[b'a', 0]), None);
        assert_eq!(strip_pkcs7(&[b'a', 17]), None);
        assert_eq!(strip_pkcs7(&[b'a', 3, 2]), None);
        assert_eq!(strip_pkcs7(&[]), None);
    }

    #[test]
    fn errors_never_show_the_key() {
        let e = decrypt(&key("super-secret-key"), "AAAA").unwrap_err();
        assert!(!e.to_string().contains("super-secret-key"));
    }
}
