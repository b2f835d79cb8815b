//! The network key's AEAD, keyed once, with one detached encrypt/decrypt pair for either suite,
//! so that the envelope deals in byte slices and never in a suite's array types.

use alloc::boxed::Box;
use chacha20poly1305::XChaCha20Poly1305;
use chacha20poly1305::aead::{self, AeadInOut, KeyInit};

use crate::cipher::{Cipher, TAG_LEN};
use crate::key::NetworkKey;

/// One suite's cipher, keyed with the network key.
#[derive(Clone)]
pub(super) enum Aead {
    XChaCha20Poly1305(XChaCha20Poly1305),
    // Boxed: the expanded AES-256 key (960 bytes with the run-time backend choice) would make
    // every sealer that large, where XChaCha's key is 32 bytes.
    Aes256GcmSiv(Box<aes_gcm_siv::Aes256GcmSiv>),
}

impl Aead {
    pub(super) fn new(key: &NetworkKey) -> Self {
        let bytes = key.bytes();
        match key.cipher() {
            Cipher::XChaCha20Poly1305 => {
                Aead::XChaCha20Poly1305(XChaCha20Poly1305::new(&(*bytes).into()))
            }
            Cipher::Aes256GcmSiv => {
                Aead::Aes256GcmSiv(Box::new(aes_gcm_siv::Aes256GcmSiv::new(&(*bytes).into())))
            }
        }
    }

    pub(super) fn cipher(&self) -> Cipher {
        match self {
            Aead::XChaCha20Poly1305(_) => Cipher::XChaCha20Poly1305,
            Aead::Aes256GcmSiv(_) => Cipher::Aes256GcmSiv,
        }
    }

    /// Encrypts `buf` in place; returns the tag, or `None` when `nonce` is not the suite's
    /// length or the plaintext is beyond the suite's limit (both far from anything we send).
    pub(super) fn encrypt(
        &self,
        nonce: &[u8],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Option<[u8; TAG_LEN]> {
        match self {
            Aead::XChaCha20Poly1305(a) => encrypt(a, nonce, aad, buf),
            Aead::Aes256GcmSiv(a) => encrypt(a.as_ref(), nonce, aad, buf),
        }
    }

    /// Authenticates and decrypts `buf` in place; `false` when anything does not match.
    pub(super) fn decrypt(&self, nonce: &[u8], aad: &[u8], buf: &mut [u8], tag: &[u8]) -> bool {
        match self {
            Aead::XChaCha20Poly1305(a) => decrypt(a, nonce, aad, buf, tag),
            Aead::Aes256GcmSiv(a) => decrypt(a.as_ref(), nonce, aad, buf, tag),
        }
    }
}

fn encrypt<A: AeadInOut>(
    aead: &A,
    nonce: &[u8],
    aad: &[u8],
    buf: &mut [u8],
) -> Option<[u8; TAG_LEN]> {
    let nonce = aead::Nonce::<A>::try_from(nonce).ok()?;
    let tag = aead.encrypt_inout_detached(&nonce, aad, buf.into()).ok()?;
    tag.as_slice().try_into().ok()
}

fn decrypt<A: AeadInOut>(aead: &A, nonce: &[u8], aad: &[u8], buf: &mut [u8], tag: &[u8]) -> bool {
    let (Ok(nonce), Ok(tag)) = (
        aead::Nonce::<A>::try_from(nonce),
        aead::Tag::<A>::try_from(tag),
    ) else {
        return false;
    };
    aead.decrypt_inout_detached(&nonce, aad, buf.into(), &tag)
        .is_ok()
}
