//! The deliberately broken node: the delivery layer withholds every delta (`SynAck`, `Ack`)
//! addressed to it, so it hears digests and heartbeats but never learns state. It exists to
//! prove that the invariant checker notices a protocol that does not converge.

use telepathine_core::wire::{Body, HEADER_LEN, Message};

/// Whether `payload` is an unsealed envelope carrying a delta. Sealed or undecodable payloads
/// are not recognised (and so are delivered).
pub fn is_delta(payload: &[u8]) -> bool {
    let Some(body) = payload.get(HEADER_LEN..) else {
        return false;
    };
    matches!(
        postcard::from_bytes::<Message>(body),
        Ok(Message {
            body: Body::SynAck { .. } | Body::Ack(_),
            ..
        })
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use telepathine_core::{Config, Node, NodeId, Timestamp};

    #[test]
    fn recognises_synacks_but_not_syns() {
        let (a, b) = (
            "10.0.0.1:7000".parse().unwrap(),
            "10.0.0.2:7000".parse().unwrap(),
        );
        let t = Timestamp::from_millis(0);
        let mut na = Node::new(
            Config {
                seeds: vec![b],
                ..Config::default()
            },
            NodeId::new(a, 1),
            1,
        )
        .unwrap();
        let mut nb = Node::new(Config::default(), NodeId::new(b, 1), 2).unwrap();
        na.start(t);
        nb.start(t);
        let syn = na.poll_transmit().unwrap();
        assert!(!is_delta(&syn.payload));
        nb.handle_datagram(t, a, &syn.payload);
        let synack = nb.poll_transmit().unwrap();
        assert!(is_delta(&synack.payload));
        assert!(!is_delta(&synack.payload[..5]));
    }
}
