//! The entries of a [`Digest`](super::Digest), packed into one postcard byte string.
//!
//! Derived serde code encodes a `SocketAddr` as an enum variant, a tuple of octets and a port,
//! through several nested deserializer calls per entry, which dominated the cost of decoding a
//! large digest. Here the entries travel as a single byte string (postcard: a varint byte
//! length, then the bytes) parsed by hand. Each entry is:
//!
//! ```text
//! family      1 byte       4 (IPv4) or 6 (IPv6)
//! ip          4 or 16      the address octets, in network order
//! port        2 bytes      big endian
//! generation  varint u64   LEB128, as postcard: 7 bits a byte, least significant group first
//! version     varint u64
//! ```
//!
//! Varints must be minimal (no trailing zero group) and fit a `u64` (at most 10 bytes, the
//! tenth 0 or 1). Anything else, an unknown family or a partial entry makes the byte string
//! malformed. IPv6 flow info and scope id are not carried (serde never carried them either);
//! decoded addresses have them at zero.
//!
//! Decoding never panics, and never reserves more entries than the byte string could hold nor
//! more than 1 MiB of them up front.

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;
use core::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::Serializer;

use super::message::DigestEntry;

/// Family byte of an IPv4 entry.
const FAMILY_V4: u8 = 4;
/// Family byte of an IPv6 entry.
const FAMILY_V6: u8 = 6;
/// Fewest bytes an entry takes: an IPv4 address and two one-byte varints.
pub(crate) const MIN_ENTRY_LEN: usize = 1 + 4 + 2 + 1 + 1;
/// Most bytes a `u64` varint takes.
const MAX_VARINT_LEN: usize = 10;
/// Preallocation cap for formats that hand the byte string over as a sequence of bytes.
const SEQ_PREALLOC: usize = 4096;
/// Most entries reserved up front (1 MiB of them, as serde's own cap): a byte string of
/// garbage as long as a frame then costs no more than it did before the first bad byte.
const ENTRY_PREALLOC: usize = (1 << 20) / core::mem::size_of::<DigestEntry>();

/// Why a packed byte string was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Malformed {
    /// It ends inside an entry.
    Truncated,
    /// An entry's family byte is neither 4 nor 6.
    Family(u8),
    /// A varint has a trailing zero group.
    Overlong,
    /// A varint does not fit a `u64`.
    Overflow,
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Malformed::Truncated => f.write_str("digest entries end inside an entry"),
            Malformed::Family(b) => write!(f, "digest entry address family {b}, not 4 or 6"),
            Malformed::Overlong => f.write_str("digest entry varint is not minimal"),
            Malformed::Overflow => f.write_str("digest entry varint overflows u64"),
        }
    }
}

/// Bytes of the varint encoding of `v`.
fn varint_len(v: u64) -> usize {
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Packed size of one entry, for budgeting digests to a byte count.
pub(crate) fn entry_len(e: &DigestEntry) -> usize {
    let addr = match e.origin {
        SocketAddr::V4(_) => 1 + 4 + 2,
        SocketAddr::V6(_) => 1 + 16 + 2,
    };
    addr + varint_len(e.generation) + varint_len(e.version)
}

/// Writes `v` as a varint at the start of `out`, returning how many bytes it took. `out` must
/// have room for `varint_len(v)` bytes.
fn put_varint(out: &mut [u8], mut v: u64) -> usize {
    let mut n = 0;
    while v >= 0x80 {
        out[n] = (v as u8) | 0x80;
        v >>= 7;
        n += 1;
    }
    out[n] = v as u8;
    n + 1
}

/// Writes the packed form of `e` at the start of `out`, which must have room for
/// `entry_len(e)` bytes, returning how many bytes it took.
fn put_entry(out: &mut [u8], e: &DigestEntry) -> usize {
    let n = match e.origin {
        SocketAddr::V4(a) => {
            out[0] = FAMILY_V4;
            out[1..5].copy_from_slice(&a.ip().octets());
            out[5..7].copy_from_slice(&a.port().to_be_bytes());
            7
        }
        SocketAddr::V6(a) => {
            out[0] = FAMILY_V6;
            out[1..17].copy_from_slice(&a.ip().octets());
            out[17..19].copy_from_slice(&a.port().to_be_bytes());
            19
        }
    };
    let n = n + put_varint(&mut out[n..], e.generation);
    n + put_varint(&mut out[n..], e.version)
}

/// The packed byte string of `entries`.
fn pack(entries: &[DigestEntry]) -> Vec<u8> {
    let mut out = vec![0u8; entries.iter().map(entry_len).sum()];
    let mut at = 0;
    for e in entries {
        at += put_entry(&mut out[at..], e);
    }
    debug_assert_eq!(at, out.len());
    out
}

/// Reads a minimal `u64` varint off the front of `rest`.
#[inline]
fn take_varint(rest: &mut &[u8]) -> Result<u64, Malformed> {
    // Fast path: a varint of at most 8 bytes with 8 bytes readable, decoded as one word.
    if let Some(chunk) = rest.first_chunk::<8>() {
        let word = u64::from_le_bytes(*chunk);
        let stops = !word & 0x8080_8080_8080_8080;
        if stops != 0 {
            let len = (stops.trailing_zeros() as usize + 1) / 8;
            if len > 1 && (word >> (8 * (len - 1))) as u8 == 0 {
                return Err(Malformed::Overlong);
            }
            // Keep the varint's own bytes, drop the continuation bits, close the gaps.
            let x = word & (u64::MAX >> (64 - 8 * len)) & 0x7f7f_7f7f_7f7f_7f7f;
            let x = ((x & 0x7f00_7f00_7f00_7f00) >> 1) | (x & 0x007f_007f_007f_007f);
            let x = ((x & 0x3fff_0000_3fff_0000) >> 2) | (x & 0x0000_3fff_0000_3fff);
            let x = ((x & 0x0fff_ffff_0000_0000) >> 4) | (x & 0x0000_0000_0fff_ffff);
            *rest = &rest[len..];
            return Ok(x);
        }
    }
    take_varint_bytewise(rest)
}

/// [`take_varint`] a byte at a time: near the end of the input, and for 9 or 10 bytes.
fn take_varint_bytewise(rest: &mut &[u8]) -> Result<u64, Malformed> {
    let bytes = *rest;
    let mut value = 0u64;
    for (i, &b) in bytes.iter().take(MAX_VARINT_LEN).enumerate() {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            if i == MAX_VARINT_LEN - 1 && b > 1 {
                // The tenth group holds only bit 63.
                return Err(Malformed::Overflow);
            }
            if b == 0 && i > 0 {
                return Err(Malformed::Overlong);
            }
            *rest = &bytes[i + 1..];
            return Ok(value);
        }
    }
    if bytes.len() >= MAX_VARINT_LEN {
        Err(Malformed::Overflow)
    } else {
        Err(Malformed::Truncated)
    }
}

/// Parses a packed byte string back into entries.
fn unpack(bytes: &[u8]) -> Result<Vec<DigestEntry>, Malformed> {
    let mut entries = Vec::with_capacity((bytes.len() / MIN_ENTRY_LEN).min(ENTRY_PREALLOC));
    let mut rest = bytes;
    while let Some((&family, tail)) = rest.split_first() {
        let origin = match family {
            FAMILY_V4 => {
                let Some((raw, tail)) = tail.split_first_chunk::<6>() else {
                    return Err(Malformed::Truncated);
                };
                rest = tail;
                let ip = Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3]);
                SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be_bytes([raw[4], raw[5]])))
            }
            FAMILY_V6 => {
                let Some((raw, tail)) = tail.split_first_chunk::<18>() else {
                    return Err(Malformed::Truncated);
                };
                rest = tail;
                let (ip, port) = raw.split_at(16);
                let mut octets = [0u8; 16];
                octets.copy_from_slice(ip);
                let port = u16::from_be_bytes([port[0], port[1]]);
                SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(octets), port, 0, 0))
            }
            other => return Err(Malformed::Family(other)),
        };
        let generation = take_varint(&mut rest)?;
        let version = take_varint(&mut rest)?;
        entries.push(DigestEntry {
            origin,
            generation,
            version,
        });
    }
    Ok(entries)
}

/// `#[serde(with)]` half: the entries as one byte string.
pub fn serialize<S: Serializer>(entries: &[DigestEntry], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_bytes(&pack(entries))
}

/// `#[serde(with)]` half: the entries from one byte string.
pub fn deserialize<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<DigestEntry>, D::Error> {
    deserializer.deserialize_bytes(PackedVisitor)
}

struct PackedVisitor;

impl<'de> Visitor<'de> for PackedVisitor {
    type Value = Vec<DigestEntry>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a byte string of packed digest entries")
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
        unpack(v).map_err(E::custom)
    }

    fn visit_borrowed_bytes<E: de::Error>(self, v: &'de [u8]) -> Result<Self::Value, E> {
        self.visit_bytes(v)
    }

    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Self::Value, E> {
        self.visit_bytes(&v)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        // A format that writes bytes as a sequence: its length hint is untrusted.
        let hint = seq.size_hint().unwrap_or(0).min(SEQ_PREALLOC);
        let mut bytes = Vec::with_capacity(hint);
        while let Some(b) = seq.next_element::<u8>()? {
            bytes.push(b);
        }
        self.visit_bytes(&bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Cover, Digest};
    use proptest::prelude::*;

    fn entry(origin: SocketAddr, generation: u64, version: u64) -> DigestEntry {
        DigestEntry {
            origin,
            generation,
            version,
        }
    }

    fn v6(octets: [u8; 16], port: u16) -> SocketAddr {
        SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(octets), port, 0, 0))
    }

    fn extremes() -> Vec<DigestEntry> {
        vec![
            entry(SocketAddr::from(([10, 0, 0, 1], 9000)), 1, 0),
            entry(SocketAddr::from(([0, 0, 0, 0], 0)), 0, 0),
            entry(SocketAddr::from(([255; 4], 65535)), u64::MAX, u64::MAX),
            entry(v6([0; 16], 0), u64::MAX, 1),
            entry(v6([0xff; 16], 65535), 127, 128),
            entry(
                v6(
                    [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
                    443,
                ),
                1 << 63,
                (1 << 63) - 1,
            ),
            entry(
                SocketAddr::from(([192, 168, 1, 2], 1)),
                1_700_000_000_000,
                16_383,
            ),
        ]
    }

    fn digest(entries: Vec<DigestEntry>) -> Digest {
        Digest {
            cover: Cover::All,
            entries,
        }
    }

    #[test]
    fn mixed_entries_with_extreme_values_round_trip() {
        let d = digest(extremes());
        let bytes = postcard::to_allocvec(&d).unwrap();
        assert_eq!(crate::wire::encoded_len(&d), bytes.len());
        let back: Digest = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, d);
        let packed = pack(&d.entries);
        assert_eq!(packed.len(), d.entries.iter().map(entry_len).sum::<usize>());
        assert_eq!(unpack(&packed).unwrap(), d.entries);
    }

    #[test]
    fn layout_is_as_documented() {
        let entries = [
            entry(SocketAddr::from(([10, 1, 2, 3], 9000)), 300, 5),
            entry(v6([1; 16], 65535), u64::MAX, 0),
        ];
        let d = Digest {
            cover: Cover::Listed,
            entries: entries.to_vec(),
        };
        let mut want = vec![0u8, 40]; // Cover::Listed, byte length 10 + 30
        want.extend([4, 10, 1, 2, 3, 0x23, 0x28, 0xac, 0x02, 5]);
        want.extend([6]);
        want.extend([1; 16]);
        want.extend([0xff, 0xff]);
        want.extend([
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0,
        ]);
        assert_eq!(want.len(), 2 + 40);
        assert_eq!(postcard::to_allocvec(&d).unwrap(), want);
    }

    #[test]
    fn ipv6_flow_info_and_scope_are_not_carried() {
        let addr = SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::LOCALHOST, 7, 0xabcd, 3));
        let back = unpack(&pack(&[entry(addr, 1, 1)])).unwrap();
        assert_eq!(back, [entry(v6(Ipv6Addr::LOCALHOST.octets(), 7), 1, 1)]);
    }

    #[test]
    fn every_truncation_fails_cleanly() {
        let d = digest(extremes());
        let bytes = postcard::to_allocvec(&d).unwrap();
        for cut in 0..bytes.len() {
            assert!(
                postcard::from_bytes::<Digest>(&bytes[..cut]).is_err(),
                "cut {cut}"
            );
        }
        // Inside the byte string, only cuts between entries parse, to the entries before.
        let packed = pack(&d.entries);
        let mut boundaries = vec![0];
        for e in &d.entries {
            boundaries.push(boundaries.last().unwrap() + entry_len(e));
        }
        for cut in 0..packed.len() {
            match boundaries.iter().position(|&b| b == cut) {
                Some(n) => assert_eq!(unpack(&packed[..cut]).unwrap(), d.entries[..n]),
                None => assert_eq!(unpack(&packed[..cut]), Err(Malformed::Truncated), "{cut}"),
            }
            // Re-framed with a matching length, a partial entry is a decode error too.
            let mut framed = vec![1u8];
            framed.extend(postcard::to_allocvec(&packed[..cut]).unwrap());
            let decoded = postcard::from_bytes::<Digest>(&framed);
            assert_eq!(decoded.is_ok(), boundaries.contains(&cut), "{cut}");
        }
    }

    #[test]
    fn bad_family_is_refused() {
        for family in [0u8, 1, 5, 7, 0x80, 0xff] {
            let bytes = [family, 1, 2, 3, 4, 0, 1, 1, 1];
            assert_eq!(unpack(&bytes), Err(Malformed::Family(family)));
        }
    }

    #[test]
    fn overlong_and_overflowing_varints_are_refused() {
        let head = [4u8, 10, 0, 0, 1, 0x23, 0x28];
        let with = |generation: &[u8]| {
            let mut b = head.to_vec();
            b.extend(generation);
            b.push(1);
            unpack(&b)
        };
        assert_eq!(with(&[0x01]).unwrap()[0].generation, 1);
        assert_eq!(with(&[0x80, 0x00]), Err(Malformed::Overlong));
        assert_eq!(with(&[0x81, 0x80, 0x00]), Err(Malformed::Overlong));
        let max = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(with(&max).unwrap()[0].generation, u64::MAX);
        let mut over = max;
        over[9] = 0x02;
        assert_eq!(with(&over), Err(Malformed::Overflow));
        over[9] = 0x81;
        assert_eq!(with(&over), Err(Malformed::Overflow));
        let eleven = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ];
        assert_eq!(with(&eleven), Err(Malformed::Overflow));
        // Through postcard, the same is a decode error.
        let mut b = head.to_vec();
        b.extend([0x80, 0x00, 1]);
        let mut framed = vec![1u8];
        framed.extend(postcard::to_allocvec(&b[..]).unwrap());
        assert!(postcard::from_bytes::<Digest>(&framed).is_err());
    }

    #[test]
    fn claimed_lengths_do_not_allocate_past_the_bytes() {
        // A byte length far beyond the input: postcard refuses before anything is reserved.
        let mut bytes = vec![1u8];
        bytes.extend([0xff, 0xff, 0xff, 0xff, 0x0f]);
        bytes.extend([4, 1, 2, 3, 4, 0, 1, 1, 1]);
        assert!(postcard::from_bytes::<Digest>(&bytes).is_err());
        // Parsed entries never reserve more than the bytes could hold.
        let packed = pack(&extremes());
        let entries = unpack(&packed).unwrap();
        assert!(entries.capacity() <= packed.len() / MIN_ENTRY_LEN);
        // A sequence-of-bytes format claiming a huge length preallocates a bounded amount.
        struct Lying<'a>(&'a [u8]);
        impl<'de> SeqAccess<'de> for Lying<'_> {
            type Error = de::value::Error;
            fn next_element_seed<T: de::DeserializeSeed<'de>>(
                &mut self,
                seed: T,
            ) -> Result<Option<T::Value>, Self::Error> {
                let Some((first, rest)) = self.0.split_first() else {
                    return Ok(None);
                };
                self.0 = rest;
                seed.deserialize(de::value::U8Deserializer::new(*first))
                    .map(Some)
            }
            fn size_hint(&self) -> Option<usize> {
                Some(usize::MAX)
            }
        }
        let one = pack(&extremes()[..1]);
        let got = PackedVisitor.visit_seq(Lying(&one)).unwrap();
        assert_eq!(got, extremes()[..1]);
        assert!(PackedVisitor.visit_seq(Lying(&one[..5])).is_err());
    }

    fn any_addr() -> impl Strategy<Value = SocketAddr> {
        prop_oneof![
            (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, p)| SocketAddr::from((ip, p))),
            (any::<[u8; 16]>(), any::<u16>()).prop_map(|(ip, p)| v6(ip, p)),
        ]
    }

    fn any_u64() -> impl Strategy<Value = u64> {
        prop_oneof![any::<u64>(), (0u32..64).prop_map(|s| 1u64 << s), 0u64..300]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

        #[test]
        fn random_bytes_never_panic_and_what_parses_is_canonical(
            bytes in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            if let Ok(entries) = unpack(&bytes) {
                prop_assert!(entries.capacity() <= bytes.len() / MIN_ENTRY_LEN);
                prop_assert_eq!(pack(&entries), bytes.clone());
            }
            let _ = postcard::from_bytes::<Digest>(&bytes);
        }

        #[test]
        fn mutated_encodings_never_panic(
            entries in proptest::collection::vec((any_addr(), any_u64(), any_u64()), 1..6),
            edits in proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 1..4),
        ) {
            let entries: Vec<DigestEntry> =
                entries.into_iter().map(|(o, g, v)| entry(o, g, v)).collect();
            let mut bytes = pack(&entries);
            for (at, byte, op) in edits {
                let at = at % (bytes.len() + 1);
                match op {
                    0 if at < bytes.len() => bytes[at] = byte,
                    1 => bytes.insert(at, byte),
                    _ if at < bytes.len() => { bytes.remove(at); }
                    _ => {}
                }
            }
            if let Ok(back) = unpack(&bytes) {
                prop_assert_eq!(pack(&back), bytes);
            }
        }

        #[test]
        fn word_and_bytewise_varints_agree(
            bytes in proptest::collection::vec(
                prop_oneof![Just(0u8), Just(1), Just(0x7f), Just(0x80), Just(0xff), any::<u8>()],
                0..14,
            ),
        ) {
            let (mut a, mut b) = (&bytes[..], &bytes[..]);
            prop_assert_eq!(take_varint(&mut a), take_varint_bytewise(&mut b));
            prop_assert_eq!(a, b);
        }

        #[test]
        fn random_entries_round_trip(
            entries in proptest::collection::vec((any_addr(), any_u64(), any_u64()), 0..20),
        ) {
            let entries: Vec<DigestEntry> =
                entries.into_iter().map(|(o, g, v)| entry(o, g, v)).collect();
            let packed = pack(&entries);
            prop_assert_eq!(packed.len(), entries.iter().map(entry_len).sum::<usize>());
            prop_assert_eq!(unpack(&packed).unwrap(), entries.clone());
            let d = digest(entries);
            let bytes = postcard::to_allocvec(&d).unwrap();
            prop_assert_eq!(crate::wire::encoded_len(&d), bytes.len());
            prop_assert_eq!(postcard::from_bytes::<Digest>(&bytes).unwrap(), d);
        }
    }
}
