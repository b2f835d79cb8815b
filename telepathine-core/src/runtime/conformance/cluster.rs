//! Membership and state converge over every transport: UDP+TCP, TCP only, IPv6, big values,
//! NAT-mapped addresses.

use std::net::SocketAddr;

use super::{chain, converged, eventually, fast, stop_all};
use crate::runtime::{Runtime, Telepathine, UdpSocket};

/// Ten nodes seeded in a chain learn each other and 100 keys set by one of them.
pub async fn chain_of_ten_converges_on_membership_and_keys<R: Runtime + Default>() {
    let rt = R::default();
    let nodes = chain(10, |_| fast::<R>()).await;
    converged(&rt, &nodes).await;
    let writer = &nodes[3];
    for i in 0..100 {
        writer
            .set(&format!("key.{i}"), format!("value {i}"))
            .expect("set");
    }
    let origin = writer.peer_name();
    eventually(&rt, "every node holds the 100 keys", || {
        nodes.iter().filter(|n| n.peer_name() != origin).all(|n| {
            n.remote_keys(&origin).len() == 100
                && (0..100).all(|i| {
                    n.get_remote(&origin, &format!("key.{i}"))
                        .is_some_and(|v| v == format!("value {i}").as_bytes())
                })
        })
    })
    .await;
    assert_eq!(writer.keys().len(), 100);
    stop_all(&nodes).await;
}

/// With `udp(false)` everything goes over TCP, and the cluster still converges and talks.
pub async fn tcp_only_cluster_works<R: Runtime + Default>() {
    let rt = R::default();
    let nodes = chain(3, |_| fast::<R>().udp(false)).await;
    converged(&rt, &nodes).await;
    let mut heard = nodes[2].hear("ping").expect("hear");
    nodes[0].set("over", "tcp").expect("set");
    nodes[0].say("ping", "pong", None).expect("say");
    let origin = nodes[0].peer_name();
    eventually(&rt, "the key reaches every node over TCP", || {
        nodes[1..]
            .iter()
            .all(|n| n.get_remote(&origin, "over").is_some_and(|v| v == "tcp"))
    })
    .await;
    let h = super::next(&rt, &mut heard, "the ping").await;
    assert_eq!(
        (h.event.as_str(), h.payload.as_ref(), h.from),
        ("ping", &b"pong"[..], origin)
    );
    // Every message travels as a frame, over one reused connection per peer.
    eventually(&rt, "every node sends 30 messages", || {
        nodes.iter().all(|n| n.stats().total_sent().messages >= 30)
    })
    .await;
    for n in &nodes {
        // Per-peer figures name both other nodes and add up to no more than the totals.
        let figures = n.peer_stats();
        let mut named: Vec<SocketAddr> = figures.iter().map(|(a, _)| *a).collect();
        let mut others: Vec<SocketAddr> = nodes
            .iter()
            .map(|o| o.peer_name())
            .filter(|a| *a != n.peer_name())
            .collect();
        named.sort();
        others.sort();
        assert_eq!(
            named,
            others,
            "{} keeps figures of its peers",
            n.peer_name()
        );
        assert!(
            figures
                .iter()
                .all(|(_, f)| f.sent.messages > 0 && f.received.messages > 0)
        );
        let sent: u64 = figures.iter().map(|(_, f)| f.sent.bytes).sum();
        assert!(sent <= n.stats().total_sent().bytes);
        let opened = n.io_stats().connections_opened;
        assert!(
            opened <= 2,
            "{} opened {opened} connections to 2 peers",
            n.peer_name()
        );
    }
    stop_all(&nodes).await;
}

/// Nodes bound to `[::1]` form a cluster and advertise bracketed IPv6 names.
pub async fn ipv6_cluster_works<R: Runtime + Default>() {
    let rt = R::default();
    let nodes = chain(3, |_| fast::<R>().bind("[::1]:0")).await;
    assert!(nodes.iter().all(|n| n.peer_name().is_ipv6()));
    assert!(nodes[0].peer_name().to_string().starts_with("[::1]:"));
    converged(&rt, &nodes).await;
    nodes[1].set("family", "v6").expect("set");
    let origin = nodes[1].peer_name();
    eventually(&rt, "the key reaches every IPv6 node", || {
        [&nodes[0], &nodes[2]]
            .iter()
            .all(|n| n.get_remote(&origin, "family").is_some_and(|v| v == "v6"))
    })
    .await;
    stop_all(&nodes).await;
}

/// A value far larger than a datagram travels as one TCP frame and arrives intact everywhere.
pub async fn one_mib_value_reaches_every_node_over_tcp<R: Runtime + Default>() {
    let rt = R::default();
    let nodes = chain(3, |_| fast::<R>()).await;
    converged(&rt, &nodes).await;
    let big: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
    nodes[0].set("big", big.clone()).expect("set 1 MiB");
    let origin = nodes[0].peer_name();
    eventually(&rt, "the 1 MiB value reaches every node", || {
        nodes[1..]
            .iter()
            .all(|n| n.get_remote(&origin, "big").is_some_and(|v| v == big))
    })
    .await;
    assert_eq!(nodes[0].io_stats().frames_dropped, 0);
    stop_all(&nodes).await;
}

/// A node bound to every interface and mapped to 127.0.0.2 advertises and is reached at the
/// mapped address.
pub async fn address_map_advertises_the_mapped_address<R: Runtime + Default>() {
    let rt = R::default();
    // Learn a free port first: the map's key must name the bound port.
    let probe = rt
        .bind_udp("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("probe");
    let port = probe.local_addr().expect("probe port").port();
    drop(probe);
    let bound: SocketAddr = format!("0.0.0.0:{port}").parse().expect("addr");
    let mapped: SocketAddr = format!("127.0.0.2:{port}").parse().expect("addr");
    let natted = fast::<R>()
        .bind(bound)
        .address_map([(bound, mapped)])
        .start()
        .await
        .expect("start");
    assert_eq!(natted.peer_name(), mapped);
    assert_eq!(natted.local_addr(), bound);
    let other: Telepathine<R> = fast::<R>().seeds([mapped]).start().await.expect("start");
    converged(&rt, &[natted.clone(), other.clone()]).await;
    assert_eq!(other.all_peers(), vec![mapped]);
    stop_all(&[natted, other]).await;
}
