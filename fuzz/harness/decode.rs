//! `decode`: postcard decoding of a [`Message`] from raw bytes, as a node does with an opened
//! body.

use telepathine_core::wire::{Message, encoded_len};

/// Decodes `data` as a node would; whatever decodes must encode again, to the size
/// `encoded_len` predicts, and decode back to the same message (nodes forward received state in
/// their own messages and budget it with `encoded_len`).
pub fn run(data: &[u8]) {
    let Ok((msg, rest)) = postcard::take_from_bytes::<Message>(data) else {
        return;
    };
    assert!(rest.len() < data.len(), "a message takes at least one byte");
    let bytes = postcard::to_allocvec(&msg).expect("a decoded message encodes");
    assert_eq!(encoded_len(&msg), bytes.len(), "encoded_len disagrees");
    let back: Message = postcard::from_bytes(&bytes).expect("a re-encoded message decodes");
    assert_eq!(back, msg, "decode(encode(m)) != m");
}
