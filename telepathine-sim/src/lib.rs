//! # telepathine-sim
//!
//! A deterministic simulator that drives thousands of [`telepathine_core::Node`]s in virtual
//! time over a modelled network (latency, jitter, loss, duplication, reordering, damage, size
//! limits, streams, partitions, clock skew), injects faults (crashes, restarts with a new
//! generation, graceful leaves, churn, stalls, late timers), checks the protocol's invariants
//! and reports how fast it converges, what it costs and how quickly it detects failures.
//!
//! One `u64` seed fixes everything: the same [`SimConfig`] gives the same trace hash and the
//! same report, byte for byte, on any machine.
//!
//! ```
//! use telepathine_sim::{SimConfig, run};
//! let outcome = run(SimConfig { nodes: 20, duration_secs: 10, ..SimConfig::default() }).unwrap();
//! assert_eq!(outcome.report.invariant_violations, 0, "{}", outcome.report);
//! assert!(outcome.report.update_rounds_max.is_some());
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod broken;
mod config;
mod engine;
mod human;
mod invariants;
mod network;
mod observe;
pub mod plot;
mod queue;
mod report;
pub mod rng;
mod scenario;
mod slot;
mod transport;

pub use config::{Scenario, SimConfig};
pub use engine::Sim;
pub use network::{Copy, Damage, Fate, Network};
pub use observe::Observer;
pub use report::{Curves, Report, percentile};
pub use slot::{EPOCH_UNIX_MS, Life, Slot, addr, index_of};
pub use transport::NetCounters;

/// A finished run: its report and the curves for plotting.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The figures and invariant verdicts.
    pub report: Report,
    /// The epidemic and detection curves.
    pub curves: Curves,
}

impl Outcome {
    /// Whether every invariant held.
    pub fn passed(&self) -> bool {
        self.report.invariant_violations == 0
    }
}

/// Runs `cfg` to its end, checks the invariants and builds the report.
pub fn run(cfg: SimConfig) -> Result<Outcome, String> {
    simulate(cfg).map(|(outcome, _)| outcome)
}

/// Like [`run`], and also hands back the finished simulation for inspection. (A program about
/// to exit may `std::mem::forget` it: freeing a large cluster's state takes a while.)
pub fn simulate(cfg: SimConfig) -> Result<(Outcome, Sim), String> {
    let mut sim = Sim::new(cfg)?;
    sim.run();
    let violations = invariants::check(&sim);
    let wall = sim.wall_secs();
    let (report, curves) = Report::build(&sim, violations, Some(wall));
    Ok((Outcome { report, curves }, sim))
}

/// Runs `cfg` twice and compares the trace hashes and the machine-independent reports. Returns
/// the first outcome, and an error describing the difference if the runs diverged.
pub fn run_twice(cfg: SimConfig) -> Result<Outcome, String> {
    let first = run(cfg.clone())?;
    let second = run(cfg)?;
    if first.report.deterministic() != second.report.deterministic() {
        return Err(format!(
            "nondeterminism: trace hashes {} and {} (reports differ) for {}",
            first.report.trace_hash, second.report.trace_hash, first.report.replay
        ));
    }
    Ok(first)
}
