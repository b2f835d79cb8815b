//! What a run simulates: cluster size, protocol intervals, network model, faults and workload.
//! One [`SimConfig`] plus its seed fixes a run completely.

use core::fmt;
use core::str::FromStr;

/// The story a run tells; each measures something different (see `docs/simulation.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scenario {
    /// Nodes join, membership converges, one node writes K keys that spread to everyone.
    Converge,
    /// As `converge`, then nodes join, leave, crash and restart for a while, then quiet.
    Churn,
    /// As `converge`, then the cluster splits in two (or one way) for a while, then heals.
    Partition,
    /// As `converge`, then nodes crash, are detected, and restart with a new generation.
    Crash,
    /// As `converge`, plus `say` events from several nodes, heard exactly once each.
    Events,
    /// As `converge`, then every node writes `write_rate` keys a second for `load_secs`: the
    /// update rate the cluster sustains, with flow control when nodes set an inbound rate.
    Load,
    /// Every node writes `keys` keys of `value_bytes`; once state converged, a fresh node
    /// joins, and the run measures how long it takes to hold everything.
    Join,
}

impl Scenario {
    /// Every scenario, in the order the help text lists them.
    pub const ALL: [Scenario; 7] = [
        Scenario::Converge,
        Scenario::Churn,
        Scenario::Partition,
        Scenario::Crash,
        Scenario::Events,
        Scenario::Load,
        Scenario::Join,
    ];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Converge => "converge",
            Scenario::Churn => "churn",
            Scenario::Partition => "partition",
            Scenario::Crash => "crash",
            Scenario::Events => "events",
            Scenario::Load => "load",
            Scenario::Join => "join",
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scenario {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Scenario::ALL
            .into_iter()
            .find(|sc| sc.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown scenario {s:?} (converge, churn, partition, crash, events, load, join)"
                )
            })
    }
}

/// Every knob of a run. `Default` is the command's default run: 1,000 nodes converging on a
/// fresh update at a 1 s gossip interval.
#[derive(Clone, Debug, PartialEq)]
pub struct SimConfig {
    /// Nodes started at the beginning (churn may add more).
    pub nodes: usize,
    /// The one number that fixes every random choice of the run.
    pub seed: u64,
    /// What happens during the run.
    pub scenario: Scenario,
    /// Probability that a datagram is lost.
    pub loss: f64,
    /// One-way base latency of every message, in ms.
    pub latency_ms: u64,
    /// Mean of the exponential jitter added to the base latency, in ms.
    pub jitter_ms: u64,
    /// Probability that a datagram is delivered twice.
    pub duplicate: f64,
    /// Probability that a datagram is held back long enough to overtake later ones.
    pub reorder: f64,
    /// Probability that a datagram is damaged in flight (truncated or a bit flipped).
    pub corrupt: f64,
    /// Largest datagram the network carries; larger ones are dropped and counted.
    pub datagram_limit: usize,
    /// Datagram budget configured in every node (the core must stay within it).
    pub datagram_budget: usize,
    /// Stream throughput between two nodes, in bytes per ms (12,500 is 100 Mbit/s).
    pub stream_bytes_per_ms: u64,
    /// Gossip interval of every node, in ms.
    pub gossip_interval_ms: u64,
    /// Heartbeat interval of every node, in ms; the gossip interval when `None`.
    pub heartbeat_interval_ms: Option<u64>,
    /// Keys the update writes.
    pub keys: usize,
    /// Bytes of each written value.
    pub value_bytes: usize,
    /// Virtual seconds the run lasts at least (scenarios extend it until their last phase has
    /// settled).
    pub duration_secs: u64,
    /// Largest absolute skew of a node's wall clock, in ms (uniform in `±skew`).
    pub clock_skew_ms: u64,
    /// Nodes the crash scenario crashes (and later restarts).
    pub crashes: usize,
    /// Nodes that stall (stop processing, as in a long GC or a suspended VM) once during the run.
    pub pauses: usize,
    /// How long a stall lasts, in ms.
    pub pause_ms: u64,
    /// Probability that a timer fires late.
    pub late_timeout: f64,
    /// Largest lateness of a late timer, in ms.
    pub late_timeout_ms: u64,
    /// In the partition scenario, block only one direction (group A cannot reach group B).
    pub one_way: bool,
    /// Run a private network: every message sealed with a network key.
    pub sealed: bool,
    /// Make this node broken: the simulator drops every delta (SynAck and Ack) delivered to it.
    /// Exists to prove that the invariant checker catches a broken protocol.
    pub broken_node: Option<usize>,
    /// Loss rate at or below which any false positive is an invariant violation.
    pub fp_loss_threshold: f64,
    /// Number of seed nodes every node is configured with (the first ones).
    pub seeds: usize,
    /// Load scenario: keys each node writes per second.
    pub write_rate: f64,
    /// Load scenario: how long the nodes write, in virtual seconds.
    pub load_secs: u64,
    /// Flow control: most state bytes per second each node takes in (`Config::inbound_rate`).
    pub inbound_rate: Option<u64>,
    /// Print progress on stderr.
    pub progress: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            nodes: 1000,
            seed: 1,
            scenario: Scenario::Converge,
            loss: 0.0,
            latency_ms: 10,
            jitter_ms: 5,
            duplicate: 0.0,
            reorder: 0.0,
            corrupt: 0.0,
            datagram_limit: 1400,
            datagram_budget: 1400,
            stream_bytes_per_ms: 12_500,
            gossip_interval_ms: 1000,
            heartbeat_interval_ms: None,
            keys: 1,
            value_bytes: 64,
            duration_secs: 30,
            clock_skew_ms: 0,
            crashes: 1,
            pauses: 0,
            pause_ms: 15_000,
            late_timeout: 0.0,
            late_timeout_ms: 200,
            one_way: false,
            sealed: false,
            broken_node: None,
            fp_loss_threshold: 0.1,
            seeds: 3,
            write_rate: 1.0,
            load_secs: 20,
            inbound_rate: None,
            progress: false,
        }
    }
}

impl SimConfig {
    /// The heartbeat interval in effect, in ms.
    pub fn heartbeat_ms(&self) -> u64 {
        self.heartbeat_interval_ms
            .unwrap_or(self.gossip_interval_ms)
    }

    /// Whether any fault other than plain loss is active, which excuses false positives.
    pub fn has_faults(&self) -> bool {
        matches!(self.scenario, Scenario::Partition)
            || self.pauses > 0
            || self.corrupt > 0.0
            || self.late_timeout > 0.0
            || self.broken_node.is_some()
    }

    /// Checks that the run can be carried out.
    pub fn validate(&self) -> Result<(), String> {
        if self.nodes == 0 || self.nodes >= 1 << 22 {
            return Err("--nodes must be between 1 and 4,194,303".into());
        }
        for (name, p) in [
            ("--loss", self.loss),
            ("--duplicate", self.duplicate),
            ("--reorder", self.reorder),
            ("--corrupt", self.corrupt),
            ("--late-timeout", self.late_timeout),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("{name} must be between 0 and 1"));
            }
        }
        if self.gossip_interval_ms == 0 || self.heartbeat_ms() == 0 {
            return Err("intervals must be positive".into());
        }
        if self.keys == 0 {
            return Err("--keys must be at least 1".into());
        }
        if self.stream_bytes_per_ms == 0 {
            return Err("--stream-bytes-per-ms must be positive".into());
        }
        if !(self.write_rate >= 0.0 && self.write_rate <= 1_000.0) {
            return Err("--write-rate must be between 0 and 1000 keys per second".into());
        }
        if self.broken_node.is_some_and(|b| b >= self.nodes) {
            return Err("--broken-node must name one of the initial nodes".into());
        }
        Ok(())
    }

    /// The exact command line that replays this run: every flag that differs from the default.
    pub fn replay_command(&self) -> String {
        let d = SimConfig::default();
        let mut cmd = String::from("cargo run --release -p telepathine-sim --");
        let mut flag = |name: &str, value: String| {
            cmd.push_str(&format!(" --{name} {value}"));
        };
        flag("seed", self.seed.to_string());
        flag("nodes", self.nodes.to_string());
        flag("scenario", self.scenario.to_string());
        let floats = [
            ("loss", self.loss, d.loss),
            ("duplicate", self.duplicate, d.duplicate),
            ("reorder", self.reorder, d.reorder),
            ("corrupt", self.corrupt, d.corrupt),
            ("late-timeout", self.late_timeout, d.late_timeout),
            ("write-rate", self.write_rate, d.write_rate),
            (
                "fp-loss-threshold",
                self.fp_loss_threshold,
                d.fp_loss_threshold,
            ),
        ];
        for (name, v, dv) in floats {
            if v != dv {
                flag(name, v.to_string());
            }
        }
        let ints = [
            ("latency-ms", self.latency_ms, d.latency_ms),
            ("jitter-ms", self.jitter_ms, d.jitter_ms),
            (
                "datagram-limit",
                self.datagram_limit as u64,
                d.datagram_limit as u64,
            ),
            (
                "datagram-budget",
                self.datagram_budget as u64,
                d.datagram_budget as u64,
            ),
            (
                "stream-bytes-per-ms",
                self.stream_bytes_per_ms,
                d.stream_bytes_per_ms,
            ),
            (
                "gossip-interval-ms",
                self.gossip_interval_ms,
                d.gossip_interval_ms,
            ),
            ("keys", self.keys as u64, d.keys as u64),
            ("value-bytes", self.value_bytes as u64, d.value_bytes as u64),
            ("duration-secs", self.duration_secs, d.duration_secs),
            ("clock-skew-ms", self.clock_skew_ms, d.clock_skew_ms),
            ("crashes", self.crashes as u64, d.crashes as u64),
            ("pauses", self.pauses as u64, d.pauses as u64),
            ("pause-ms", self.pause_ms, d.pause_ms),
            ("late-timeout-ms", self.late_timeout_ms, d.late_timeout_ms),
            ("seeds", self.seeds as u64, d.seeds as u64),
            ("load-secs", self.load_secs, d.load_secs),
        ];
        for (name, v, dv) in ints {
            if v != dv {
                flag(name, v.to_string());
            }
        }
        if let Some(h) = self.heartbeat_interval_ms {
            flag("heartbeat-interval-ms", h.to_string());
        }
        if let Some(r) = self.inbound_rate {
            flag("inbound-rate", r.to_string());
        }
        if let Some(b) = self.broken_node {
            flag("broken-node", b.to_string());
        }
        if self.one_way {
            cmd.push_str(" --one-way");
        }
        if self.sealed {
            cmd.push_str(" --sealed");
        }
        cmd
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_names_round_trip() {
        for s in Scenario::ALL {
            assert_eq!(s.name().parse::<Scenario>(), Ok(s));
        }
        assert!("nope".parse::<Scenario>().is_err());
    }

    #[test]
    fn replay_command_names_what_differs() {
        let c = SimConfig {
            seed: 9,
            loss: 0.05,
            one_way: true,
            ..SimConfig::default()
        };
        let cmd = c.replay_command();
        assert!(cmd.contains("--seed 9"), "{cmd}");
        assert!(cmd.contains("--loss 0.05"), "{cmd}");
        assert!(cmd.contains("--one-way"), "{cmd}");
        assert!(!cmd.contains("--reorder"), "{cmd}");
    }
}
