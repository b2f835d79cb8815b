//! One simulated gossip round of a whole cluster: every node's timers, every message and its
//! handling, the network model and the simulator's bookkeeping. The cluster first converges on
//! its membership (not measured); each iteration then advances virtual time by one interval.
//!
//! `cargo bench -p telepathine-sim --bench round`; `TELEPATHINE_BENCH_NODES=300,1000` picks
//! the sizes (default 1,000).

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use telepathine_sim::{Scenario, Sim, SimConfig};

fn sizes() -> Vec<usize> {
    std::env::var("TELEPATHINE_BENCH_NODES")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000])
}

fn converged(nodes: usize) -> Sim {
    let cfg = SimConfig {
        nodes,
        scenario: Scenario::Converge,
        // Long enough that the scenario's workload never ends the run under the benchmark.
        duration_secs: 100_000,
        ..SimConfig::default()
    };
    let interval = cfg.gossip_interval_ms;
    let mut sim = Sim::new(cfg).expect("valid configuration");
    while !sim.membership_converged() || sim.now_ms() < 5 * interval {
        let next = sim.now_ms() + interval;
        sim.run_until(next);
    }
    sim
}

fn round(c: &mut Criterion) {
    let mut g = c.benchmark_group("sim");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(10));
    for nodes in sizes() {
        let mut sim = converged(nodes);
        let interval = SimConfig::default().gossip_interval_ms;
        // One element per node: criterion's rate is then node-rounds per second.
        g.throughput(Throughput::Elements(nodes as u64));
        g.bench_function(format!("one round of {nodes} nodes"), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    let next = sim.now_ms() + interval;
                    sim.run_until(next);
                }
                start.elapsed()
            })
        });
        // Freeing a large cluster node by node only adds seconds to the run.
        std::mem::forget(sim);
    }
    g.finish();
}

criterion_group!(benches, round);
criterion_main!(benches);
