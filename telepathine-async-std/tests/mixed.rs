//! One private cluster of nodes on tokio, async-std and smol, each runtime on its own thread:
//! they converge on membership, keys and events, and a node vanishing from one runtime is
//! detected dead by the others.
#![cfg(all(feature = "smol", feature = "async-std"))]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use telepathine_core::runtime::conformance::fast;
use telepathine_core::runtime::{Heard, Runtime, Subscription, Telepathine};
use telepathine_core::{DeathCause, Event, NetworkKey};

const LIMIT: Duration = Duration::from_secs(20);
const PER_RUNTIME: usize = 2;

/// What the test thread needs of a node, whatever its runtime.
trait Member: Send {
    fn name(&self) -> SocketAddr;
    fn node_view(&self) -> (Vec<SocketAddr>, Vec<SocketAddr>);
    fn remote(&self, peer: &SocketAddr, key: &str) -> Option<Vec<u8>>;
    fn set(&self, key: &str, value: &str);
    fn say(&self, event: &str);
}

impl<R: Runtime> Member for Telepathine<R> {
    fn name(&self) -> SocketAddr {
        self.peer_name()
    }
    fn node_view(&self) -> (Vec<SocketAddr>, Vec<SocketAddr>) {
        (self.live_peers(), self.dead_peers())
    }
    fn remote(&self, peer: &SocketAddr, key: &str) -> Option<Vec<u8>> {
        self.get_remote(peer, key).map(|b| b.to_vec())
    }
    fn set(&self, key: &str, value: &str) {
        Telepathine::set(self, key, value.to_string()).expect("set");
    }
    fn say(&self, event: &str) {
        Telepathine::say(self, event, "", None).expect("say");
    }
}

/// A node plus the subscriptions the test polls from its own thread.
struct Handle {
    runtime: &'static str,
    node: Box<dyn Member>,
    heard: Subscription<Heard>,
    deaths: Subscription<Event>,
}

/// Starts `PER_RUNTIME` nodes on the calling runtime, hands them over, and keeps them running
/// until `done`, then stops them.
async fn host<R: Runtime + Default>(
    runtime: &'static str,
    key: NetworkKey,
    seed: Option<SocketAddr>,
    out: mpsc::Sender<(Handle, SocketAddr)>,
    keep: mpsc::Sender<Telepathine<R>>,
    done: Arc<AtomicBool>,
) {
    let rt = R::default();
    let mut mine = Vec::new();
    for _ in 0..PER_RUNTIME {
        let mut b = fast::<R>().network_key_derived(key.clone());
        if let Some(s) = seed.or_else(|| mine.last().map(|n: &Telepathine<R>| n.local_addr())) {
            b = b.seeds([s]);
        }
        let node = b.start().await.expect("start");
        let handle = Handle {
            runtime,
            heard: node.hear("mixed.*").expect("hear"),
            deaths: node.events_matching("peer.dead").expect("events"),
            node: Box::new(node.clone()),
        };
        out.send((handle, node.local_addr())).expect("hand over");
        // Only the smol thread's receiver listens; the others drop theirs.
        let _ = keep.send(node.clone());
        mine.push(node);
    }
    while !done.load(Ordering::Acquire) {
        rt.sleep(Duration::from_millis(20)).await;
    }
    for n in &mine {
        n.stop().await.expect("stop");
    }
}

fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < LIMIT, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn tokio_async_std_and_smol_nodes_form_one_private_cluster() {
    let key = NetworkKey::from_passphrase("mixed", "telepathine");
    let done = Arc::new(AtomicBool::new(false));
    let (out, handles_rx) = mpsc::channel::<(Handle, SocketAddr)>();
    let mut threads: Vec<JoinHandle<()>> = Vec::new();
    let mut handles: Vec<Handle> = Vec::new();
    let mut seed: Option<SocketAddr> = None;
    let (keep_smol, smol_nodes) = mpsc::channel();

    for runtime in ["tokio", "async-std", "smol"] {
        let (key, out, done) = (key.clone(), out.clone(), Arc::clone(&done));
        threads.push(match runtime {
            "tokio" => std::thread::spawn(move || {
                let (keep, _) = mpsc::channel();
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                    .expect("tokio");
                rt.block_on(host::<telepathine_tokio::Tokio>(
                    "tokio", key, seed, out, keep, done,
                ));
            }),
            "async-std" => std::thread::spawn(move || {
                let (keep, _) = mpsc::channel();
                async_std::task::block_on(host::<telepathine_async_std::async_std::AsyncStd>(
                    "async-std",
                    key,
                    seed,
                    out,
                    keep,
                    done,
                ));
            }),
            _ => {
                let keep = keep_smol.clone();
                std::thread::spawn(move || {
                    smol::block_on(host::<telepathine_async_std::smol::Smol>(
                        "smol", key, seed, out, keep, done,
                    ));
                })
            }
        });
        for _ in 0..PER_RUNTIME {
            let (handle, local) = handles_rx.recv_timeout(LIMIT).expect("a node started");
            seed = Some(local);
            handles.push(handle);
        }
    }

    let names: Vec<SocketAddr> = handles.iter().map(|h| h.node.name()).collect();
    wait_until("every node sees every other alive", || {
        handles.iter().all(|h| {
            let (live, _) = h.node.node_view();
            names
                .iter()
                .filter(|p| **p != h.node.name())
                .all(|p| live.contains(p))
        })
    });

    for h in &handles {
        h.node.set("runtime", h.runtime);
    }
    wait_until("every node knows every other's runtime", || {
        handles.iter().all(|h| {
            handles
                .iter()
                .filter(|o| o.node.name() != h.node.name())
                .all(|o| {
                    h.node.remote(&o.node.name(), "runtime").as_deref()
                        == Some(o.runtime.as_bytes())
                })
        })
    });

    handles[0].node.say("mixed.hello");
    for h in &mut handles[1..] {
        wait_until("the event reaches every runtime", || {
            h.heard.try_recv().is_some_and(|e| e.event == "mixed.hello")
        });
    }

    // A smol node vanishes without leaving; tokio and async-std nodes convict it.
    let victim = smol_nodes.recv_timeout(LIMIT).expect("smol node");
    let victim_name = victim.peer_name();
    futures_lite::future::block_on(victim.halt());
    let others: Vec<&mut Handle> = handles
        .iter_mut()
        .filter(|h| h.node.name() != victim_name)
        .collect();
    for h in others {
        wait_until("the halted node is convicted", || {
            h.deaths.try_recv().is_some_and(|e| {
                e == Event::PeerDead {
                    peer: victim_name,
                    cause: DeathCause::Failed,
                }
            })
        });
        assert!(
            h.node.node_view().1.contains(&victim_name),
            "{} on {}",
            h.node.name(),
            h.runtime
        );
    }

    done.store(true, Ordering::Release);
    drop(victim);
    for t in threads {
        t.join().expect("runtime thread");
    }
}
