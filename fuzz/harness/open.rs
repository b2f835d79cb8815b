//! `open`: envelope header parsing, AEAD opening with the fixed test key under each cipher
//! suite, then decoding.

use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use telepathine_core::Cipher;
use telepathine_core::wire::Sealer;

use super::{CLUSTER, decode, network_key};

/// Opens `data` as a private network's node (fixed key, each suite) and as a public one would;
/// an opened body is exactly the envelope less its overhead, reseals to an envelope that opens
/// to the same body, and goes on to the decoder.
pub fn run(data: &[u8]) {
    let mut sealers: Vec<Sealer> = Cipher::ALL
        .into_iter()
        .map(|c| Sealer::new(CLUSTER, Some(&network_key().with_cipher(c))))
        .collect();
    sealers.push(Sealer::new(CLUSTER, None));
    for sealer in sealers {
        let Ok(body) = sealer.open(data) else {
            continue;
        };
        assert_eq!(body.len() + sealer.overhead(), data.len());
        let resealed = sealer.seal(&body, &mut ChaCha8Rng::seed_from_u64(0));
        assert_eq!(resealed.len(), data.len());
        let reopened = sealer.open(&resealed).expect("a resealed body opens");
        assert_eq!(reopened, body);
        decode::run(&body);
    }
}
