//! The other way of `decrypt`: an event's plaintext sealed as Feishu seals
//! it (`{"encrypt": base64(IV || AES-256-CBC(SHA-256(Encrypt Key), PKCS#7))}`),
//! for handing an event on to a handler built on the official SDKs'
//! `EventDispatcher`, which opens it with the same Encrypt Key.

use crate::event::decrypt::aes_key;
use crate::secret::EncryptKey;
use aes::Aes256;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use cbc::cipher::{BlockEncryptMut, KeyIvInit, block_padding::Pkcs7};

/// `plaintext` sealed under `encrypt_key` with `iv` (16 bytes from a CSPRNG),
/// as the `encrypt` member's value.
pub fn encrypt(encrypt_key: &EncryptKey, plaintext: &str, iv: [u8; 16]) -> String {
    let key = aes_key(encrypt_key);
    let sealed = cbc::Encryptor::<Aes256>::new(&key.into(), &iv.into())
        .encrypt_padded_vec_mut::<Pkcs7>(plaintext.as_bytes());
    let mut out = iv.to_vec();
    out.extend_from_slice(&sealed);
    BASE64.encode(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::decrypt;
    use crate::event::decrypt::tests::encrypt as reference;

    #[test]
    fn sealed_as_the_reference_and_opened_by_decrypt() {
        let key = EncryptKey::new("k3y");
        for len in 0..=40 {
            let text: String = "{\"k\":\"ünïcode\"}".chars().cycle().take(len).collect();
            let sealed = encrypt(&key, &text, [3; 16]);
            assert_eq!(
                sealed,
                reference("k3y", [3; 16], text.as_bytes()),
                "len {len}"
            );
            assert_eq!(decrypt(&key, &sealed).unwrap(), text);
        }
    }
}
