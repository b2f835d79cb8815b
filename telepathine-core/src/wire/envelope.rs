//! The envelope around every message: a plain header, then the body, sealed on a private
//! network.
//!
//! ```text
//! offset  size  field
//! 0       2     magic "TP"
//! 2       1     protocol version (1)
//! 3       1     flags: bit 0 = sealed; bit 1 = AES-256-GCM-SIV (sealed only); others zero
//! 4       1     key id (0 when public)
//! 5       4     cluster id, little endian
//! 9       24/12 random nonce: XChaCha20 (24 bytes) or AES-GCM-SIV (12)  (sealed only)
//! 9/33/21 ..    body (postcard), then a 16-byte tag when sealed
//! ```
//! The 9 header bytes are the AEAD's associated data, so a sealed message moved to another
//! cluster or key id, or relabelled with the other suite, fails to open.

use alloc::borrow::Cow;
use alloc::vec::Vec;
use rand_core::Rng;

use super::aead::Aead;
use super::{MAGIC, PROTOCOL_VERSION, cluster_id};
use crate::cipher::{Cipher, TAG_LEN};
use crate::key::NetworkKey;
use crate::stats::DropReason;

/// Bytes of the plain header.
pub const HEADER_LEN: usize = 9;
/// The longest nonce of any suite, for a stack buffer.
const MAX_NONCE_LEN: usize = 24;
const FLAG_SEALED: u8 = 1;
/// Set with [`FLAG_SEALED`] when the suite is AES-256-GCM-SIV; clear for XChaCha20-Poly1305.
const FLAG_AES_GCM_SIV: u8 = 2;

/// Wraps bodies into envelopes and opens received ones, for one cluster and key.
#[derive(Clone)]
pub struct Sealer {
    cluster_id: u32,
    key: Option<(Aead, u8)>,
}

impl core::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Sealer")
            .field("cluster_id", &self.cluster_id)
            .field("cipher", &self.cipher())
            .finish()
    }
}

impl Sealer {
    /// A sealer for `cluster`; with a key, every message is sealed with the key's cipher suite
    /// and unsealed ones, or ones sealed with the other suite, are refused.
    pub fn new(cluster: &str, key: Option<&NetworkKey>) -> Self {
        Sealer {
            cluster_id: cluster_id(cluster),
            key: key.map(|k| (Aead::new(k), k.id())),
        }
    }

    /// The suite messages are sealed with; `None` on a public network.
    pub fn cipher(&self) -> Option<Cipher> {
        self.key.as_ref().map(|(aead, _)| aead.cipher())
    }

    /// Bytes the envelope adds around a body: the header, and the suite's nonce and tag when
    /// sealed.
    pub fn overhead(&self) -> usize {
        HEADER_LEN + self.cipher().map_or(0, Cipher::seal_overhead)
    }

    fn header(&self, sealed: Option<Cipher>, key_id: u8) -> [u8; HEADER_LEN] {
        let c = self.cluster_id.to_le_bytes();
        let flags = match sealed {
            None => 0,
            Some(Cipher::XChaCha20Poly1305) => FLAG_SEALED,
            Some(Cipher::Aes256GcmSiv) => FLAG_SEALED | FLAG_AES_GCM_SIV,
        };
        [
            MAGIC[0],
            MAGIC[1],
            PROTOCOL_VERSION,
            flags,
            key_id,
            c[0],
            c[1],
            c[2],
            c[3],
        ]
    }

    /// Wraps `body` into an envelope, sealing it with a fresh random nonce when keyed.
    pub fn seal<R: Rng>(&self, body: &[u8], rng: &mut R) -> Vec<u8> {
        let sealed: Result<_, core::convert::Infallible> = self.seal_with(rng, body.len(), |out| {
            out.extend_from_slice(body);
            Ok(())
        });
        sealed.unwrap_or_else(|never| match never {})
    }

    /// Like [`Sealer::seal`], but `write` appends the body straight into the envelope (sealed
    /// in place afterwards), so a message costs one buffer and no copy; `capacity` is a guess
    /// at the body's size. An error from `write` is returned as is.
    pub fn seal_with<R: Rng, E>(
        &self,
        rng: &mut R,
        capacity: usize,
        write: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<Vec<u8>, E> {
        let mut out = Vec::with_capacity(capacity + self.overhead());
        match &self.key {
            None => {
                out.extend_from_slice(&self.header(None, 0));
                write(&mut out)?;
            }
            Some((aead, key_id)) => {
                let cipher = aead.cipher();
                let header = self.header(Some(cipher), *key_id);
                let mut buf = [0u8; MAX_NONCE_LEN];
                let nonce = &mut buf[..cipher.nonce_len()];
                // From the node's seeded RNG, like all its randomness: runs stay reproducible.
                rng.fill_bytes(nonce);
                out.extend_from_slice(&header);
                out.extend_from_slice(nonce);
                write(&mut out)?;
                let start = HEADER_LEN + nonce.len();
                // Encryption fails only for plaintexts of 64 GiB and more (AES-GCM-SIV's
                // limit; XChaCha's is 256 GiB), far past our frame cap.
                match aead.encrypt(nonce, &header, &mut out[start..]) {
                    Some(tag) => out.extend_from_slice(&tag),
                    None => out.clear(),
                }
            }
        }
        Ok(out)
    }

    /// Checks the header and, on a private network, authenticates and decrypts; returns the
    /// body or why the message must be dropped.
    pub fn open<'a>(&self, msg: &'a [u8]) -> Result<Cow<'a, [u8]>, DropReason> {
        if msg.len() < HEADER_LEN || msg[0..2] != MAGIC {
            return Err(DropReason::BadMagic);
        }
        if msg[2] != PROTOCOL_VERSION {
            return Err(DropReason::UnsupportedVersion);
        }
        let sealed_with = match msg[3] {
            0 => None,
            FLAG_SEALED => Some(Cipher::XChaCha20Poly1305),
            f if f == FLAG_SEALED | FLAG_AES_GCM_SIV => Some(Cipher::Aes256GcmSiv),
            // Unknown bits, or a suite named on an unsealed message.
            _ => return Err(DropReason::Malformed),
        };
        let cluster = u32::from_le_bytes([msg[5], msg[6], msg[7], msg[8]]);
        if cluster != self.cluster_id {
            return Err(DropReason::WrongCluster);
        }
        match (&self.key, sealed_with) {
            (None, None) => Ok(Cow::Borrowed(&msg[HEADER_LEN..])),
            (None, Some(_)) => Err(DropReason::UnexpectedSeal),
            (Some(_), None) => Err(DropReason::Unsealed),
            (Some((aead, key_id)), Some(cipher)) => {
                if msg[4] != *key_id {
                    return Err(DropReason::UnknownKey);
                }
                // The suite belongs to the key: a member configured with the other one is told
                // apart from a forger, so the operator sees the misconfiguration by name.
                if cipher != aead.cipher() {
                    return Err(DropReason::WrongCipher);
                }
                if msg.len() < HEADER_LEN + cipher.seal_overhead() {
                    return Err(DropReason::Forged);
                }
                let body_at = HEADER_LEN + cipher.nonce_len();
                let tag_at = msg.len() - TAG_LEN;
                let mut body = msg[body_at..tag_at].to_vec();
                if !aead.decrypt(
                    &msg[HEADER_LEN..body_at],
                    &msg[..HEADER_LEN],
                    &mut body,
                    &msg[tag_at..],
                ) {
                    return Err(DropReason::Forged);
                }
                Ok(Cow::Owned(body))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::SeedableRng;

    fn rng() -> rand_chacha::ChaCha8Rng {
        rand_chacha::ChaCha8Rng::seed_from_u64(1)
    }

    fn key(byte: u8, id: u8, cipher: Cipher) -> NetworkKey {
        NetworkKey::from_bytes([byte; 32], id).with_cipher(cipher)
    }

    #[test]
    fn public_round_trip_and_header_checks() {
        let s = Sealer::new("c", None);
        let env = s.seal(b"hello", &mut rng());
        assert_eq!(env.len(), 5 + HEADER_LEN);
        assert_eq!(s.overhead(), HEADER_LEN);
        assert_eq!(s.open(&env).unwrap().as_ref(), b"hello");
        assert_eq!(
            Sealer::new("other", None).open(&env),
            Err(DropReason::WrongCluster)
        );
        let mut bad = env.clone();
        bad[2] = 9;
        assert_eq!(s.open(&bad), Err(DropReason::UnsupportedVersion));
        assert_eq!(s.open(&env[..4]), Err(DropReason::BadMagic));
        // A suite named on an unsealed message, or an unknown flag, is not a valid header.
        for flags in [FLAG_AES_GCM_SIV, 4, 0x80, FLAG_SEALED | 4] {
            let mut bad = env.clone();
            bad[3] = flags;
            assert_eq!(s.open(&bad), Err(DropReason::Malformed), "flags {flags:#x}");
        }
    }

    #[test]
    fn sealed_round_trip_and_rejections_under_each_suite() {
        for cipher in Cipher::ALL {
            let s = Sealer::new("c", Some(&key(7, 0, cipher)));
            assert_eq!(s.cipher(), Some(cipher));
            assert_eq!(s.overhead(), HEADER_LEN + cipher.seal_overhead());
            let mut r = rng();
            let a = s.seal(b"secret body", &mut r);
            let b = s.seal(b"secret body", &mut r);
            assert_ne!(
                a, b,
                "{cipher}: random nonces: the same body never seals the same way"
            );
            assert_eq!(a.len(), 11 + s.overhead(), "{cipher}");
            assert!(!a.windows(6).any(|w| w == b"secret"), "{cipher}");
            assert_eq!(s.open(&a).unwrap().as_ref(), b"secret body", "{cipher}");
            assert_eq!(s.open(&s.seal(b"", &mut r)).unwrap().as_ref(), b"");
            for i in 0..a.len() {
                let mut flipped = a.clone();
                flipped[i] ^= 0x10;
                assert!(
                    s.open(&flipped).is_err(),
                    "{cipher}: bit flip at {i} accepted"
                );
            }
            let other = Sealer::new("c", Some(&key(8, 0, cipher)));
            assert_eq!(other.open(&a), Err(DropReason::Forged), "{cipher}");
            let public = Sealer::new("c", None);
            assert_eq!(
                s.open(&public.seal(b"x", &mut r)),
                Err(DropReason::Unsealed)
            );
            assert_eq!(public.open(&a), Err(DropReason::UnexpectedSeal));
            let rotated = Sealer::new("c", Some(&key(7, 1, cipher)));
            assert_eq!(rotated.open(&a), Err(DropReason::UnknownKey), "{cipher}");
            assert_eq!(
                Sealer::new("d", Some(&key(7, 0, cipher))).open(&a),
                Err(DropReason::WrongCluster)
            );
            // Truncated anywhere: inside the nonce, inside the tag, or by one byte.
            for len in [HEADER_LEN, HEADER_LEN + 5, HEADER_LEN + 10, a.len() - 1] {
                assert_eq!(
                    s.open(&a[..len]),
                    Err(DropReason::Forged),
                    "{cipher}: {len}"
                );
            }
            let mut longer = a.clone();
            longer.push(0);
            assert_eq!(s.open(&longer), Err(DropReason::Forged), "{cipher}");
        }
    }

    #[test]
    fn the_suites_have_their_own_flag_and_nonce_length() {
        let mut r = rng();
        let x = Sealer::new("c", Some(&key(7, 0, Cipher::XChaCha20Poly1305))).seal(b"m", &mut r);
        let g = Sealer::new("c", Some(&key(7, 0, Cipher::Aes256GcmSiv))).seal(b"m", &mut r);
        assert_eq!(x[3], FLAG_SEALED);
        assert_eq!(g[3], FLAG_SEALED | FLAG_AES_GCM_SIV);
        assert_eq!(x.len(), HEADER_LEN + 24 + 1 + TAG_LEN);
        assert_eq!(g.len(), HEADER_LEN + 12 + 1 + TAG_LEN);
    }

    #[test]
    fn a_message_sealed_with_the_other_suite_is_dropped_as_wrong_cipher() {
        let mut r = rng();
        let x = Sealer::new("c", Some(&key(7, 0, Cipher::XChaCha20Poly1305)));
        let g = Sealer::new("c", Some(&key(7, 0, Cipher::Aes256GcmSiv)));
        assert_eq!(g.open(&x.seal(b"m", &mut r)), Err(DropReason::WrongCipher));
        assert_eq!(x.open(&g.seal(b"m", &mut r)), Err(DropReason::WrongCipher));
        // Relabelling the suite is caught too: the flags are associated data.
        let mut relabelled = g.seal(b"a body of some length", &mut r);
        relabelled[3] = FLAG_SEALED;
        assert_eq!(x.open(&relabelled), Err(DropReason::Forged));
        let mut relabelled = x.seal(b"a body of some length", &mut r);
        relabelled[3] = FLAG_SEALED | FLAG_AES_GCM_SIV;
        assert_eq!(g.open(&relabelled), Err(DropReason::Forged));
        // Another key id wins over another suite: that key is not held at all.
        let rotated = Sealer::new("c", Some(&key(7, 1, Cipher::XChaCha20Poly1305)));
        assert_eq!(
            g.open(&rotated.seal(b"m", &mut r)),
            Err(DropReason::UnknownKey)
        );
    }
}
