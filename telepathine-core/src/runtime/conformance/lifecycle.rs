//! Stop, start, crash and recovery; typed errors.

use std::time::Duration;

use super::{chain, converged, eventually, fast, next, stop_all};
use crate::runtime::{Error, Runtime};
use crate::{CommandError, DeathCause, Event, Limits};

/// A stopped node is seen as left by all, then alive after `start()`; its subscriptions
/// survive the restart and deliver each event once.
pub async fn stopped_node_is_dead_then_alive_without_duplicate_events<R: Runtime + Default>() {
    let rt = R::default();
    let nodes = chain(4, |_| fast::<R>()).await;
    converged(&rt, &nodes).await;
    let (sayer, leaver) = (&nodes[0], &nodes[3]);
    let name = leaver.peer_name();
    let mut deaths: Vec<_> = nodes[..3]
        .iter()
        .map(|n| n.events_matching("peer.*").expect("events"))
        .collect();
    let mut heard = leaver.hear("**").expect("hear");
    let mut lifecycle = leaver.events_matching("*").expect("events"); // start, stop
    let mut leaver_knows = leaver.know("shared.*").expect("know");
    let mut sayer_knows = sayer.know("mine.*").expect("know");
    sayer.say("before", "1", None).expect("say");
    sayer.set("shared.a", "1").expect("set");
    leaver.set("mine.b", "1").expect("set");
    assert_eq!(next(&rt, &mut heard, "before").await.event, "before");
    assert_eq!(
        next(&rt, &mut leaver_knows, "shared.a").await.key,
        "shared.a"
    );
    assert_eq!(next(&rt, &mut sayer_knows, "mine.b").await.key, "mine.b");

    leaver.stop().await.expect("stop");
    assert!(!leaver.is_running());
    assert!(matches!(leaver.set("k", "v"), Err(Error::Stopped)));
    assert!(matches!(leaver.say("e", "", None), Err(Error::Stopped)));
    leaver.stop().await.expect("stopping twice is harmless");
    eventually(&rt, "every node sees the stopped node dead", || {
        nodes[..3].iter().all(|n| n.dead_peers().contains(&name))
    })
    .await;
    for sub in &mut deaths {
        loop {
            match next(&rt, sub, "PeerDead").await {
                Event::PeerDead { peer, cause } if peer == name => {
                    assert_eq!(cause, DeathCause::Left);
                    break;
                }
                _ => continue,
            }
        }
    }

    leaver.start().await.expect("restart");
    leaver.start().await.expect("starting twice is harmless");
    converged(&rt, &nodes).await;
    for sub in &mut deaths {
        loop {
            if matches!(next(&rt, sub, "PeerAlive").await, Event::PeerAlive { peer } if peer == name)
            {
                break;
            }
        }
    }
    sayer.say("after", "2", None).expect("say");
    sayer.say("end", "", None).expect("say");
    assert_eq!(next(&rt, &mut heard, "after").await.event, "after");
    assert_eq!(next(&rt, &mut heard, "end").await.event, "end");
    assert_eq!(
        heard.try_recv(),
        None,
        "an event was delivered twice after restart"
    );
    // Keys set before the stop are not reported again, in either direction: the next update
    // each side sees is the one made after the restart.
    sayer.set("shared.end", "x").expect("set");
    leaver.set("mine.end", "x").expect("set");
    assert_eq!(
        next(&rt, &mut leaver_knows, "shared.end").await.key,
        "shared.end"
    );
    assert_eq!(
        next(&rt, &mut sayer_knows, "mine.end").await.key,
        "mine.end"
    );
    let mut seen = Vec::new();
    while let Some(e) = lifecycle.try_recv() {
        seen.push(e);
    }
    assert_eq!(
        seen,
        [Event::Stopped, Event::Started],
        "start/stop events once each"
    );
    stop_all(&nodes).await;
}

/// A node that vanishes without leaving is convicted by phi everywhere, then seen alive again
/// once it resumes.
pub async fn halted_node_is_detected_by_phi_and_recovers<R: Runtime + Default>() {
    let rt = R::default();
    let nodes = chain(4, |_| fast::<R>()).await;
    converged(&rt, &nodes).await;
    let mut deaths: Vec<_> = nodes[..3]
        .iter()
        .map(|n| n.events_matching("peer.dead").expect("events"))
        .collect();
    let crashed = &nodes[3];
    let name = crashed.peer_name();
    let mut knows: Vec<_> = nodes[..3]
        .iter()
        .map(|n| n.know("mine.*").expect("know"))
        .collect();
    crashed.set("mine.b", "1").expect("set");
    for sub in &mut knows {
        assert_eq!(next(&rt, sub, "mine.b").await.key, "mine.b");
    }
    crashed.halt().await;
    eventually(&rt, "every node convicts the silent node", || {
        nodes[..3].iter().all(|n| n.dead_peers().contains(&name))
    })
    .await;
    for sub in &mut deaths {
        // A loaded machine may briefly make another node look dead; only the victim matters.
        loop {
            match next(&rt, sub, "PeerDead").await {
                Event::PeerDead { peer, cause } if peer == name => {
                    assert_eq!(cause, DeathCause::Failed);
                    break;
                }
                _ => continue,
            }
        }
    }
    crashed.start().await.expect("resume");
    converged(&rt, &nodes).await;
    // Its keys are not reported again when it comes back: the next update is a new one.
    crashed.set("mine.end", "x").expect("set");
    for sub in &mut knows {
        assert_eq!(next(&rt, sub, "mine.end").await.key, "mine.end");
    }
    stop_all(&nodes).await;
}

/// Bad input gives typed errors, never a panic.
pub async fn errors_are_typed_and_nothing_panics<R: Runtime + Default>() {
    let rt = R::default();
    let limits = Limits {
        max_value_bytes: 1000,
        ..Limits::default()
    };
    let a = fast::<R>().limits(limits).start().await.expect("start");
    match fast::<R>().bind(a.local_addr()).start().await {
        Err(Error::PortInUse(addr)) => assert_eq!(addr, a.local_addr()),
        other => panic!("expected PortInUse, got {other:?}"),
    }
    for bad in ["127.0.0.1", "::1:9000", "127.0.0.1:70000", "[::1:9000"] {
        assert!(
            matches!(
                fast::<R>().bind(bad).start().await,
                Err(Error::BadAddress { .. })
            ),
            "{bad}"
        );
        assert!(
            matches!(a.add_peer(bad), Err(Error::BadAddress { .. })),
            "{bad}"
        );
    }
    assert!(matches!(
        a.set("", "v"),
        Err(Error::Command(CommandError::KeyLength(0)))
    ));
    assert!(matches!(
        a.set(&"k".repeat(5000), "v"),
        Err(Error::Command(CommandError::KeyLength(5000)))
    ));
    assert!(matches!(
        a.set("k", vec![0u8; 1001]),
        Err(Error::Command(CommandError::ValueTooLarge(1001)))
    ));
    let past = rt.system_time() - Duration::from_secs(1);
    assert!(matches!(
        a.set_with_expiry("k", "v", past),
        Err(Error::Command(CommandError::AlreadyExpired))
    ));
    assert!(matches!(
        a.hear(&["x"; 65].join(".")),
        Err(Error::Pattern(_))
    ));
    assert!(matches!(
        a.hear_once(&["x"; 65].join(".")).await,
        Err(Error::Pattern(_))
    ));
    assert!(
        !a.add_peer(a.peer_name()).expect("own address"),
        "own address is not a peer"
    );

    // Seeds by hostname: an unknown name is skipped, `localhost` resolves and joins.
    let port = a.local_addr().port();
    let b = fast::<R>()
        .seeds([
            "no-such-host.invalid:9000".to_string(),
            format!("localhost:{port}"),
        ])
        .start()
        .await
        .expect("start with hostname seeds");
    converged(&rt, &[a.clone(), b.clone()]).await;
    stop_all(&[a, b]).await;
}

/// Dropping every handle of a node makes it leave (peers see it as left) and ends its
/// subscriptions instead of leaving them pending forever.
pub async fn dropping_the_last_handle_leaves_and_ends_subscriptions<R: Runtime + Default>() {
    let rt = R::default();
    let mut nodes = chain(2, |_| fast::<R>()).await;
    converged(&rt, &nodes).await;
    let dropped = nodes.pop().expect("two nodes");
    let name = dropped.peer_name();
    let mut orphan = dropped.events();
    let clone = dropped.clone();
    drop(dropped);
    assert!(clone.is_running(), "a remaining clone keeps the node alive");
    drop(clone);
    // Buffered events are still delivered, then the stream ends.
    while let Some(e) = crate::runtime::signal::timeout(&rt, super::WAIT_LIMIT, orphan.recv())
        .await
        .expect("the stream ends")
    {
        assert!(
            !matches!(e, Event::Started),
            "nothing restarts a dropped node"
        );
    }
    eventually(&rt, "the survivor sees the dropped node leave", || {
        nodes[0].dead_peers().contains(&name)
    })
    .await;
    stop_all(&nodes).await;
}

/// A new process on a restarted node's address (a new generation) supersedes its old state
/// everywhere instead of being ignored, as the original's were.
pub async fn new_process_on_the_same_address_supersedes_the_old_one<R: Runtime + Default>() {
    let rt = R::default();
    let nodes = chain(3, |_| fast::<R>()).await;
    converged(&rt, &nodes).await;
    let old = &nodes[2];
    let (addr, name) = (old.local_addr(), old.peer_name());
    old.set("old", "1").expect("set");
    eventually(&rt, "the old key spreads", || {
        nodes[0].get_remote(&name, "old").is_some()
    })
    .await;
    old.stop().await.expect("stop");
    let new = fast::<R>()
        .bind(addr)
        .seeds([nodes[0].local_addr()])
        .start()
        .await
        .expect("rebind");
    new.set("new", "1").expect("set");
    eventually(&rt, "peers adopt the new life's state", || {
        nodes[..2].iter().all(|n| {
            n.get_remote(&name, "new").is_some()
                && n.get_remote(&name, "old").is_none()
                && n.live_peers().contains(&name)
        })
    })
    .await;
    stop_all(&nodes[..2]).await;
    stop_all(&[new]).await;
}
