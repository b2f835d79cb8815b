//! A distributed event bus, after the original's `example_events.js`: `a` waits once for
//! `eventname` and replies, and prints everything it hears; `b` says `eventname` and waits once
//! for the reply. Exits as soon as the reply arrives (or after ten seconds).
//!
//! On smol: `cargo run -p telepathine-async-std --example events`
//! On async-std: `cargo run -p telepathine-async-std --features async-std --example events -- async-std`

use std::time::Duration;

use telepathine_core::runtime::{Error, Runtime, Telepathine};

/// The example, written once for any runtime.
async fn run<R: Runtime + Default>() -> Result<(), Error> {
    let rt = R::default();
    let fast = || Telepathine::<R>::builder().gossip_interval(Duration::from_millis(200));
    let a = fast().start().await?;
    let b = fast().seeds([a.local_addr()]).start().await?;

    let once = a.hear_once("eventname");
    let mut everything = a.hear("*")?;
    let replier = a.clone();
    rt.spawn(async move {
        if let Ok(h) = once.await {
            println!(
                "a received eventname={} from {}",
                String::from_utf8_lossy(&h.payload),
                h.from
            );
            if let Err(e) = replier.say("reply", "", None) {
                eprintln!("reply failed: {e}");
            }
        }
    });
    rt.spawn(async move {
        while let Some(h) = everything.recv().await {
            println!(
                "a heard via hear(\"*\") {}={} from {}",
                h.event,
                String::from_utf8_lossy(&h.payload),
                h.from
            );
        }
    });

    let reply = b.hear_once("reply");
    b.say("eventname", "eventdata", None)?;
    let deadline = async {
        rt.sleep(Duration::from_secs(10)).await;
        Err(Error::Closed)
    };
    match futures_lite::future::or(reply, deadline).await {
        Ok(h) => println!(
            "b received reply={:?} from {}",
            String::from_utf8_lossy(&h.payload),
            h.from
        ),
        Err(e) => eprintln!("b: no reply ({e})"),
    }
    a.stop().await?;
    b.stop().await
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
