//! The pre-shared network key and the derivation that turns a passphrase into it.

use core::fmt;

use crate::cipher::Cipher;

/// A 256-bit key shared by every member of a private network, and the cipher suite it seals
/// with.
///
/// Messages are sealed under this key with its [`Cipher`], XChaCha20-Poly1305 unless
/// [`NetworkKey::with_cipher`] chose another. Derive it from a passphrase with
/// [`NetworkKey::from_passphrase`] (Argon2id, salted with the cluster name, so a weak passphrase
/// is costly to guess offline) or supply 32 random bytes with [`NetworkKey::from_bytes`].
/// Derivation takes tens of milliseconds by design: do it once and clone the result.
#[derive(Clone, PartialEq, Eq)]
pub struct NetworkKey {
    bytes: [u8; 32],
    id: u8,
    cipher: Cipher,
}

impl NetworkKey {
    /// Uses `bytes` as the key directly. `id` names the key in each message header so that a
    /// later key rotation can accept two keys at once; use 0 until then.
    pub const fn from_bytes(bytes: [u8; 32], id: u8) -> Self {
        NetworkKey {
            bytes,
            id,
            cipher: Cipher::XChaCha20Poly1305,
        }
    }

    /// Derives the key from a passphrase with Argon2id (19 MiB, 2 passes), salted with the
    /// cluster name.
    pub fn from_passphrase(passphrase: &str, cluster: &str) -> Self {
        let argon = argon2::Argon2::default();
        let mut memory = alloc::vec![argon2::Block::default(); argon.params().block_count()];
        let mut salt = alloc::vec::Vec::with_capacity(16 + cluster.len());
        salt.extend_from_slice(b"telepathine/v1/");
        salt.extend_from_slice(cluster.as_bytes());
        let mut bytes = [0u8; 32];
        // Argon2 fails only for out-of-range lengths; ours are fixed and valid, so the fallback
        // (a plain, still cluster-specific hash) is never taken in practice.
        if argon
            .hash_password_into_with_memory(passphrase.as_bytes(), &salt, &mut bytes, &mut memory)
            .is_err()
        {
            bytes = fallback_hash(passphrase.as_bytes(), &salt);
        }
        NetworkKey::from_bytes(bytes, 0)
    }

    /// The same key, sealing with `cipher` instead. Every member of the network must choose
    /// the same suite; see [`Cipher`] for when to choose which.
    #[must_use]
    pub const fn with_cipher(mut self, cipher: Cipher) -> Self {
        self.cipher = cipher;
        self
    }

    /// The cipher suite messages are sealed with (XChaCha20-Poly1305 unless
    /// [`NetworkKey::with_cipher`] chose another).
    pub const fn cipher(&self) -> Cipher {
        self.cipher
    }

    /// The key's identifier carried in message headers.
    pub fn id(&self) -> u8 {
        self.id
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.bytes
    }
}

fn fallback_hash(a: &[u8], b: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, chunk) in out.chunks_mut(8).enumerate() {
        let mut h = crate::wire::fnv1a64(b, 0xcbf2_9ce4_8422_2325 ^ i as u64);
        h = crate::wire::fnv1a64(a, h);
        chunk.copy_from_slice(&h.to_le_bytes());
    }
    out
}

impl fmt::Debug for NetworkKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NetworkKey(id {}, {}, <redacted>)", self.id, self.cipher)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivation_depends_on_passphrase_and_cluster() {
        let a = NetworkKey::from_passphrase("secret", "alpha");
        assert_eq!(a, NetworkKey::from_passphrase("secret", "alpha"));
        assert_ne!(a, NetworkKey::from_passphrase("secret", "beta"));
        assert_ne!(a, NetworkKey::from_passphrase("Secret", "alpha"));
        assert!(format!("{a:?}").contains("redacted"));
    }

    #[test]
    fn the_cipher_defaults_to_xchacha_and_travels_with_the_key() {
        let a = NetworkKey::from_passphrase("secret", "alpha");
        assert_eq!(a.cipher(), Cipher::XChaCha20Poly1305);
        assert_eq!(
            NetworkKey::from_bytes([1; 32], 3).cipher(),
            Cipher::XChaCha20Poly1305
        );
        let aes = a.clone().with_cipher(Cipher::Aes256GcmSiv);
        assert_eq!(aes.cipher(), Cipher::Aes256GcmSiv);
        assert_eq!((aes.bytes(), aes.id()), (a.bytes(), a.id()));
        // The same bytes under another suite cannot talk to the original: not the same key.
        assert_ne!(aes, a);
        assert!(format!("{aes:?}").contains("aes256gcmsiv"));
    }
}
