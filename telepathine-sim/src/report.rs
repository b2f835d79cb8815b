//! The figures a run produces, as one flat record with stable field names (the `--json`
//! output) and as a short human report.

use serde::Serialize;

use crate::config::Scenario;
use crate::engine::Sim;

/// Everything a run measured. Figures that do not apply to the scenario (or could not be
/// measured, for example when membership never converged) are `None`, printed as `null`.
/// `docs/simulation.md` explains every field.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// Scenario name.
    pub scenario: String,
    /// Nodes at the start.
    pub nodes: usize,
    /// The seed that fixes the run.
    pub seed: u64,
    /// Datagram loss probability.
    pub loss: f64,
    /// Base one-way latency, ms.
    pub latency_ms: u64,
    /// Gossip interval, ms.
    pub gossip_interval_ms: u64,
    /// Keys the update wrote.
    pub keys: usize,
    /// Bytes per written value.
    pub value_bytes: usize,
    /// Virtual seconds simulated.
    pub virtual_secs: f64,
    /// Virtual seconds until every node believed every other alive.
    pub membership_converged_secs: Option<f64>,
    /// The same in gossip rounds.
    pub membership_converged_rounds: Option<f64>,
    /// Median seconds for the first key of the update to reach a node.
    pub update_secs_p50: Option<f64>,
    /// 99th percentile of the same.
    pub update_secs_p99: Option<f64>,
    /// Seconds until the last node had it.
    pub update_secs_max: Option<f64>,
    /// `update_secs_p50` in gossip rounds.
    pub update_rounds_p50: Option<f64>,
    /// `update_secs_p99` in gossip rounds.
    pub update_rounds_p99: Option<f64>,
    /// `update_secs_max` in gossip rounds.
    pub update_rounds_max: Option<f64>,
    /// Median rounds until a node held all K keys of the update.
    pub keys_rounds_p50: Option<f64>,
    /// 99th percentile of the same.
    pub keys_rounds_p99: Option<f64>,
    /// Rounds until the last node held all K keys.
    pub keys_rounds_max: Option<f64>,
    /// The push-pull bound log3 N + ln ln N, in rounds.
    pub theory_rounds: Option<f64>,
    /// Steady state (five quiet rounds before the update): bytes sent per node per round.
    pub bytes_per_node_per_round: Option<f64>,
    /// Steady state: messages sent per node per round.
    pub messages_per_node_per_round: Option<f64>,
    /// While the update spread: bytes sent per node per round.
    pub spread_bytes_per_node_per_round: Option<f64>,
    /// While the update spread: messages sent per node per round.
    pub spread_messages_per_node_per_round: Option<f64>,
    /// Load scenario: keys written per second over the whole cluster.
    pub load_offered_writes_per_sec: Option<f64>,
    /// Load scenario: entries each node applied per second while the load lasted (writes
    /// superseded before they spread are never sent, so this can be below the offer).
    pub load_applied_per_node_per_sec: Option<f64>,
    /// Load scenario: bytes sent per node per round while the load lasted.
    pub load_bytes_per_node_per_round: Option<f64>,
    /// Load scenario: seconds from the last write until every node held every node's state.
    pub load_drain_secs: Option<f64>,
    /// Join scenario: seconds from a fresh node's start until it held every live node's state.
    pub join_secs: Option<f64>,
    /// Deltas cut to a receiver's advertised room (flow control), over all nodes.
    pub deltas_throttled: u64,
    /// Full catch-ups pulled (a peer far ahead, or a stall behind one), over all nodes.
    pub catch_ups: u64,
    /// Accusations published by monitors (`Stats::accusations`), over all nodes: with no fault
    /// each is a lone one, withdrawn after the next heartbeat.
    pub accusations: u64,
    /// Median seconds from a crash until an observer declared it (crash, churn).
    pub detection_secs_p50: Option<f64>,
    /// 99th percentile of the same.
    pub detection_secs_p99: Option<f64>,
    /// Slowest observer.
    pub detection_secs_max: Option<f64>,
    /// Live, reachable nodes declared failed (in their current generation).
    pub false_positives: u64,
    /// Median rounds until a node heard a `say` (events).
    pub say_rounds_p50: Option<f64>,
    /// 99th percentile of the same.
    pub say_rounds_p99: Option<f64>,
    /// Slowest hearing.
    pub say_rounds_max: Option<f64>,
    /// Seconds after the partition healed until both sides' writes were everywhere.
    pub heal_secs: Option<f64>,
    /// Seconds until a restarted node's first write reached every node.
    pub rejoin_secs_max: Option<f64>,
    /// Seconds after the last fault until membership agreed again.
    pub membership_reconverged_secs: Option<f64>,
    /// Seconds after the last fault (the update, in `converge` and `events`) until every live
    /// node held every live origin's exact state (checked every other round).
    pub state_converged_secs: Option<f64>,
    /// The same in gossip rounds.
    pub state_converged_rounds: Option<f64>,
    /// Datagrams lost at random.
    pub datagrams_lost: u64,
    /// Messages stopped by a partition.
    pub messages_blocked: u64,
    /// Datagrams over the network's size limit.
    pub datagrams_oversize: u64,
    /// Extra copies delivered.
    pub datagrams_duplicated: u64,
    /// Datagrams truncated or bit-flipped in flight.
    pub datagrams_damaged: u64,
    /// Damaged datagrams a node accepted anyway.
    pub damaged_accepted: u64,
    /// Number of violated invariants (0 on a good run).
    pub invariant_violations: usize,
    /// What was violated, one line each.
    pub violations: Vec<String>,
    /// Hash of every event, transmit and scenario step in order (hex).
    pub trace_hash: String,
    /// Wall-clock seconds the run took.
    pub wall_secs: Option<f64>,
    /// Gossip rounds run by all nodes together.
    pub node_rounds: u64,
    /// `node_rounds` per wall second: the simulation rate.
    pub node_rounds_per_sec: Option<f64>,
    /// The command line that replays this run exactly.
    pub replay: String,
}

/// Curves for the plot: (seconds since the event, fraction of nodes).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Curves {
    /// Fraction of nodes that know the update.
    pub update: Vec<(f64, f64)>,
    /// Fraction of observers that declared the first crash.
    pub detection: Vec<(f64, f64)>,
}

/// A counter of `Stats` summed over the nodes running at the end of the run.
fn total_stat(sim: &Sim, counter: impl Fn(&telepathine_core::Stats) -> u64) -> u64 {
    sim.slots
        .iter()
        .filter_map(|s| s.node.as_ref())
        .map(|nd| counter(nd.stats()))
        .sum()
}

/// Nearest-rank percentile of sorted `v`.
pub fn percentile(v: &[f64], p: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let rank = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len());
    Some(v[rank - 1])
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Arrival delays (ms) of the track of `key` at nodes live at the end that lived since before
/// the write.
fn delays(sim: &Sim, key: &str) -> Option<Vec<u64>> {
    let t = sim.obs.track_of(key)?;
    Some(
        (0..sim.slots.len())
            .filter(|&n| n != t.origin && sim.slots[n].is_live() && sim.slots[n].since <= t.at)
            .filter_map(|n| t.arrivals[n].map(|a| a - t.at))
            .collect(),
    )
}

/// Time (ms) from the update until each eligible node held all K keys.
fn all_keys_delays(sim: &Sim) -> Vec<u64> {
    let tracks: Vec<_> = (0..sim.cfg.keys)
        .filter_map(|k| sim.obs.track_of(&format!("u-{k}")))
        .collect();
    let Some(first) = tracks.first() else {
        return Vec::new();
    };
    (0..sim.slots.len())
        .filter(|&n| n != first.origin && sim.slots[n].is_live() && sim.slots[n].since <= first.at)
        .filter_map(|n| {
            tracks
                .iter()
                .map(|t| t.arrivals[n].map(|a| a - t.at))
                .collect::<Option<Vec<u64>>>()
        })
        .filter_map(|d| d.into_iter().max())
        .collect()
}

/// Traffic per live node per round over the intervals `[from, to)` (ms).
fn traffic(sim: &Sim, from: u64, to: u64) -> (Option<f64>, Option<f64>) {
    let i = sim.cfg.gossip_interval_ms;
    let (a, b) = ((from / i) as usize, (to.div_ceil(i)) as usize);
    let buckets = sim
        .obs
        .traffic
        .get(a..b.min(sim.obs.traffic.len()))
        .unwrap_or(&[]);
    let live = sim.slots.iter().filter(|s| s.is_live()).count();
    if buckets.is_empty() || live == 0 {
        return (None, None);
    }
    let (m, by) = buckets
        .iter()
        .fold((0, 0), |(m, by), (bm, bb)| (m + bm, by + bb));
    let per = (live * buckets.len()) as f64;
    (Some(round3(by as f64 / per)), Some(round3(m as f64 / per)))
}

impl Report {
    /// The report of a finished run, with its invariant violations.
    pub fn build(sim: &Sim, violations: Vec<String>, wall_secs: Option<f64>) -> (Report, Curves) {
        let cfg = &sim.cfg;
        let interval = cfg.gossip_interval_ms as f64;
        let secs = |ms: f64| round3(ms / 1000.0);
        let rounds = |ms: f64| round3(ms / interval);
        let stat = |v: &[f64], p: f64, f: &dyn Fn(f64) -> f64| percentile(v, p).map(f);

        let update = sorted(
            delays(sim, "u-0")
                .unwrap_or_default()
                .into_iter()
                .map(|d| d as f64)
                .collect(),
        );
        let all_keys = sorted(all_keys_delays(sim).into_iter().map(|d| d as f64).collect());
        let n = cfg.nodes as f64;
        let theory = (n > 1.0).then(|| round3(n.ln() / 3f64.ln() + n.ln().ln().max(0.0)));

        let (steady_b, steady_m) = sim
            .plan
            .steady
            .map_or((None, None), |(a, b)| traffic(sim, a, b));
        let spread_end = all_keys
            .last()
            .map(|d| *d as u64)
            .unwrap_or(0)
            .max(cfg.gossip_interval_ms);
        let (spread_b, spread_m) = sim
            .plan
            .update_at
            .map_or((None, None), |u| traffic(sim, u, u + spread_end));

        let load = sim.plan.load.clone();
        let mut detections = Vec::new();
        for c in &sim.obs.crashes {
            for (o, d) in c.detected.iter().enumerate() {
                if let Some(d) = d
                    && o != c.node
                    && sim.slots[o].since <= c.at
                {
                    detections.push((d - c.at) as f64);
                }
            }
        }
        let detections = sorted(detections);

        let mut say_delays = Vec::new();
        for s in &sim.obs.says {
            for (_, _, first) in &s.heard {
                if let Some(f) = first {
                    say_delays.push((f - s.at) as f64);
                }
            }
        }
        let say_delays = sorted(say_delays);

        let heal_secs = sim.plan.heal_at.and_then(|h| {
            let last = ["part-a", "part-b"]
                .iter()
                .filter_map(|k| sim.obs.track_of(k))
                .flat_map(|t| t.arrivals.iter().flatten().copied())
                .max()?;
            Some(secs(last.saturating_sub(h) as f64))
        });
        let rejoin = sim
            .obs
            .tracks
            .iter()
            .filter(|t| t.key.starts_with("rejoin-"))
            .filter_map(|t| delays(sim, &t.key)?.into_iter().max())
            .max()
            .map(|d| secs(d as f64));

        let membership_secs = sim.plan.membership_at.map(|t| t as f64);
        let converged = match (sim.plan.quiet_from, sim.plan.converged_at) {
            (Some(q), Some(c)) => Some(c.saturating_sub(q) as f64),
            _ => None,
        };
        let node_rounds = sim.node_rounds();
        let detection_applies = matches!(cfg.scenario, Scenario::Crash | Scenario::Churn);
        let report = Report {
            scenario: cfg.scenario.to_string(),
            nodes: cfg.nodes,
            seed: cfg.seed,
            loss: cfg.loss,
            latency_ms: cfg.latency_ms,
            gossip_interval_ms: cfg.gossip_interval_ms,
            keys: cfg.keys,
            value_bytes: cfg.value_bytes,
            virtual_secs: secs(sim.now_ms() as f64),
            membership_converged_secs: membership_secs.map(secs),
            membership_converged_rounds: membership_secs.map(rounds),
            update_secs_p50: stat(&update, 0.5, &secs),
            update_secs_p99: stat(&update, 0.99, &secs),
            update_secs_max: stat(&update, 1.0, &secs),
            update_rounds_p50: stat(&update, 0.5, &rounds),
            update_rounds_p99: stat(&update, 0.99, &rounds),
            update_rounds_max: stat(&update, 1.0, &rounds),
            keys_rounds_p50: stat(&all_keys, 0.5, &rounds),
            keys_rounds_p99: stat(&all_keys, 0.99, &rounds),
            keys_rounds_max: stat(&all_keys, 1.0, &rounds),
            theory_rounds: theory,
            bytes_per_node_per_round: steady_b,
            messages_per_node_per_round: steady_m,
            spread_bytes_per_node_per_round: spread_b,
            spread_messages_per_node_per_round: spread_m,
            load_offered_writes_per_sec: load.as_ref().map(|l| {
                let secs = (l.window.1 - l.window.0).max(1) as f64 / 1000.0;
                round3(l.writes as f64 / secs)
            }),
            load_applied_per_node_per_sec: load.as_ref().map(|l| {
                let secs = (l.window.1 - l.window.0).max(1) as f64 / 1000.0;
                round3((l.applied.1 - l.applied.0) as f64 / secs / n)
            }),
            load_bytes_per_node_per_round: load
                .as_ref()
                .and_then(|l| traffic(sim, l.window.0, l.window.1).0),
            load_drain_secs: load
                .as_ref()
                .zip(sim.plan.converged_at)
                .map(|(l, c)| secs(c.saturating_sub(l.window.1) as f64)),
            join_secs: sim
                .plan
                .join
                .and_then(|(_, start, done)| done.map(|d| secs(d.saturating_sub(start) as f64))),
            deltas_throttled: total_stat(sim, |st| st.deltas_throttled),
            catch_ups: total_stat(sim, |st| st.catch_ups),
            accusations: total_stat(sim, |st| st.accusations),
            detection_secs_p50: if detection_applies {
                stat(&detections, 0.5, &secs)
            } else {
                None
            },
            detection_secs_p99: if detection_applies {
                stat(&detections, 0.99, &secs)
            } else {
                None
            },
            detection_secs_max: if detection_applies {
                stat(&detections, 1.0, &secs)
            } else {
                None
            },
            false_positives: sim.obs.false_positives,
            say_rounds_p50: stat(&say_delays, 0.5, &rounds),
            say_rounds_p99: stat(&say_delays, 0.99, &rounds),
            say_rounds_max: stat(&say_delays, 1.0, &rounds),
            heal_secs,
            rejoin_secs_max: rejoin,
            membership_reconverged_secs: match (
                cfg.scenario,
                sim.plan.quiet_from,
                sim.plan.reconverged_at,
            ) {
                (Scenario::Converge | Scenario::Events | Scenario::Load | Scenario::Join, ..) => {
                    None
                }
                (_, Some(q), Some(r)) => Some(secs(r.saturating_sub(q) as f64)),
                _ => None,
            },
            state_converged_secs: converged.map(secs),
            state_converged_rounds: converged.map(rounds),
            datagrams_lost: sim.counters.lost,
            messages_blocked: sim.counters.blocked,
            datagrams_oversize: sim.counters.oversize,
            datagrams_duplicated: sim.counters.duplicated,
            datagrams_damaged: sim.counters.damaged,
            damaged_accepted: sim.counters.damaged_accepted,
            invariant_violations: violations.len(),
            violations,
            trace_hash: format!("{:016x}", sim.trace_hash()),
            wall_secs: wall_secs.map(round3),
            node_rounds,
            node_rounds_per_sec: wall_secs
                .filter(|w| *w > 0.0)
                .map(|w| (node_rounds as f64 / w).round()),
            replay: cfg.replay_command(),
        };
        let curves = Curves {
            update: curve(&update, cfg_eligible(sim)),
            detection: detection_curve(sim),
        };
        (report, curves)
    }

    /// The report without the figures that depend on the machine (wall time, rate): what two
    /// runs of one seed must agree on.
    pub fn deterministic(&self) -> Report {
        Report {
            wall_secs: None,
            node_rounds_per_sec: None,
            ..self.clone()
        }
    }
}

fn cfg_eligible(sim: &Sim) -> usize {
    let Some(t) = sim.obs.track_of("u-0") else {
        return 0;
    };
    (0..sim.slots.len())
        .filter(|&n| n != t.origin && sim.slots[n].is_live() && sim.slots[n].since <= t.at)
        .count()
}

/// Step curve of the fraction of `total` reached by sorted delays (ms), in seconds.
fn curve(sorted_ms: &[f64], total: usize) -> Vec<(f64, f64)> {
    if total == 0 {
        return Vec::new();
    }
    let mut out = vec![(0.0, 0.0)];
    for (k, d) in sorted_ms.iter().enumerate() {
        out.push((d / 1000.0, (k + 1) as f64 / total as f64));
    }
    out
}

fn detection_curve(sim: &Sim) -> Vec<(f64, f64)> {
    let Some(c) = sim.obs.crashes.first() else {
        return Vec::new();
    };
    let observers: Vec<usize> = (0..sim.slots.len())
        .filter(|&o| o != c.node && sim.slots[o].since <= c.at && sim.slots[o].is_live())
        .collect();
    let delays = sorted(
        observers
            .iter()
            .filter_map(|&o| c.detected[o].map(|d| (d - c.at) as f64))
            .collect(),
    );
    curve(&delays, observers.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), Some(50.0));
        assert_eq!(percentile(&v, 0.99), Some(99.0));
        assert_eq!(percentile(&v, 1.0), Some(100.0));
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(percentile(&[7.0], 0.01), Some(7.0));
    }

    #[test]
    fn curves_end_at_the_reached_fraction() {
        let c = curve(&[1000.0, 2000.0], 4);
        assert_eq!(c, vec![(0.0, 0.0), (1.0, 0.25), (2.0, 0.5)]);
        assert!(curve(&[], 0).is_empty());
    }
}
