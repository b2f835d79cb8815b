//! Distributed shared memory, after the original's `example_p2p.js`: a seed, four peers that
//! print what they learn, and one more peer that sets a plain and an expiring key after a
//! second. Runs for about six seconds and exits.
//!
//! `cargo run -p telepathine-tokio --example p2p`

use std::time::{Duration, SystemTime};

use telepathine_tokio::{Event, Subscription, Telepathine};

const INTERVAL: Duration = Duration::from_millis(500);

fn builder() -> telepathine_tokio::Builder {
    Telepathine::builder()
        .gossip_interval(INTERVAL)
        .heartbeat_interval(INTERVAL)
}

/// Prints every item of `sub` with `describe`, until the node shuts down.
fn print_all<T: Send + 'static>(
    mut sub: Subscription<T>,
    describe: impl Fn(T) -> Option<String> + Send + 'static,
) {
    tokio::spawn(async move {
        while let Some(item) = sub.recv().await {
            if let Some(line) = describe(item) {
                println!("{line}");
            }
        }
    });
}

#[tokio::main]
async fn main() -> Result<(), telepathine_tokio::Error> {
    let seed = builder().start().await?;
    println!("seed {} started", seed.peer_name());

    // Peers pointed at the seed. Usually these would be separate processes; to avoid a single
    // point of failure, give real deployments several seeds.
    let mut peers = Vec::new();
    for _ in 0..4 {
        let g = builder().seeds([seed.local_addr()]).start().await?;
        let me = g.peer_name();
        // Every set, local or remote (the original's on('set')).
        print_all(g.events_matching("set.**")?, move |e| match e {
            Event::Set {
                peer, key, value, ..
            } => Some(format!(
                "{me} knows via events(\"set.**\") that peer {peer} set {key}={}",
                String::from_utf8_lossy(&value)
            )),
            _ => None,
        });
        // One key.
        print_all(g.know("somekey")?, move |u| {
            Some(format!(
                "{me} knows via know(\"somekey\") that peer {} set somekey={}",
                u.peer,
                String::from_utf8_lossy(&u.value)
            ))
        });
        // Any single-segment key.
        print_all(g.know("*")?, move |u| {
            let expiry = u.expires_at.map(|_| " (expiring)").unwrap_or_default();
            Some(format!(
                "{me} knows via know(\"*\") that peer {} set {}={}{expiry}",
                u.peer,
                u.key,
                String::from_utf8_lossy(&u.value)
            ))
        });
        print_all(g.events_matching("expired.*")?, move |e| match e {
            Event::KeyExpired { peer, key, .. } => Some(format!("{me} saw {peer}'s {key} expire")),
            _ => None,
        });
        peers.push(g);
    }

    // Another peer, which updates its state after a delay.
    let writer = builder().seeds([peers[0].local_addr()]).start().await?;
    writer.after(Duration::from_secs(1), |n| async move {
        // Indefinite memory.
        if let Err(e) = n.set("somekey", "somevalue") {
            eprintln!("set failed: {e}");
        }
        // Temporary memory: three seconds from now this key expires across the network.
        if let Err(e) = n.set_with_expiry(
            "somekey2",
            "somevalue",
            SystemTime::now() + Duration::from_secs(3),
        ) {
            eprintln!("set failed: {e}");
        }
    });

    tokio::time::sleep(Duration::from_secs(6)).await;
    let me = writer.peer_name();
    for p in &peers {
        println!(
            "{} finally: live peers {}, {me} holds {:?}",
            p.peer_name(),
            p.live_peers().len(),
            p.remote_keys(&me)
        );
    }
    for n in peers.iter().chain([&seed, &writer]) {
        n.stop().await?;
    }
    Ok(())
}
