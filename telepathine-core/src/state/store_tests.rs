//! Unit tests of the store: resets, floors, summaries, expiry.
use super::*;
use crate::wire::OriginDelta;
use core::time::Duration;

fn a(i: u8) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, i], 1))
}

fn entry(key: &str, version: u64, value: Value) -> crate::wire::WireEntry {
    crate::wire::WireEntry {
        key: Key::User(key.into()),
        version,
        value,
        expires_at: None,
    }
}

const T: Timestamp = Timestamp::ZERO;
const GRACE: Duration = Duration::from_secs(1);

fn apply(store: &mut Store, d: OriginDelta) -> Vec<Change> {
    let mut out = Vec::new();
    let _ = store.apply(d, T, 0, GRACE, &Limits::default(), &mut out);
    out
}

fn snapshot(up_to: u64, gc_floor: u64, entries: Vec<crate::wire::WireEntry>) -> OriginDelta {
    OriginDelta {
        origin: a(9),
        generation: 1,
        from_version: 0,
        up_to,
        gc_floor,
        entries: entries.into(),
    }
}

#[test]
fn a_reset_node_passes_on_the_floor_it_accepted() {
    let bytes = Value::Bytes(Bytes::from_static(b"v"));
    // A holds key k at version 2; the origin then deleted k at version 3 and collected the
    // tombstone, so B learns the origin from a snapshot without k.
    let mut holder = Store::new(a(1), 1, T);
    apply(
        &mut holder,
        snapshot(2, 0, vec![entry("k", 2, bytes.clone())]),
    );
    let mut relay = Store::new(a(2), 1, T);
    apply(&mut relay, snapshot(3, 3, vec![]));
    let (delta, _) = relay.origins[&a(9)].delta_from(a(9), 2, 10_000).unwrap();
    assert!(
        delta.gc_floor >= 3,
        "the relay must admit it cannot vouch below version 3"
    );
    apply(&mut holder, delta);
    let s = &holder.origins[&a(9)];
    assert!(
        s.needs_reset(),
        "the holder must ask for a reset rather than keep k"
    );
    assert_eq!(s.digest_version(), 0);
    // The reset removes k.
    let out = apply(&mut holder, snapshot(3, 3, vec![]));
    assert!(holder.user_value(&a(9), "k").is_none());
    assert!(out.contains(&Change::Deleted {
        origin: a(9),
        key: "k".into()
    }));
}

#[test]
fn summaries_agree_exactly_when_digests_do() {
    let bytes = || Value::Bytes(Bytes::from_static(b"v"));
    let mut x = Store::new(a(1), 1, T);
    let mut y = Store::new(a(2), 1, T);
    // Each learns the other and a third origin, in different orders.
    let mine_x = x.origins[&a(1)].delta_from(a(1), 0, 10_000).unwrap().0;
    let mine_y = y.origins[&a(2)].delta_from(a(2), 0, 10_000).unwrap().0;
    apply(&mut y, mine_x);
    apply(&mut x, mine_y);
    apply(&mut x, snapshot(1, 0, vec![entry("k", 1, bytes())]));
    assert_ne!(x.summary(), y.summary());
    apply(&mut y, snapshot(1, 0, vec![entry("k", 1, bytes())]));
    assert_eq!(x.summary(), y.summary());
    // A write changes it; the same write elsewhere is not the same state.
    let limits = Limits::default();
    x.write_local(Key::User("w".into()), bytes(), None, T, GRACE, &limits)
        .unwrap();
    assert_ne!(x.summary(), y.summary());
    let run = x.origins[&a(1)].delta_from(a(1), 0, 10_000).unwrap().0;
    apply(&mut y, run);
    assert_eq!(x.summary(), y.summary());
    // Forgetting an origin removes its part.
    x.remove_origin(&a(9));
    y.remove_origin(&a(9));
    assert_eq!(x.summary(), y.summary());
    let recomputed = x.origins.iter().fold(0, |acc, (o, s)| {
        acc ^ summand(o, s.generation, s.digest_version())
    });
    assert_eq!(x.summary(), recomputed);
}

#[test]
fn resets_never_move_a_version_backwards() {
    let mut s = Store::new(a(1), 1, T);
    apply(
        &mut s,
        snapshot(
            5,
            0,
            vec![entry("k", 5, Value::Bytes(Bytes::from_static(b"new")))],
        ),
    );
    s.origins.get_mut(&a(9)).unwrap().set_needs_reset(true);
    apply(
        &mut s,
        snapshot(
            2,
            0,
            vec![entry("k", 2, Value::Bytes(Bytes::from_static(b"old")))],
        ),
    );
    assert_eq!(s.origins[&a(9)].max_version, 5);
    assert_eq!(s.user_value(&a(9), "k").unwrap().as_ref(), b"new");
}

#[test]
fn gaps_are_refused_and_overlaps_applied_once() {
    let mut s = Store::new(a(1), 1, T);
    apply(
        &mut s,
        snapshot(
            2,
            0,
            vec![entry("a", 2, Value::Bytes(Bytes::from_static(b"1")))],
        ),
    );
    let gap = OriginDelta {
        from_version: 4,
        up_to: 6,
        ..snapshot(6, 0, vec![entry("b", 6, Value::Tombstone)])
    };
    assert!(apply(&mut s, gap).is_empty());
    assert_eq!(s.origins[&a(9)].max_version, 2);
    let run = OriginDelta {
        from_version: 1,
        ..snapshot(
            4,
            0,
            vec![
                entry("a", 2, Value::Bytes(Bytes::from_static(b"1"))),
                entry("c", 4, Value::Bytes(Bytes::from_static(b"3"))),
            ],
        )
    };
    let out = apply(&mut s, run);
    assert_eq!(
        out.len(),
        1,
        "only the entry beyond version 2 is new: {out:?}"
    );
    assert_eq!(s.origins[&a(9)].max_version, 4);
}

#[test]
fn expiry_turns_entries_into_tombstones_that_are_still_sent() {
    let mut s = Store::new(a(1), 1, T);
    let limits = Limits::default();
    s.write_local(
        Key::User("k".into()),
        Value::Bytes(Bytes::from_static(b"v")),
        Some(100),
        T,
        GRACE,
        &limits,
    )
    .unwrap();
    // Re-setting with the same expiry keeps exactly one expiry record.
    s.write_local(
        Key::User("k".into()),
        Value::Bytes(Bytes::from_static(b"w")),
        Some(100),
        T,
        GRACE,
        &limits,
    )
    .unwrap();
    assert_eq!(s.next_expiry(), Some(100));
    let mut out = Vec::new();
    s.expire(100, T, GRACE, &mut out);
    assert_eq!(out.len(), 1);
    let me = a(1);
    let (delta, _) = s.origins[&me].delta_from(me, 1, 10_000).unwrap();
    assert_eq!(delta.entries.len(), 1);
    assert_eq!(delta.entries[0].value, Value::Tombstone);
    assert_eq!(delta.entries[0].version, 2);
    s.collect_tombstones(T + GRACE);
    assert_eq!(s.origins[&me].gc_floor(), 2);
    assert!(s.origins[&me].is_empty());
}

#[test]
fn a_busy_origin_pushes_its_newest_changes() {
    let mut s = Store::new(a(1), 1, T);
    s.hot_window = Duration::from_secs(10);
    let limits = Limits::default();
    for i in 0..100u64 {
        let t = T + Duration::from_millis(i * 100);
        s.write_local(
            Key::User(alloc::format!("k{i}")),
            Value::Tombstone,
            None,
            t,
            GRACE,
            &limits,
        )
        .unwrap();
    }
    let (origin, from) = s.hot(T, |_| false).next().unwrap();
    assert_eq!(origin, a(1));
    assert_eq!(
        from,
        100 - 32,
        "the 32 newest of 100 writes, not the whole burst"
    );
}

/// A full digest in address order is compared in one pass over the store; any other order
/// takes a lookup per entry. Both must find the same requests and wants, with an origin listed
/// twice counted once.
#[test]
fn a_sorted_full_digest_compares_like_any_other_order() {
    use crate::wire::{Cover, Digest, DigestEntry};
    let mut store = Store::new(a(1), 1, T);
    for i in 2..12u8 {
        let mut d = snapshot(u64::from(i), 0, vec![]);
        d.origin = a(i);
        apply(&mut store, d);
    }
    // The peer: ahead on some origins, behind on others, missing some, and knowing newcomers.
    let entry = |i: u8, generation: u64, version: u64| DigestEntry {
        origin: a(i),
        generation,
        version,
    };
    let sorted = vec![
        entry(1, 1, 0),
        entry(3, 1, 9),
        entry(4, 1, 1),
        entry(6, 2, 1),
        entry(7, 1, 7),
        entry(12, 1, 3),
        entry(14, 1, 1),
    ];
    let compare = |entries: Vec<DigestEntry>| {
        let digest = Digest {
            cover: Cover::All,
            entries,
        };
        let c = store.compare(&digest, |_, _| false, 100);
        let mut requests: Vec<_> = c
            .requests
            .iter()
            .map(|e| (e.origin, e.generation, e.version))
            .collect();
        let mut wants = c.wants;
        requests.sort_unstable();
        wants.sort_unstable();
        (requests, wants)
    };
    let (requests, wants) = compare(sorted.clone());
    assert_eq!(
        requests,
        vec![(a(3), 1, 3), (a(6), 1, 0), (a(12), 0, 0), (a(14), 0, 0)]
    );
    let expected_wants = vec![
        (a(2), 0),
        (a(4), 1),
        (a(5), 0),
        (a(8), 0),
        (a(9), 0),
        (a(10), 0),
        (a(11), 0),
    ];
    assert_eq!(wants, expected_wants);
    let mut shuffled = sorted.clone();
    shuffled.reverse();
    // A repeat claiming more must not count: the first entry for an origin decides.
    shuffled.push(entry(4, 1, 99));
    assert_eq!(compare(shuffled), (requests, wants));
}

/// A digest that cannot cover everything lists this node's own origin first, even when every
/// other origin changed more recently: its own state is the one nobody else may hold yet.
#[test]
fn a_partial_digest_lists_the_own_origin_first() {
    let mut store = Store::new(a(1), 1, T);
    store.hot_window = Duration::from_secs(60);
    for i in 2..200u8 {
        let mut d = snapshot(1, 0, vec![]);
        d.origin = SocketAddr::from(([10, 0, 1, i], 1));
        let later = T + Duration::from_millis(u64::from(i));
        let mut out = Vec::new();
        let _ = store.apply(d, later, 0, GRACE, &Limits::default(), &mut out);
    }
    let mut cursor = None;
    let digest = store.digest(300, &mut cursor, T);
    assert!(
        digest.entries.len() < store.origins.len(),
        "a partial digest"
    );
    assert_eq!(digest.entries[0].origin, a(1));
    assert_eq!(
        digest.entries.iter().filter(|e| e.origin == a(1)).count(),
        1,
        "listed once"
    );
}

/// A store whose recency index holds at most `cap` origins, after `newcomers` origins arrived
/// one a millisecond (a join), newcomer `i` at `newcomer(i)`.
fn joined(cap: usize, newcomers: usize) -> Store {
    let mut store = Store::new(a(1), 1, T);
    store.hot_window = Duration::from_secs(3600);
    store.set_recent_cap(cap);
    for i in 0..newcomers {
        let mut d = snapshot(1, 0, vec![]);
        d.origin = newcomer(i);
        let mut out = Vec::new();
        let at = T + Duration::from_millis(i as u64 + 1);
        store
            .apply(d, at, 0, GRACE, &Limits::default(), &mut out)
            .unwrap();
    }
    store
}

fn newcomer(i: usize) -> SocketAddr {
    SocketAddr::from(([10, 1, (i / 256) as u8, (i % 256) as u8], 7))
}

/// A join's newcomers fill the recency index only up to its cap, and what it keeps is the
/// newest: the part digests and pushes read.
#[test]
fn the_recency_index_keeps_the_newest_up_to_its_cap() {
    let cap = recent_cap(1400);
    assert_eq!(cap, 350);
    let newcomers = cap + 300;
    let store = joined(cap, newcomers);
    assert_eq!(store.recent_cap(), cap);
    assert_eq!(store.origins.len(), newcomers + 1, "every origin is held");
    assert_eq!(store.recent.len(), cap);
    let hot: Vec<SocketAddr> = store.hot(T, |_| false).map(|(o, _)| o).collect();
    let newest_first: Vec<SocketAddr> = (newcomers - cap..newcomers).rev().map(newcomer).collect();
    assert_eq!(hot, newest_first);
}

/// The cap keeps what a listing and the pushes after it read: with as many recent origins as a
/// join brings, a full datagram's digest and the pushes after its listing are the same as with
/// no cap.
#[test]
fn the_recency_cap_keeps_what_a_listing_and_its_pushes_read() {
    let budget = 1400;
    let (capped, whole) = (joined(recent_cap(budget), 1_000), joined(usize::MAX, 1_000));
    assert!(capped.recent.len() < whole.recent.len(), "the cap binds");
    let listed = |s: &Store| s.recent_digest(budget, T).entries;
    assert_eq!(listed(&capped), listed(&whole));
    assert!(listed(&whole).len() > 100, "a full datagram's listing");
    let pushed = |s: &Store| {
        let skip = listed(s);
        s.hot(T, move |o| skip.iter().any(|e| e.origin == *o))
            .take(32)
            .collect::<Vec<_>>()
    };
    assert_eq!(pushed(&capped), pushed(&whole));
    assert_eq!(pushed(&whole).len(), 32);
}
