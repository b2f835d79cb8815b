//! The cipher suites a private network can seal its messages with.

use core::fmt;

/// The authenticated encryption that seals every message of a private network.
///
/// Every member of a network must use the same suite: a message sealed with another suite is
/// dropped ([`DropReason::WrongCipher`](crate::DropReason::WrongCipher)). The suite travels with
/// the key ([`NetworkKey::with_cipher`](crate::NetworkKey::with_cipher)). Both suites use the
/// 256-bit network key, a fresh random nonce per message and a 16-byte tag, and are safe with
/// random nonces for any realistic number of messages (see `docs/security.md`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Cipher {
    /// XChaCha20-Poly1305 with 24-byte random nonces: the default. Constant-time and fast in
    /// software on every CPU (about 300 MiB/s for 1 KiB messages on one x86-64 core), so it is
    /// the right choice unless sealing is a bottleneck or the CPU lacks AES instructions.
    #[default]
    XChaCha20Poly1305,
    /// AES-256-GCM-SIV (RFC 8452) with 12-byte random nonces: several times faster on CPUs with
    /// AES and carry-less multiplication instructions (x86-64 AES-NI and CLMUL, ARMv8 crypto
    /// extensions), which are detected at run time. Choose it when sealing and opening must
    /// keep up with more than a few hundred MiB/s per core. Without those instructions it falls
    /// back to a constant-time software AES that is much slower than XChaCha20-Poly1305.
    ///
    /// GCM-SIV, unlike plain GCM, derives a fresh key for every nonce and resists nonce reuse,
    /// which is what makes random 96-bit nonces from many senders sharing one key safe.
    Aes256GcmSiv,
}

/// Bytes of the authentication tag that ends every sealed message, whatever the suite.
pub(crate) const TAG_LEN: usize = 16;

impl Cipher {
    /// Every suite, the default first.
    pub const ALL: [Cipher; 2] = [Cipher::XChaCha20Poly1305, Cipher::Aes256GcmSiv];

    /// The suite's stable name in configuration and on the command line: `xchacha20poly1305`
    /// or `aes256gcmsiv`.
    pub const fn name(self) -> &'static str {
        match self {
            Cipher::XChaCha20Poly1305 => "xchacha20poly1305",
            Cipher::Aes256GcmSiv => "aes256gcmsiv",
        }
    }

    /// The suite called `name` (as given by [`Cipher::name`], ignoring ASCII case), if any.
    pub fn from_name(name: &str) -> Option<Cipher> {
        Cipher::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(name))
    }

    /// Bytes of the random nonce that precedes the ciphertext: 24 or 12.
    pub const fn nonce_len(self) -> usize {
        match self {
            Cipher::XChaCha20Poly1305 => 24,
            Cipher::Aes256GcmSiv => 12,
        }
    }

    /// Bytes that sealing adds to a body, besides the plain header: the nonce and the tag.
    pub const fn seal_overhead(self) -> usize {
        self.nonce_len() + TAG_LEN
    }
}

impl fmt::Display for Cipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for c in Cipher::ALL {
            assert_eq!(Cipher::from_name(c.name()), Some(c));
            assert_eq!(c.to_string(), c.name());
        }
        assert_eq!(
            Cipher::from_name("AES256GCMSIV"),
            Some(Cipher::Aes256GcmSiv)
        );
        assert_eq!(Cipher::from_name("aes256gcm"), None);
        assert_eq!(Cipher::from_name(""), None);
        assert_eq!(Cipher::default(), Cipher::XChaCha20Poly1305);
    }

    #[test]
    fn overheads_are_nonce_plus_tag() {
        assert_eq!(Cipher::XChaCha20Poly1305.seal_overhead(), 40);
        assert_eq!(Cipher::Aes256GcmSiv.seal_overhead(), 28);
    }
}
