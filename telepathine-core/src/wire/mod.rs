//! The wire format: envelope, messages, stream framing and replay protection.
//!
//! `docs/protocol.md` describes the same format for reimplementers.

mod aead;
mod envelope;
mod framing;
mod message;
mod packed;
mod replay;

pub use envelope::{HEADER_LEN, Sealer};
pub use framing::{FRAME_HEADER_LEN, FrameDecoder, FrameError, encode_frame};
pub use message::{
    Body, Cover, Delta, Digest, DigestEntry, Key, Message, OriginDelta, Status, Value, WireEntries,
    WireEntry,
};
pub(crate) use packed::{MIN_ENTRY_LEN, entry_len as packed_entry_len};
pub use replay::ReplayVerdict;
pub(crate) use replay::Window;

/// First two bytes of every message.
pub const MAGIC: [u8; 2] = *b"TP";
/// Protocol version carried in every header; a node drops other versions.
pub const PROTOCOL_VERSION: u8 = 1;
/// Highest version or generation-relative counter a message may carry. A node writing a
/// million keys a second takes nine years to reach it; the bound keeps a malicious key holder
/// from pinning a copy at `u64::MAX`, past which its owner could never write again.
pub const MAX_VERSION: u64 = 1 << 48;

/// Smallest datagram budget a node accepts: room for the envelope and a useful body.
pub const MIN_DATAGRAM_BUDGET: usize = 512;

/// FNV-1a over `bytes`, continuing from `state`. Used for the cluster id and hash rings, where
/// a stable, dependency-free hash is wanted and collision resistance is not.
pub fn fnv1a64(bytes: &[u8], mut state: u64) -> u64 {
    for b in bytes {
        state ^= u64::from(*b);
        state = state.wrapping_mul(0x0100_0000_01b3);
    }
    state
}

/// The 32-bit cluster id carried in every header, from the cluster name.
pub fn cluster_id(cluster: &str) -> u32 {
    let h = fnv1a64(cluster.as_bytes(), 0xcbf2_9ce4_8422_2325);
    (h ^ (h >> 32)) as u32
}

/// Appends `value`'s postcard encoding to `out`: a message is encoded straight into its
/// envelope, with no buffer of its own to allocate and copy.
pub fn encode_into<T: serde::Serialize + ?Sized>(
    value: &T,
    out: &mut alloc::vec::Vec<u8>,
) -> postcard::Result<()> {
    postcard::serialize_with_flavor(value, Append(out))
}

/// A postcard output that appends to a vector it borrows.
struct Append<'a>(&'a mut alloc::vec::Vec<u8>);

impl postcard::ser_flavors::Flavor for Append<'_> {
    type Output = ();

    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.0.push(data);
        Ok(())
    }

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.0.extend_from_slice(data);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// Exact encoded size of `value` in postcard, without encoding it.
pub fn encoded_len<T: serde::Serialize + ?Sized>(value: &T) -> usize {
    postcard::serialize_with_flavor(value, postcard::ser_flavors::Size::default())
        .unwrap_or(usize::MAX)
}
