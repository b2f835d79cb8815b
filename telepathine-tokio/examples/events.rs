//! A distributed event bus, after the original's `example_events.js`: `a` waits once for
//! `eventname` and replies, and prints everything it hears; `b` says `eventname` and waits once
//! for the reply. Exits as soon as the reply arrives (or after ten seconds).
//!
//! `cargo run -p telepathine-tokio --example events`

use std::time::Duration;

use telepathine_tokio::Telepathine;

#[tokio::main]
async fn main() -> Result<(), telepathine_tokio::Error> {
    let fast = || Telepathine::builder().gossip_interval(Duration::from_millis(200));
    let a = fast().start().await?;
    let b = fast().seeds([a.local_addr()]).start().await?;

    let once = a.hear_once("eventname");
    let mut everything = a.hear("*")?;
    let replier = a.clone();
    tokio::spawn(async move {
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
    tokio::spawn(async move {
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
    match tokio::time::timeout(Duration::from_secs(10), reply).await {
        Ok(Ok(h)) => println!(
            "b received reply={:?} from {}",
            String::from_utf8_lossy(&h.payload),
            h.from
        ),
        Ok(Err(e)) => eprintln!("b: {e}"),
        Err(_) => eprintln!("b: no reply within 10 s"),
    }
    a.stop().await?;
    b.stop().await?;
    Ok(())
}
