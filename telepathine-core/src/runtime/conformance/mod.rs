//! Integration test bodies that every adapter runs over real loopback sockets, so that
//! tokio, async-std and smol are held to the same behaviour without copying tests.
//!
//! An adapter's test file says:
//! ```text
//! fn block_on<F: std::future::Future>(f: F) -> F::Output { /* its executor */ }
//! telepathine_core::conformance_tests!(my_adapter::MyRuntime, block_on);
//! ```
//! Each body is bounded by [`TEST_LIMIT`] and waits for conditions with bounded polling loops,
//! never with a fixed sleep.
#![allow(clippy::missing_panics_doc)]

mod cluster;
mod events;
mod lifecycle;
mod security;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

pub use cluster::*;
pub use events::*;
pub use lifecycle::*;
pub use security::*;

use super::{Builder, Runtime, Subscription, Telepathine};

/// Bound on every test body.
pub const TEST_LIMIT: Duration = Duration::from_secs(40);
/// Bound on one awaited condition.
pub const WAIT_LIMIT: Duration = Duration::from_secs(20);

/// A builder with the short intervals the tests use.
pub fn fast<R: Runtime + Default>() -> Builder<R> {
    Telepathine::<R>::builder()
        .gossip_interval(Duration::from_millis(100))
        .heartbeat_interval(Duration::from_millis(100))
        .configure(|c| {
            // Loaded CI machines delay heartbeats; a generous floor keeps phi from convicting
            // live nodes while still detecting a silent one within a couple of seconds.
            c.phi_min_std_dev = Duration::from_millis(250);
        })
}

/// Runs `body` within [`TEST_LIMIT`], failing the test if it takes longer.
pub async fn bounded<R: Runtime + Default, F: Future>(body: F) -> F::Output {
    match super::signal::timeout(&R::default(), TEST_LIMIT, body).await {
        Some(out) => out,
        None => panic!("test body exceeded {TEST_LIMIT:?}"),
    }
}

/// Waits until `condition` holds, polling every 20 ms, failing after [`WAIT_LIMIT`].
pub async fn eventually<R: Runtime>(rt: &R, what: &str, mut condition: impl FnMut() -> bool) {
    let start = rt.now();
    while !condition() {
        if rt.now().saturating_duration_since(start) > WAIT_LIMIT {
            panic!("timed out waiting until {what}");
        }
        rt.sleep(Duration::from_millis(20)).await;
    }
}

/// The next item of `sub`, failing after [`WAIT_LIMIT`].
pub async fn next<R: Runtime, T>(rt: &R, sub: &mut Subscription<T>, what: &str) -> T {
    match super::signal::timeout(rt, WAIT_LIMIT, sub.recv()).await {
        Some(Some(item)) => item,
        Some(None) => panic!("subscription ended while waiting for {what}"),
        None => panic!("timed out waiting for {what}"),
    }
}

/// Starts `n` nodes from `builder(i)`, node `i > 0` seeded with node `i - 1` (a chain).
pub async fn chain<R: Runtime + Default>(
    n: usize,
    builder: impl Fn(usize) -> Builder<R>,
) -> Vec<Telepathine<R>> {
    let mut nodes: Vec<Telepathine<R>> = Vec::new();
    for i in 0..n {
        let mut b = builder(i);
        if let Some(prev) = nodes.last() {
            b = b.seeds([prev.local_addr()]);
        }
        nodes.push(b.start().await.expect("node starts"));
    }
    nodes
}

/// Waits until every node sees every other as alive.
pub async fn converged<R: Runtime>(rt: &R, nodes: &[Telepathine<R>]) {
    let names: Vec<SocketAddr> = nodes.iter().map(|n| n.peer_name()).collect();
    eventually(rt, "every node sees every other alive", || {
        nodes.iter().all(|n| {
            let live = n.live_peers();
            names
                .iter()
                .filter(|p| **p != n.peer_name())
                .all(|p| live.contains(p))
        })
    })
    .await;
}

/// Stops every node (so sockets close before the next test reuses ports).
pub async fn stop_all<R: Runtime>(nodes: &[Telepathine<R>]) {
    for n in nodes {
        n.stop().await.expect("stop");
    }
}

/// Defines one `#[test]` per conformance body for runtime `$rt`, each run by `$block_on`.
#[macro_export]
macro_rules! conformance_tests {
    ($rt:ty, $block_on:path) => {
        $crate::conformance_tests!(@each $rt, $block_on,
            chain_of_ten_converges_on_membership_and_keys,
            tcp_only_cluster_works,
            ipv6_cluster_works,
            one_mib_value_reaches_every_node_over_tcp,
            address_map_advertises_the_mapped_address,
            say_is_heard_exactly_once_including_wildcards,
            expiring_key_disappears_everywhere,
            local_sets_believe_and_timers,
            slow_subscriber_lags_without_blocking_the_node,
            stopped_node_is_dead_then_alive_without_duplicate_events,
            halted_node_is_detected_by_phi_and_recovers,
            errors_are_typed_and_nothing_panics,
            dropping_the_last_handle_leaves_and_ends_subscriptions,
            new_process_on_the_same_address_supersedes_the_old_one,
            network_key_keeps_strangers_out,
            cipher_suite_is_chosen_and_enforced,
        );
    };
    (@each $rt:ty, $block_on:path, $($name:ident),+ $(,)?) => {
        $(
            #[test]
            fn $name() {
                $block_on($crate::runtime::conformance::bounded::<$rt, _>(
                    $crate::runtime::conformance::$name::<$rt>(),
                ));
            }
        )+
    };
}
