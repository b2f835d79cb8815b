//! The human report printed by default: the same figures as the JSON, a line per question.

use std::fmt;

use crate::report::Report;

fn opt(v: Option<f64>, unit: &str) -> String {
    v.map_or(String::from("n/a"), |x| format!("{x}{unit}"))
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "telepathine-sim: {} nodes, scenario {}, seed {}, loss {}%, latency {} ms, gossip every {} ms",
            self.nodes,
            self.scenario,
            self.seed,
            self.loss * 100.0,
            self.latency_ms,
            self.gossip_interval_ms
        )?;
        writeln!(
            f,
            "  membership converged   {} ({} rounds); {} full catch-ups pulled",
            opt(self.membership_converged_secs, " s"),
            opt(self.membership_converged_rounds, ""),
            self.catch_ups
        )?;
        writeln!(
            f,
            "  1 update reached all   p50 {} / p99 {} / max {} rounds = {} / {} / {} s (theory log3 N + ln ln N = {} rounds)",
            opt(self.update_rounds_p50, ""),
            opt(self.update_rounds_p99, ""),
            opt(self.update_rounds_max, ""),
            opt(self.update_secs_p50, ""),
            opt(self.update_secs_p99, ""),
            opt(self.update_secs_max, ""),
            opt(self.theory_rounds, "")
        )?;
        if self.keys > 1 {
            writeln!(
                f,
                "  all {} keys reached    p50 {} / p99 {} / max {} rounds",
                self.keys,
                opt(self.keys_rounds_p50, ""),
                opt(self.keys_rounds_p99, ""),
                opt(self.keys_rounds_max, "")
            )?;
        }
        writeln!(
            f,
            "  per node per round     steady {} B in {} msgs; spreading {} B in {} msgs",
            opt(self.bytes_per_node_per_round, ""),
            opt(self.messages_per_node_per_round, ""),
            opt(self.spread_bytes_per_node_per_round, ""),
            opt(self.spread_messages_per_node_per_round, "")
        )?;
        if let Some(offered) = self.load_offered_writes_per_sec {
            writeln!(
                f,
                "  under load             {offered} writes/s offered; {} entries applied per node per s; {} B per node per round; drained {} after the last write; {} deltas throttled",
                opt(self.load_applied_per_node_per_sec, ""),
                opt(self.load_bytes_per_node_per_round, ""),
                opt(self.load_drain_secs, " s"),
                self.deltas_throttled
            )?;
        }
        if self.join_secs.is_some() || self.scenario == "join" {
            writeln!(
                f,
                "  a fresh node joined    and held everything after {}",
                opt(self.join_secs, " s")
            )?;
        }
        if self.detection_secs_p50.is_some() {
            writeln!(
                f,
                "  crash detected after   p50 {} / p99 {} / max {}",
                opt(self.detection_secs_p50, " s"),
                opt(self.detection_secs_p99, " s"),
                opt(self.detection_secs_max, " s")
            )?;
        }
        if self.say_rounds_p50.is_some() {
            writeln!(
                f,
                "  say heard after        p50 {} / p99 {} / max {} rounds",
                opt(self.say_rounds_p50, ""),
                opt(self.say_rounds_p99, ""),
                opt(self.say_rounds_max, "")
            )?;
        }
        if let Some(h) = self.heal_secs {
            writeln!(
                f,
                "  after healing          both sides' writes everywhere within {h} s"
            )?;
        }
        if let Some(r) = self.rejoin_secs_max {
            writeln!(f, "  restarted node's write everywhere within {r} s")?;
        }
        if let Some(r) = self.membership_reconverged_secs {
            writeln!(f, "  membership agreed again {r} s after the last fault")?;
        }
        writeln!(
            f,
            "  state converged        {} ({} rounds) after the {}",
            opt(self.state_converged_secs, " s"),
            opt(self.state_converged_rounds, ""),
            if matches!(self.scenario.as_str(), "converge" | "events") {
                "update"
            } else {
                "last fault"
            }
        )?;
        writeln!(
            f,
            "  false positives        {} ({} accusations published)",
            self.false_positives, self.accusations
        )?;
        writeln!(
            f,
            "  network                {} lost, {} blocked, {} oversize, {} duplicated, {} damaged ({} accepted)",
            self.datagrams_lost,
            self.messages_blocked,
            self.datagrams_oversize,
            self.datagrams_duplicated,
            self.datagrams_damaged,
            self.damaged_accepted
        )?;
        writeln!(
            f,
            "  simulated              {} virtual s, {} node-rounds in {} wall s ({} node-rounds/s)",
            self.virtual_secs,
            self.node_rounds,
            opt(self.wall_secs, ""),
            opt(self.node_rounds_per_sec, "")
        )?;
        writeln!(f, "  trace hash             {}", self.trace_hash)?;
        if self.violations.is_empty() {
            write!(f, "  invariants             all held")
        } else {
            writeln!(
                f,
                "  invariants             {} VIOLATED:",
                self.invariant_violations
            )?;
            for v in &self.violations {
                writeln!(f, "    - {v}")?;
            }
            write!(f, "  replay with: {}", self.replay)
        }
    }
}
