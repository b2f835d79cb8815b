//! `frame`: the stream framing, against a reference parser.
//!
//! The input picks a frame cap, then either builds a valid stream (frames of the input's bytes,
//! cut at the input's split points) or feeds the input's own bytes in input-chosen chunks.
//! Either way the decoder must return exactly the frames that a parse of the whole stream finds,
//! never buffer more than one frame and its header, and refuse exactly the header that the parse
//! refuses. A valid stream must come out as the frames that went in, with nothing left over.

use telepathine_core::wire::{FRAME_HEADER_LEN, FrameDecoder, FrameError, encode_frame};

use super::input::Input;

/// Largest cap the target picks: small caps are where the edge cases are.
pub const MAX_CAP: usize = 4096;
/// Most frames a valid stream holds.
pub const MAX_FRAMES: usize = 16;
/// Largest chunk pushed at once.
pub const MAX_CHUNK: usize = 1024;

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let cap = 1 + input.below(MAX_CAP);
    let valid = input.bool();
    let (frames_in, stream) = if valid {
        valid_stream(&mut input, cap)
    } else {
        (Vec::new(), Vec::new())
    };
    let mut decoder = FrameDecoder::new(cap);
    let mut fed = Vec::new();
    let mut got = Vec::new();
    let mut refused = None;
    loop {
        let chunk = if valid {
            let rest = &stream[fed.len()..];
            if rest.is_empty() {
                break;
            }
            // Once the split points run out, the rest arrives in one read.
            let n = if input.is_empty() {
                rest.len()
            } else {
                1 + input.below(MAX_CHUNK)
            };
            &rest[..n.min(rest.len())]
        } else {
            if input.is_empty() {
                break;
            }
            let n = input.below(MAX_CHUNK + 1);
            input.take(n)
        };
        fed.extend_from_slice(chunk);
        match decoder.push(chunk) {
            Ok(frames) => got.extend(frames),
            Err(FrameError::BadLength(len)) => {
                refused = Some(len);
                break;
            }
        }
        assert!(
            decoder.buffered() <= cap + FRAME_HEADER_LEN,
            "buffered {} bytes with cap {cap}",
            decoder.buffered()
        );
    }
    let (expected, expected_refusal, leftover) = reference(&fed, cap);
    assert_eq!(
        refused, expected_refusal,
        "refusal differs from the reference"
    );
    if refused.is_some() {
        // The stream is closed: frames completed earlier in the refused read are dropped with it.
        assert!(got.len() <= expected.len() && expected[..got.len()] == got[..]);
    } else {
        assert_eq!(got, expected, "frames differ from the reference");
        assert_eq!(decoder.buffered(), leftover);
    }
    if valid {
        assert_eq!(got, frames_in, "a valid stream came out changed");
        assert_eq!(decoder.buffered(), 0);
    }
}

/// Frames of the input's bytes, each 1 to `cap` long, and their encoding back to back.
fn valid_stream(input: &mut Input, cap: usize) -> (Vec<Vec<u8>>, Vec<u8>) {
    let mut frames = Vec::new();
    let mut stream = Vec::new();
    for _ in 0..input.below(MAX_FRAMES + 1) {
        let payload = input.bytes(cap);
        if !payload.is_empty() {
            stream.extend(encode_frame(payload));
            frames.push(payload.to_vec());
        }
    }
    (frames, stream)
}

/// What a parse of the whole `stream` finds: its complete frames, the length it refuses if a
/// complete header is out of bounds, and the bytes left after the last complete frame.
pub fn reference(stream: &[u8], cap: usize) -> (Vec<Vec<u8>>, Option<u32>, usize) {
    let mut frames = Vec::new();
    let mut rest = stream;
    loop {
        let Some(header) = rest.first_chunk::<FRAME_HEADER_LEN>() else {
            return (frames, None, rest.len());
        };
        let len = u32::from_be_bytes(*header);
        if len == 0 || len as usize > cap {
            return (frames, Some(len), rest.len());
        }
        let end = FRAME_HEADER_LEN + len as usize;
        if rest.len() < end {
            return (frames, None, rest.len());
        }
        frames.push(rest[FRAME_HEADER_LEN..end].to_vec());
        rest = &rest[end..];
    }
}
