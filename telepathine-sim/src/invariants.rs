//! The checks a finished run must pass. Each returns human-readable violations; an empty list
//! means the protocol behaved.
//!
//! "Live" means running and not stalled. Checks run after the scenario's last fault, once its
//! settling rounds have passed.

use std::net::SocketAddr;

use crate::config::Scenario;
use crate::engine::Sim;
use crate::scenario::{DELETED_KEY, EXPIRING_KEY};
use crate::slot::{Life, addr};

/// Most violations of one kind spelled out; the rest are counted.
const EXAMPLES: usize = 5;

/// Every invariant, in a fixed order.
pub fn check(sim: &Sim) -> Vec<String> {
    let mut v = sim.obs.violations.clone();
    v.extend(false_positives(sim));
    v.extend(network_integrity(sim));
    v.extend(convergence(sim));
    v.extend(membership(sim));
    v.extend(says(sim));
    v.extend(gone_keys(sim));
    v.extend(update_reached(sim));
    v.extend(detection(sim));
    v
}

fn live(sim: &Sim) -> Vec<usize> {
    (0..sim.slots.len())
        .filter(|&i| sim.slots[i].is_live())
        .collect()
}

/// No live node may be declared failed when there is no fault and loss is low.
fn false_positives(sim: &Sim) -> Vec<String> {
    let cfg = &sim.cfg;
    if sim.obs.false_positives == 0 || cfg.has_faults() || cfg.loss > cfg.fp_loss_threshold {
        return Vec::new();
    }
    vec![format!(
        "false positives: {} live nodes declared failed without a fault (e.g. {})",
        sim.obs.false_positives,
        sim.obs.fp_examples.join("; ")
    )]
}

/// The core must reject damage on a private network and stay within its datagram budget.
fn network_integrity(sim: &Sim) -> Vec<String> {
    let mut v = Vec::new();
    if sim.cfg.sealed && sim.counters.damaged_accepted > 0 {
        v.push(format!(
            "{} damaged datagrams were accepted on a sealed network",
            sim.counters.damaged_accepted
        ));
    }
    if sim.counters.oversize > 0 && sim.cfg.datagram_budget <= sim.cfg.datagram_limit {
        v.push(format!(
            "{} datagrams exceeded the nodes' own budget",
            sim.counters.oversize
        ));
    }
    v
}

/// `(origin, generation, version)` of every live node's own state.
pub(crate) fn own_versions(sim: &Sim) -> Vec<(usize, u64, u64)> {
    live(sim)
        .into_iter()
        .filter_map(|o| {
            let node = sim.slots[o].node.as_ref()?;
            let me = node.peer_name();
            // Its own origin only: listing all of them per node made this N² at the end of
            // every run.
            Some((o, node.peer_generation(&me)?, node.peer_version(&me)?))
        })
        .collect()
}

/// Counts (node, origin) views of live nodes that differ from the live origin's own view in
/// generation or user-visible state (fingerprint): `(differing, compared, examples)`. With
/// `first_only`, stops at the first difference (a convergence probe needs no more).
pub(crate) fn view_mismatches(sim: &Sim, first_only: bool) -> (usize, usize, Vec<String>) {
    let live = live(sim);
    let reference: Vec<(usize, SocketAddr, Option<u64>, Option<u64>)> = live
        .iter()
        .filter_map(|&o| {
            let node = sim.slots[o].node.as_ref()?;
            let me = node.peer_name();
            Some((
                o,
                me,
                node.peer_generation(&me).or(Some(sim.slots[o].generation)),
                node.fingerprint(&me),
            ))
        })
        .collect();
    // The references in address order, so each node's views are compared in one merged pass
    // over its origin map (a lookup per pair is N² cache misses: minutes at 10,000 nodes).
    let mut by_addr: Vec<usize> = (0..reference.len()).collect();
    by_addr.sort_unstable_by_key(|&r| reference[r].1);
    let mut held: Vec<(Option<u64>, Option<u64>)> = vec![(None, None); reference.len()];
    let mut bad = 0usize;
    let mut examples = Vec::new();
    for &n in &live {
        let Some(node) = sim.slots[n].node.as_ref() else {
            continue;
        };
        let mut views = node.views().peekable();
        for &r in &by_addr {
            let origin = reference[r].1;
            while views.next_if(|(a, ..)| *a < origin).is_some() {}
            held[r] = match views.next_if(|(a, ..)| *a == origin) {
                Some((_, g, fp)) => (Some(g), Some(fp)),
                None => (None, None),
            };
        }
        // Reported in the references' own order, as the first difference and the examples
        // always were.
        for ((o, _, g, fp), &(hg, hfp)) in reference.iter().zip(&held) {
            if *o == n {
                continue;
            }
            if hg != *g || hfp != *fp {
                bad += 1;
                if examples.len() < EXAMPLES {
                    examples.push(format!("node {n} holds generation {hg:?} / state {hfp:x?} of node {o} (has {g:?} / {fp:x?})"));
                }
                if first_only {
                    return (bad, 0, examples);
                }
            }
        }
    }
    (
        bad,
        live.len() * reference.len().saturating_sub(1),
        examples,
    )
}

/// Every live node holds every live origin's user-visible state exactly as the origin does
/// (same generation, same fingerprint), and every version an origin had when the scenario
/// ended has reached every live node after the settling rounds.
fn convergence(sim: &Sim) -> Vec<String> {
    let mut v = Vec::new();
    let (bad, total, examples) = view_mismatches(sim, false);
    if bad > 0 {
        v.push(format!(
            "convergence: {bad} of {total} (node, origin) views differ from the origin, e.g. {}",
            examples.join("; ")
        ));
    }
    let Some(snapshot) = &sim.plan.snapshot else {
        return v;
    };
    let mut behind = 0usize;
    let mut examples = Vec::new();
    for &n in &live(sim) {
        let Some(node) = sim.slots[n].node.as_ref() else {
            continue;
        };
        let versions = node.versions();
        for &(o, g, ver) in snapshot {
            if o == n || !sim.slots[o].is_live() || sim.slots[o].generation != g {
                continue;
            }
            let origin = addr(o);
            let held = versions
                .binary_search_by(|(a, ..)| a.cmp(&origin))
                .ok()
                .map(|k| versions[k]);
            if !held.is_some_and(|(_, hg, hv)| hg == g && hv >= ver) {
                behind += 1;
                if examples.len() < EXAMPLES {
                    let held = held.map_or(String::from("nothing"), |(_, hg, hv)| {
                        format!("gen {hg} v{hv}")
                    });
                    examples.push(format!(
                        "node {n} holds {held} of node {o}, which had gen {g} v{ver}"
                    ));
                }
            }
        }
    }
    if behind > 0 {
        v.push(format!(
            "stuck versions: {behind} (node, origin) views still lack a version the origin had {} s earlier, e.g. {}",
            sim.plan.settle_ms / 1000,
            examples.join("; ")
        ));
    }
    v
}

/// Every live node believes exactly the other live nodes alive.
fn membership(sim: &Sim) -> Vec<String> {
    let live = live(sim);
    let addrs: Vec<SocketAddr> = live.iter().map(|&i| addr(i)).collect();
    let mut bad = Vec::new();
    for &n in &live {
        let Some(node) = sim.slots[n].node.as_ref() else {
            continue;
        };
        let seen = node.live_peers();
        let expected = addrs.iter().filter(|a| **a != addr(n));
        if !seen.iter().eq(expected) {
            bad.push((n, seen.len()));
        }
    }
    if bad.is_empty() {
        return Vec::new();
    }
    let ex: Vec<String> = bad
        .iter()
        .take(EXAMPLES)
        .map(|(n, k)| format!("node {n} sees {k} live of {}", live.len() - 1))
        .collect();
    vec![format!(
        "membership: {} live nodes disagree about who is alive, e.g. {}",
        bad.len(),
        ex.join("; ")
    )]
}

/// Every `say` is heard exactly once by each node live for its whole lifetime.
fn says(sim: &Sim) -> Vec<String> {
    let mut missing = 0;
    let mut examples = Vec::new();
    for (id, s) in sim.obs.says.iter().enumerate() {
        for (n, slot) in sim.slots.iter().enumerate() {
            if n == s.origin || slot.life != Life::Running || slot.since > s.at || sim.now < s.until
            {
                continue;
            }
            let stalled = sim
                .obs
                .pauses
                .iter()
                .any(|&(p, from, to)| p == n && from < s.until && to > s.at);
            if stalled {
                continue;
            }
            let (life, count, _) = s.heard[n];
            if life != slot.lives || count != 1 {
                missing += 1;
                if examples.len() < EXAMPLES {
                    examples.push(format!(
                        "node {n} heard say {id} {} times",
                        if life == slot.lives { count } else { 0 }
                    ));
                }
            }
        }
    }
    if missing == 0 {
        return Vec::new();
    }
    vec![format!(
        "say: {missing} (node, event) pairs not heard exactly once, e.g. {}",
        examples.join("; ")
    )]
}

/// Deleted and expired keys are gone from every live node.
fn gone_keys(sim: &Sim) -> Vec<String> {
    let mut v = Vec::new();
    let mut check = |key: &str, writer: usize| {
        let holders: Vec<usize> = live(sim)
            .into_iter()
            .filter(|&n| {
                sim.slots[n]
                    .node
                    .as_ref()
                    .is_some_and(|node| node.get_remote(&addr(writer), key).is_some())
            })
            .collect();
        if !holders.is_empty() {
            v.push(format!(
                "{key} of node {writer} is still held by {} nodes, e.g. {:?}",
                holders.len(),
                &holders[..holders.len().min(EXAMPLES)]
            ));
        }
    };
    if let Some((_, writer)) = sim.plan.deleted {
        check(DELETED_KEY, writer);
    }
    if let Some((at, writer)) = sim.plan.expiring
        && sim.now > at + 2 * sim.cfg.clock_skew_ms
    {
        check(EXPIRING_KEY, writer);
    }
    v
}

/// Each tracked write reached every node live since before it.
fn update_reached(sim: &Sim) -> Vec<String> {
    let mut v = Vec::new();
    for t in &sim.obs.tracks {
        // A write dies with its writer's life: only writes of a live writer's current life count.
        if !sim.slots[t.origin].is_live() || sim.slots[t.origin].since > t.at {
            continue;
        }
        let missing: Vec<usize> = live(sim)
            .into_iter()
            .filter(|&n| n != t.origin && sim.slots[n].since <= t.at && t.arrivals[n].is_none())
            .collect();
        if !missing.is_empty() {
            v.push(format!(
                "write {} of node {} never reached {} nodes, e.g. nodes {:?}",
                t.key,
                t.origin,
                missing.len(),
                &missing[..missing.len().min(EXAMPLES)]
            ));
        }
    }
    v
}

/// In the crash scenario, every node live throughout declares each crash.
fn detection(sim: &Sim) -> Vec<String> {
    if sim.cfg.scenario != Scenario::Crash || sim.cfg.loss > sim.cfg.fp_loss_threshold {
        return Vec::new();
    }
    let mut v = Vec::new();
    for c in &sim.obs.crashes {
        let missing = live(sim)
            .into_iter()
            .filter(|&n| n != c.node && sim.slots[n].since <= c.at && c.detected[n].is_none())
            .count();
        if missing > 0 {
            v.push(format!(
                "crash of node {} at {}ms was never declared by {missing} nodes",
                c.node, c.at
            ));
        }
    }
    v
}
