//! Events: `say`/`hear` exactly once with wildcards, expiry everywhere, local sets, `believe`,
//! `after` and `every`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::{chain, converged, eventually, fast, next, stop_all};
use crate::Event;
use crate::runtime::{Heard, Runtime, Subscription};

fn names(items: &[Heard]) -> Vec<&str> {
    items.iter().map(|h| h.event.as_str()).collect()
}

/// Receives until the `end` marker, returning what came before it.
async fn until_end<R: Runtime>(rt: &R, sub: &mut Subscription<Heard>) -> Vec<Heard> {
    let mut got = Vec::new();
    loop {
        let h = next(rt, sub, "the end marker").await;
        if h.event == "end" {
            return got;
        }
        got.push(h);
    }
}

/// Every other node hears each `say` once, in order, through exact and wildcard patterns; the
/// sayer hears nothing; `hear_once` fires once.
pub async fn say_is_heard_exactly_once_including_wildcards<R: Runtime + Default>() {
    let rt = R::default();
    let nodes = chain(4, |_| fast::<R>()).await;
    converged(&rt, &nodes).await;
    let sayer = &nodes[0];
    let mut own = sayer.hear("**").expect("hear");
    let mut all = Vec::new();
    let mut chat = Vec::new();
    let mut exact = Vec::new();
    let mut once = Vec::new();
    for n in &nodes[1..] {
        all.push(n.hear("**").expect("hear"));
        chat.push(n.hear("chat.*").expect("hear"));
        exact.push(n.hear("chat.room1").expect("hear"));
        once.push(n.hear_once("chat.*"));
    }
    sayer
        .say("chat.room1", "hello", Duration::from_secs(5))
        .expect("say");
    sayer.say("chat.room2", "hi", None).expect("say");
    sayer.say("other", "x", None).expect("say");
    sayer.say("chat.room1.deep", "y", None).expect("say");
    for o in once {
        let first = futures_lite::future::or(o, async {
            rt.sleep(super::WAIT_LIMIT).await;
            panic!("hear_once never fired")
        })
        .await
        .expect("hear_once");
        assert_eq!(
            (first.event.as_str(), first.payload.as_ref()),
            ("chat.room1", &b"hello"[..])
        );
        assert_eq!(first.from, sayer.peer_name());
    }
    // Exact and wildcard subscriptions see what they match, once each, in the order said.
    sayer.say("end", "", None).expect("say");
    for sub in &mut all {
        let got = until_end(&rt, sub).await;
        assert_eq!(
            names(&got),
            ["chat.room1", "chat.room2", "other", "chat.room1.deep"]
        );
    }
    sayer.say("chat.end", "", None).expect("say");
    for sub in &mut chat {
        let mut got = Vec::new();
        loop {
            let h = next(&rt, sub, "chat.end").await;
            if h.event == "chat.end" {
                break;
            }
            got.push(h);
        }
        assert_eq!(names(&got), ["chat.room1", "chat.room2"]);
    }
    for sub in &mut exact {
        assert_eq!(next(&rt, sub, "chat.room1").await.event, "chat.room1");
    }
    // Everything said has arrived everywhere (the markers came last, and events from one node
    // arrive in order); nothing more may follow.
    for sub in &mut all {
        assert_eq!(next(&rt, sub, "chat.end").await.event, "chat.end");
        assert_eq!(sub.try_recv(), None);
    }
    for sub in chat.iter_mut().chain(&mut exact) {
        assert_eq!(sub.try_recv(), None);
    }
    assert_eq!(own.try_recv(), None, "a node must not hear itself");
    stop_all(&nodes).await;
}

/// A key with an expiry vanishes on every node and each raises `KeyExpired`.
pub async fn expiring_key_disappears_everywhere<R: Runtime + Default>() {
    let rt = R::default();
    let nodes = chain(3, |_| fast::<R>()).await;
    converged(&rt, &nodes).await;
    let mut expired: Vec<_> = nodes
        .iter()
        .map(|n| n.events_matching("expired.*").expect("events"))
        .collect();
    let origin = nodes[0].peer_name();
    let at = rt.system_time() + Duration::from_millis(1500);
    nodes[0]
        .set_with_expiry("temp", "soon gone", at)
        .expect("set");
    eventually(&rt, "the key reaches every node", || {
        nodes
            .iter()
            .all(|n| n.get_remote(&origin, "temp").is_some())
    })
    .await;
    eventually(&rt, "the key disappears everywhere", || {
        nodes
            .iter()
            .all(|n| n.get_remote(&origin, "temp").is_none())
    })
    .await;
    for sub in &mut expired {
        match next(&rt, sub, "KeyExpired").await {
            Event::KeyExpired {
                peer, key, value, ..
            } => {
                assert_eq!(
                    (peer, key.as_str(), value.as_ref()),
                    (origin, "temp", &b"soon gone"[..])
                );
            }
            other => panic!("expected KeyExpired, got {other:?}"),
        }
    }
    stop_all(&nodes).await;
}

/// Local sets raise events (the original never did), `believe` copies remote values locally,
/// `after` runs once and `every` repeats until cancelled.
pub async fn local_sets_believe_and_timers<R: Runtime + Default>() {
    let rt = R::default();
    let nodes = chain(2, |_| fast::<R>()).await;
    converged(&rt, &nodes).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let mut a_sets = a.events_matching("set.**").expect("events");
    let mut a_knows = a.know("local").expect("know");
    let mut believed = b.believe("config.*").expect("believe");
    a.set("local", "1").expect("set");
    match next(&rt, &mut a_sets, "a local Set event").await {
        Event::Set { peer, key, .. } => assert_eq!((peer, key.as_str()), (a.peer_name(), "local")),
        other => panic!("expected Set, got {other:?}"),
    }
    assert_eq!(
        next(&rt, &mut a_knows, "local know").await.peer,
        a.peer_name()
    );
    a.set("config.mode", "fast").expect("set");
    let update = next(&rt, &mut believed, "a believed update").await;
    assert_eq!(
        (update.peer, update.key.as_str(), update.value.as_ref()),
        (a.peer_name(), "config.mode", &b"fast"[..])
    );
    eventually(&rt, "b believes the value", || {
        b.get("config.mode").is_some_and(|v| v == "fast")
    })
    .await;
    eventually(&rt, "a learns b's belief", || {
        a.get_remote(&b.peer_name(), "config.mode").is_some()
    })
    .await;

    let once = Arc::new(AtomicUsize::new(0));
    let ticks = Arc::new(AtomicUsize::new(0));
    let (o, t) = (Arc::clone(&once), Arc::clone(&ticks));
    a.after(Duration::from_millis(50), move |n| async move {
        n.set("after", "ran").expect("set in after");
        o.fetch_add(1, Ordering::SeqCst);
    });
    let timer = a.every(Duration::from_millis(30), move |_| {
        let t = Arc::clone(&t);
        async move {
            t.fetch_add(1, Ordering::SeqCst);
        }
    });
    eventually(&rt, "every ticks three times and after runs", || {
        ticks.load(Ordering::SeqCst) >= 3 && once.load(Ordering::SeqCst) == 1
    })
    .await;
    timer.cancel();
    assert_eq!(a.get("after").as_deref(), Some(&b"ran"[..]));
    stop_all(&nodes).await;
}

/// A subscriber that never reads loses its oldest items, counted, while the node carries on.
pub async fn slow_subscriber_lags_without_blocking_the_node<R: Runtime + Default>() {
    let rt = R::default();
    let nodes = chain(2, |_| fast::<R>().subscription_capacity(4)).await;
    converged(&rt, &nodes).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let stuck = b.know("k.*").expect("know");
    let mut reader = b.know("k.*").expect("know");
    for i in 0..20 {
        a.set(&format!("k.{i}"), "v").expect("set");
    }
    eventually(&rt, "b learns all 20 keys", || {
        b.remote_keys(&a.peer_name()).len() == 20
    })
    .await;
    // The reading subscriber keeps up with the stuck one buffered at capacity.
    let mut read = 0;
    while read < 4 {
        next(&rt, &mut reader, "an update").await;
        read += 1;
    }
    eventually(&rt, "the stuck subscriber counts what it missed", || {
        stuck.lagged() == 16
    })
    .await;
    assert!(b.io_stats().events_lagged >= 16);
    stop_all(&nodes).await;
}
