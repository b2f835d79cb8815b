//! The envelope around every message: a plain header, then the body, sealed on a private
//! network.
//!
//! ```text
//! offset  size  field
//! 0       2     magic "TP"
//! 2       1     protocol version (1)
//! 3       1     flags: bit 0 = sealed; other bits zero
//! 4       1     key id (0 when public)
//! 5       4     cluster id, little endian
//! 9       24    XChaCha20 nonce                  (sealed only)
//! 9/33    ..    body (postcard), then a 16-byte Poly1305 tag when sealed
//! ```
//! The 9 header bytes are the AEAD's associated data, so a sealed message moved to another
//! cluster or key id fails to open.

use alloc::borrow::Cow;
use alloc::vec::Vec;
use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{Key, Tag, XChaCha20Poly1305, XNonce};
use rand_core::Rng;

use super::{MAGIC, PROTOCOL_VERSION, cluster_id};
use crate::key::NetworkKey;
use crate::stats::DropReason;

/// Bytes of the plain header.
pub const HEADER_LEN: usize = 9;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// Bytes that sealing adds to a body: nonce and tag.
pub const SEAL_OVERHEAD: usize = NONCE_LEN + TAG_LEN;
const FLAG_SEALED: u8 = 1;

/// Wraps bodies into envelopes and opens received ones, for one cluster and key.
#[derive(Clone)]
pub struct Sealer {
    cluster_id: u32,
    key: Option<(XChaCha20Poly1305, u8)>,
}

impl core::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Sealer")
            .field("cluster_id", &self.cluster_id)
            .field("sealed", &self.key.is_some())
            .finish()
    }
}

impl Sealer {
    /// A sealer for `cluster`; with a key, every message is sealed and unsealed ones refused.
    pub fn new(cluster: &str, key: Option<&NetworkKey>) -> Self {
        Sealer {
            cluster_id: cluster_id(cluster),
            key: key.map(|k| (XChaCha20Poly1305::new(&Key::from(*k.bytes())), k.id())),
        }
    }

    /// Bytes the envelope adds around a body.
    pub fn overhead(&self) -> usize {
        HEADER_LEN + if self.key.is_some() { SEAL_OVERHEAD } else { 0 }
    }

    fn header(&self, sealed: bool, key_id: u8) -> [u8; HEADER_LEN] {
        let c = self.cluster_id.to_le_bytes();
        let flags = if sealed { FLAG_SEALED } else { 0 };
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
        let mut out = Vec::with_capacity(body.len() + self.overhead());
        match &self.key {
            None => {
                out.extend_from_slice(&self.header(false, 0));
                out.extend_from_slice(body);
            }
            Some((cipher, key_id)) => {
                let header = self.header(true, *key_id);
                let mut nonce = [0u8; NONCE_LEN];
                rng.fill_bytes(&mut nonce);
                out.extend_from_slice(&header);
                out.extend_from_slice(&nonce);
                out.extend_from_slice(body);
                let start = HEADER_LEN + NONCE_LEN;
                // Encryption fails only for plaintexts beyond 256 GiB, far past our frame cap.
                if let Ok(tag) = cipher.encrypt_inout_detached(
                    &XNonce::from(nonce),
                    &header,
                    (&mut out[start..]).into(),
                ) {
                    out.extend_from_slice(tag.as_slice());
                } else {
                    out.clear();
                }
            }
        }
        out
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
        let flags = msg[3];
        if flags & !FLAG_SEALED != 0 {
            return Err(DropReason::Malformed);
        }
        let cluster = u32::from_le_bytes([msg[5], msg[6], msg[7], msg[8]]);
        if cluster != self.cluster_id {
            return Err(DropReason::WrongCluster);
        }
        let sealed = flags & FLAG_SEALED != 0;
        match (&self.key, sealed) {
            (None, false) => Ok(Cow::Borrowed(&msg[HEADER_LEN..])),
            (None, true) => Err(DropReason::UnexpectedSeal),
            (Some(_), false) => Err(DropReason::Unsealed),
            (Some((cipher, key_id)), true) => {
                if msg[4] != *key_id {
                    return Err(DropReason::UnknownKey);
                }
                if msg.len() < HEADER_LEN + SEAL_OVERHEAD {
                    return Err(DropReason::Forged);
                }
                let nonce = XNonce::try_from(&msg[HEADER_LEN..HEADER_LEN + NONCE_LEN])
                    .map_err(|_| DropReason::Forged)?;
                let tag_at = msg.len() - TAG_LEN;
                let tag = Tag::try_from(&msg[tag_at..]).map_err(|_| DropReason::Forged)?;
                let mut body = msg[HEADER_LEN + NONCE_LEN..tag_at].to_vec();
                cipher
                    .decrypt_inout_detached(
                        &nonce,
                        &msg[..HEADER_LEN],
                        body.as_mut_slice().into(),
                        &tag,
                    )
                    .map_err(|_| DropReason::Forged)?;
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

    #[test]
    fn public_round_trip_and_header_checks() {
        let s = Sealer::new("c", None);
        let env = s.seal(b"hello", &mut rng());
        assert_eq!(env.len(), 5 + HEADER_LEN);
        assert_eq!(s.open(&env).unwrap().as_ref(), b"hello");
        assert_eq!(
            Sealer::new("other", None).open(&env),
            Err(DropReason::WrongCluster)
        );
        let mut bad = env.clone();
        bad[2] = 9;
        assert_eq!(s.open(&bad), Err(DropReason::UnsupportedVersion));
        assert_eq!(s.open(&env[..4]), Err(DropReason::BadMagic));
    }

    #[test]
    fn sealed_round_trip_and_rejections() {
        let key = NetworkKey::from_bytes([7; 32], 0);
        let s = Sealer::new("c", Some(&key));
        let mut r = rng();
        let a = s.seal(b"secret body", &mut r);
        let b = s.seal(b"secret body", &mut r);
        assert_ne!(
            a, b,
            "random nonces: the same body never seals the same way"
        );
        assert_eq!(a.len(), 11 + HEADER_LEN + SEAL_OVERHEAD);
        assert!(!a.windows(6).any(|w| w == b"secret"));
        assert_eq!(s.open(&a).unwrap().as_ref(), b"secret body");
        for i in 0..a.len() {
            let mut flipped = a.clone();
            flipped[i] ^= 0x10;
            assert!(s.open(&flipped).is_err(), "bit flip at {i} accepted");
        }
        let other = Sealer::new("c", Some(&NetworkKey::from_bytes([8; 32], 0)));
        assert_eq!(other.open(&a), Err(DropReason::Forged));
        let public = Sealer::new("c", None);
        assert_eq!(
            s.open(&public.seal(b"x", &mut r)),
            Err(DropReason::Unsealed)
        );
        assert_eq!(public.open(&a), Err(DropReason::UnexpectedSeal));
        let rotated = Sealer::new("c", Some(&NetworkKey::from_bytes([7; 32], 1)));
        assert_eq!(rotated.open(&a), Err(DropReason::UnknownKey));
        assert_eq!(s.open(&a[..HEADER_LEN + 10]), Err(DropReason::Forged));
    }
}
