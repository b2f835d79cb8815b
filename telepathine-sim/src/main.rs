//! `telepathine-sim`: runs a scenario and prints the report (human by default, `--json` for
//! one JSON object). Exits with status 1 when an invariant was violated, printing the command
//! that replays the run.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use telepathine_sim::{Scenario, SimConfig, plot, run_twice, simulate};

/// Simulates a telepathine cluster in virtual time and reports how the protocol performs.
#[derive(Parser, Debug)]
#[command(name = "telepathine-sim", version, about)]
struct Args {
    /// Nodes at the start.
    #[arg(long, default_value_t = 1000)]
    nodes: usize,
    /// Seed that fixes every random choice.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// converge, churn, partition, crash or events.
    #[arg(long, default_value = "converge")]
    scenario: Scenario,
    /// Datagram loss probability (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// Base one-way latency, ms.
    #[arg(long, default_value_t = 10)]
    latency_ms: u64,
    /// Mean exponential jitter added to the latency, ms.
    #[arg(long, default_value_t = 5)]
    jitter_ms: u64,
    /// Gossip interval, ms.
    #[arg(long, default_value_t = 1000)]
    gossip_interval_ms: u64,
    /// Heartbeat interval, ms (default: the gossip interval).
    #[arg(long)]
    heartbeat_interval_ms: Option<u64>,
    /// Keys written by the update.
    #[arg(long, default_value_t = 1)]
    keys: usize,
    /// Bytes per written value.
    #[arg(long, default_value_t = 64)]
    value_bytes: usize,
    /// Load scenario: keys each node writes per second.
    #[arg(long, default_value_t = 1.0)]
    write_rate: f64,
    /// Load scenario: virtual seconds the nodes keep writing.
    #[arg(long, default_value_t = 20)]
    load_secs: u64,
    /// Flow control: most state bytes per second each node takes in (default: no limit).
    #[arg(long)]
    inbound_rate: Option<u64>,
    /// Minimum virtual seconds to run.
    #[arg(long, default_value_t = 30)]
    duration_secs: u64,
    /// Datagram duplication probability.
    #[arg(long, default_value_t = 0.0)]
    duplicate: f64,
    /// Probability that a datagram is held back and overtaken.
    #[arg(long, default_value_t = 0.0)]
    reorder: f64,
    /// Probability that a datagram is truncated or has a bit flipped.
    #[arg(long, default_value_t = 0.0)]
    corrupt: f64,
    /// Largest datagram the network carries.
    #[arg(long, default_value_t = 1400)]
    datagram_limit: usize,
    /// Datagram budget configured in the nodes.
    #[arg(long, default_value_t = 1400)]
    datagram_budget: usize,
    /// Stream throughput, bytes per ms.
    #[arg(long, default_value_t = 12_500)]
    stream_bytes_per_ms: u64,
    /// Largest wall-clock skew of a node, ms (uniform in ±skew).
    #[arg(long, default_value_t = 0)]
    clock_skew_ms: u64,
    /// Nodes crashed (and restarted) by the crash scenario.
    #[arg(long, default_value_t = 1)]
    crashes: usize,
    /// Nodes that stall once during the run.
    #[arg(long, default_value_t = 0)]
    pauses: usize,
    /// Length of a stall, ms.
    #[arg(long, default_value_t = 15_000)]
    pause_ms: u64,
    /// Probability that a timer fires late.
    #[arg(long, default_value_t = 0.0)]
    late_timeout: f64,
    /// Largest timer lateness, ms.
    #[arg(long, default_value_t = 200)]
    late_timeout_ms: u64,
    /// Partition scenario: block one direction only.
    #[arg(long)]
    one_way: bool,
    /// Private network: seal every message.
    #[arg(long)]
    sealed: bool,
    /// Withhold every delta from this node (proves the checker catches a broken protocol).
    #[arg(long)]
    broken_node: Option<usize>,
    /// Loss at or below which any false positive is a violation.
    #[arg(long, default_value_t = 0.1)]
    fp_loss_threshold: f64,
    /// Seed nodes every node contacts at start.
    #[arg(long, default_value_t = 3)]
    seeds: usize,
    /// Print one JSON object instead of the human report.
    #[arg(long)]
    json: bool,
    /// Write the epidemic (and detection) curve as an SVG.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
    /// Run the seed twice and fail unless both traces hash alike.
    #[arg(long)]
    check_determinism: bool,
    /// No progress lines on stderr.
    #[arg(long)]
    quiet: bool,
}

impl Args {
    fn config(&self) -> SimConfig {
        SimConfig {
            nodes: self.nodes,
            seed: self.seed,
            scenario: self.scenario,
            loss: self.loss,
            latency_ms: self.latency_ms,
            jitter_ms: self.jitter_ms,
            duplicate: self.duplicate,
            reorder: self.reorder,
            corrupt: self.corrupt,
            datagram_limit: self.datagram_limit,
            datagram_budget: self.datagram_budget,
            stream_bytes_per_ms: self.stream_bytes_per_ms,
            gossip_interval_ms: self.gossip_interval_ms,
            heartbeat_interval_ms: self.heartbeat_interval_ms,
            keys: self.keys,
            value_bytes: self.value_bytes,
            duration_secs: self.duration_secs,
            clock_skew_ms: self.clock_skew_ms,
            crashes: self.crashes,
            pauses: self.pauses,
            pause_ms: self.pause_ms,
            late_timeout: self.late_timeout,
            late_timeout_ms: self.late_timeout_ms,
            one_way: self.one_way,
            sealed: self.sealed,
            broken_node: self.broken_node,
            fp_loss_threshold: self.fp_loss_threshold,
            seeds: self.seeds,
            write_rate: self.write_rate,
            load_secs: self.load_secs,
            inbound_rate: self.inbound_rate,
            progress: !self.quiet,
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let cfg = args.config();
    let outcome = if args.check_determinism {
        run_twice(cfg)
    } else {
        simulate(cfg).map(|(outcome, sim)| {
            // The process exits right after the report: freeing every node's state one by one
            // would only add seconds to a large run.
            std::mem::forget(sim);
            outcome
        })
    };
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            eprintln!("telepathine-sim: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(path) = &args.plot
        && let Err(e) = plot::write_svg(path, &outcome.report, &outcome.curves)
    {
        eprintln!("telepathine-sim: cannot write {}: {e}", path.display());
        return ExitCode::from(2);
    }
    if args.json {
        match serde_json::to_string(&outcome.report) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("telepathine-sim: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        println!("{}", outcome.report);
    }
    if outcome.passed() {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "telepathine-sim: {} invariant violation(s) with seed {}; replay with:\n  {}",
            outcome.report.invariant_violations, outcome.report.seed, outcome.report.replay
        );
        ExitCode::from(1)
    }
}
