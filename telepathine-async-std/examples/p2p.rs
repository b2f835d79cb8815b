//! Distributed shared memory, after the original's `example_p2p.js`: a seed, four peers that
//! print what they learn, and one more peer that sets a plain and an expiring key after a
//! second. Runs for about six seconds and exits.
//!
//! On smol: `cargo run -p telepathine-async-std --example p2p`
//! On async-std: `cargo run -p telepathine-async-std --features async-std --example p2p -- async-std`

use std::time::{Duration, SystemTime};

use telepathine_core::Event;
use telepathine_core::runtime::{Builder, Error, Runtime, Subscription, Telepathine};

const INTERVAL: Duration = Duration::from_millis(500);

fn builder<R: Runtime + Default>() -> Builder<R> {
    Telepathine::<R>::builder()
        .gossip_interval(INTERVAL)
        .heartbeat_interval(INTERVAL)
}

/// Prints every item of `sub` with `describe`, until the node shuts down.
fn print_all<R: Runtime, T: Send + 'static>(
    rt: &R,
    mut sub: Subscription<T>,
    describe: impl Fn(T) -> Option<String> + Send + 'static,
) {
    rt.spawn(async move {
        while let Some(item) = sub.recv().await {
            if let Some(line) = describe(item) {
                println!("{line}");
            }
        }
    });
}

/// The example, written once for any runtime.
async fn run<R: Runtime + Default>() -> Result<(), Error> {
    let rt = R::default();
    let seed = builder::<R>().start().await?;
    println!("seed {} started", seed.peer_name());

    // Peers pointed at the seed; usually separate processes.
    let mut peers = Vec::new();
    for _ in 0..4 {
        let g = builder::<R>().seeds([seed.local_addr()]).start().await?;
        let me = g.peer_name();
        print_all(&rt, g.events_matching("set.**")?, move |e| match e {
            Event::Set {
                peer, key, value, ..
            } => Some(format!(
                "{me} knows via events(\"set.**\") that peer {peer} set {key}={}",
                String::from_utf8_lossy(&value)
            )),
            _ => None,
        });
        print_all(&rt, g.know("somekey")?, move |u| {
            Some(format!(
                "{me} knows via know(\"somekey\") that peer {} set somekey={}",
                u.peer,
                String::from_utf8_lossy(&u.value)
            ))
        });
        print_all(&rt, g.know("*")?, move |u| {
            let expiry = u.expires_at.map(|_| " (expiring)").unwrap_or_default();
            Some(format!(
                "{me} knows via know(\"*\") that peer {} set {}={}{expiry}",
                u.peer,
                u.key,
                String::from_utf8_lossy(&u.value)
            ))
        });
        print_all(&rt, g.events_matching("expired.*")?, move |e| match e {
            Event::KeyExpired { peer, key, .. } => Some(format!("{me} saw {peer}'s {key} expire")),
            _ => None,
        });
        peers.push(g);
    }

    // Another peer, which updates its state after a delay.
    let writer = builder::<R>()
        .seeds([peers[0].local_addr()])
        .start()
        .await?;
    writer.after(Duration::from_secs(1), |n| async move {
        if let Err(e) = n.set("somekey", "somevalue") {
            eprintln!("set failed: {e}");
        }
        if let Err(e) = n.set_with_expiry(
            "somekey2",
            "somevalue",
            SystemTime::now() + Duration::from_secs(3),
        ) {
            eprintln!("set failed: {e}");
        }
    });

    rt.sleep(Duration::from_secs(6)).await;
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

fn main() -> Result<(), Error> {
    #[cfg(feature = "async-std")]
    if std::env::args().nth(1).as_deref() == Some("async-std") {
        println!("on async-std");
        return async_std::task::block_on(run::<telepathine_async_std::async_std::AsyncStd>());
    }
    println!("on smol");
    smol::block_on(run::<telepathine_async_std::smol::Smol>())
}
