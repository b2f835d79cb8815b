//! Length-delimited frames for streams: a 4-byte big-endian length, then that many bytes.

use alloc::vec::Vec;
use core::fmt;

/// Bytes of the length prefix.
pub const FRAME_HEADER_LEN: usize = 4;

/// Prefixes `payload` with its length. The caller keeps payloads under its frame cap.
pub fn encode_frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(FRAME_HEADER_LEN + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Why a stream must be closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// A header announced a frame larger than the cap (or empty), before any of it was buffered.
    BadLength(u32),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::BadLength(n) => write!(f, "frame length {n} is zero or over the cap"),
        }
    }
}

impl core::error::Error for FrameError {}

/// Reassembles frames from a byte stream however it is split or coalesced.
///
/// Memory stays under `max_frame + FRAME_HEADER_LEN` plus one read: the announced length is
/// checked against the cap before anything is reserved for it.
#[derive(Debug)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    max_frame: usize,
}

impl FrameDecoder {
    /// A decoder refusing frames over `max_frame` bytes.
    pub fn new(max_frame: usize) -> Self {
        FrameDecoder {
            buf: Vec::new(),
            max_frame,
        }
    }

    /// Bytes received but not yet returned as frames.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Appends bytes read from the stream, then returns every complete frame.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<Vec<u8>>, FrameError> {
        let mut frames = Vec::new();
        let mut input = bytes;
        loop {
            if self.buf.len() < FRAME_HEADER_LEN {
                let need = FRAME_HEADER_LEN - self.buf.len();
                let take = need.min(input.len());
                self.buf.extend_from_slice(&input[..take]);
                input = &input[take..];
                if self.buf.len() < FRAME_HEADER_LEN {
                    return Ok(frames);
                }
            }
            let len = u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]);
            if len == 0 || len as usize > self.max_frame {
                return Err(FrameError::BadLength(len));
            }
            let want = FRAME_HEADER_LEN + len as usize;
            let take = (want - self.buf.len()).min(input.len());
            self.buf.extend_from_slice(&input[..take]);
            input = &input[take..];
            if self.buf.len() < want {
                return Ok(frames);
            }
            let frame = self.buf.split_off(FRAME_HEADER_LEN);
            self.buf.clear();
            frames.push(frame);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn refuses_oversize_and_empty_before_buffering() {
        let mut d = FrameDecoder::new(100);
        assert_eq!(
            d.push(&101u32.to_be_bytes()),
            Err(FrameError::BadLength(101))
        );
        let mut d = FrameDecoder::new(100);
        assert_eq!(d.push(&0u32.to_be_bytes()), Err(FrameError::BadLength(0)));
        let mut d = FrameDecoder::new(100);
        assert_eq!(d.push(&u32::MAX.to_be_bytes()[..3]), Ok(vec![]));
        assert!(d.buffered() <= FRAME_HEADER_LEN);
    }

    proptest! {
        #[test]
        fn any_split_yields_the_same_frames(
            frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..300), 0..8),
            cuts in proptest::collection::vec(1usize..64, 0..50),
        ) {
            let mut stream = Vec::new();
            for f in &frames { stream.extend(encode_frame(f)); }
            let mut d = FrameDecoder::new(300);
            let mut got = Vec::new();
            let mut rest = &stream[..];
            for c in cuts {
                let c = c.min(rest.len());
                got.extend(d.push(&rest[..c]).unwrap());
                rest = &rest[c..];
            }
            got.extend(d.push(rest).unwrap());
            prop_assert_eq!(got, frames);
            prop_assert_eq!(d.buffered(), 0);
        }
    }
}
