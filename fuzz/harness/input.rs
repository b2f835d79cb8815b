//! Turns fuzz input into structured choices, and back.
//!
//! The core's `fuzz_corpus` test compiles this harness too and cannot depend on `arbitrary`, so
//! the structured targets read their input with [`Input`] instead. It works the same way
//! (consume bytes from the front, zeros once the input runs out), so each libFuzzer mutation
//! changes one choice. [`Script`] writes the bytes that make [`Input`] take given choices, which
//! the seed generator uses to turn recorded traffic into corpus files.

use telepathine_core::wire::MAX_VERSION;

/// A cursor over fuzz input that never fails: past the end every read yields zero.
#[derive(Debug)]
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    /// Reads `data` from the start.
    pub fn new(data: &'a [u8]) -> Self {
        Input { data }
    }

    /// Whether every byte was consumed.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// One byte.
    pub fn u8(&mut self) -> u8 {
        self.array::<1>()[0]
    }

    /// Two bytes, little endian.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.array())
    }

    /// Four bytes, little endian.
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.array())
    }

    /// Eight bytes, little endian.
    pub fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.array())
    }

    /// One byte's lowest bit.
    pub fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    /// True one time in `n`, from one byte.
    pub fn one_in(&mut self, n: u8) -> bool {
        self.u8().is_multiple_of(n)
    }

    /// A number in `0..n` (`n` at least 1), from one byte when `n` fits in one, else two.
    pub fn below(&mut self, n: usize) -> usize {
        debug_assert!(n > 0 && n <= 1 << 16);
        if n <= 256 {
            usize::from(self.u8()) % n
        } else {
            usize::from(self.u16()) % n
        }
    }

    /// A u64 that is usually small, sometimes an edge value and sometimes anything: limits and
    /// overflows hide at the edges, and state only builds up with small versions.
    pub fn number(&mut self) -> u64 {
        match self.u8() % 8 {
            0..=3 => u64::from(self.u8()),
            4 => u64::from(self.u16()),
            5 => EDGES[usize::from(self.u8()) % EDGES.len()],
            _ => self.u64(),
        }
    }

    /// Up to `max` bytes, as many as a length prefix asks for and the input still holds.
    pub fn bytes(&mut self, max: usize) -> &'a [u8] {
        let len = self.below(max + 1);
        self.take(len)
    }

    /// The next `len` bytes, or fewer when the input runs out.
    pub fn take(&mut self, len: usize) -> &'a [u8] {
        let (head, tail) = self.data.split_at(len.min(self.data.len()));
        self.data = tail;
        head
    }

    fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        let head = self.take(N);
        out[..head.len()].copy_from_slice(head);
        out
    }
}

/// Values that [`Input::number`] picks from its edge case.
pub const EDGES: [u64; 10] = [
    0,
    1,
    2,
    MAX_VERSION,
    MAX_VERSION + 1,
    u32::MAX as u64,
    (u32::MAX as u64) + 1,
    i64::MAX as u64,
    u64::MAX - 1,
    u64::MAX,
];

/// Writes the bytes that make an [`Input`] read the given values.
#[derive(Debug, Default)]
pub struct Script {
    /// The bytes written so far.
    pub bytes: Vec<u8>,
}

impl Script {
    /// Makes [`Input::u8`] return `v`.
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.bytes.push(v);
        self
    }

    /// Makes [`Input::u16`] return `v`.
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.bytes.extend(v.to_le_bytes());
        self
    }

    /// Makes [`Input::u64`] return `v`.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.bytes.extend(v.to_le_bytes());
        self
    }

    /// Makes [`Input::bool`] return `v`.
    pub fn bool(&mut self, v: bool) -> &mut Self {
        self.u8(u8::from(v))
    }

    /// Makes [`Input::below`]`(n)` return `v`.
    pub fn below(&mut self, n: usize, v: usize) -> &mut Self {
        assert!(v < n && n <= 1 << 16);
        if n <= 256 {
            self.u8(v as u8)
        } else {
            self.u16(v as u16)
        }
    }

    /// Makes [`Input::number`] return `v`.
    pub fn number(&mut self, v: u64) -> &mut Self {
        if let Ok(small) = u8::try_from(v) {
            self.u8(0).u8(small)
        } else if let Ok(mid) = u16::try_from(v) {
            self.u8(4).u16(mid)
        } else {
            self.u8(7).u64(v)
        }
    }

    /// Makes [`Input::bytes`]`(max)` return `data` (which must not exceed `max`).
    pub fn bytes(&mut self, max: usize, data: &[u8]) -> &mut Self {
        self.below(max + 1, data.len());
        self.bytes.extend_from_slice(data);
        self
    }
}
