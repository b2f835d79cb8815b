//! The checks a finished run must pass. Each returns human-readable violations; an empty list
//! means the protocol behaved.
//!
//! "Live" means running and not stalled. Checks run after the scenario's last fault, once its
//! settling rounds have passed.

use telepathine_core::Node;

use crate::config::Scenario;
use crate::engine::Sim;
use crate::scenario::{DELETED_KEY, EXPIRING_KEY};
use crate::slot::{Life, addr, index_of};

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

/// What one node holds of each simulated origin, by the origin's slot: generation,
/// fingerprint and version.
type Held = Vec<Option<(u64, u64, u64)>>;

/// Fills `held` with what `node` holds, in one pass over its origins: the origin's address
/// gives its slot, so no (node, origin) pair costs a search (N² of them at the end of a run).
fn fill_held(held: &mut Held, node: &Node) {
    held.fill(None);
    for v in node.views() {
        if let Some(h) = index_of(&v.origin).and_then(|slot| held.get_mut(slot)) {
            *h = Some((v.generation, v.fingerprint, v.version));
        }
    }
}

/// A live origin's own view of itself, which every other live node must hold.
struct Reference {
    /// The origin's slot, as the simulator numbers nodes.
    node: usize,
    /// The slot its advertised address maps to, where [`fill_held`] puts what others hold.
    slot: Option<usize>,
    generation: Option<u64>,
    fingerprint: Option<u64>,
}

/// What comparing every live node's views with the live origins found.
#[derive(Default)]
struct ViewCheck {
    /// (node, origin) views whose generation or user-visible state differs from the origin's.
    differing: usize,
    /// Views compared.
    compared: usize,
    examples: Vec<String>,
    /// (node, origin) views that still lack a version in the snapshot.
    behind: usize,
    behind_examples: Vec<String>,
}

/// Compares every live node's view of every live origin with the origin's own view
/// (generation and user-visible state), and with `snapshot`'s versions. With `first_only`,
/// stops at the first difference (a convergence probe needs no more).
fn check_views(sim: &Sim, first_only: bool, snapshot: &[(usize, u64, u64)]) -> ViewCheck {
    let live = live(sim);
    let reference: Vec<Reference> = live
        .iter()
        .filter_map(|&o| {
            let node = sim.slots[o].node.as_ref()?;
            let me = node.peer_name();
            Some(Reference {
                node: o,
                slot: index_of(&me),
                generation: node.peer_generation(&me).or(Some(sim.slots[o].generation)),
                fingerprint: node.fingerprint(&me),
            })
        })
        .collect();
    let mut found = ViewCheck::default();
    let mut held: Held = vec![None; sim.slots.len()];
    for &n in &live {
        let Some(node) = sim.slots[n].node.as_ref() else {
            continue;
        };
        fill_held(&mut held, node);
        for r in &reference {
            let (o, g, fp) = (r.node, r.generation, r.fingerprint);
            if o == n {
                continue;
            }
            let (hg, hfp) = match r.slot.and_then(|s| held.get(s).copied().flatten()) {
                Some((hg, hfp, _)) => (Some(hg), Some(hfp)),
                None => (None, None),
            };
            if hg != g || hfp != fp {
                found.differing += 1;
                if found.examples.len() < EXAMPLES {
                    found.examples.push(format!("node {n} holds generation {hg:?} / state {hfp:x?} of node {o} (has {g:?} / {fp:x?})"));
                }
                if first_only {
                    return found;
                }
            }
        }
        for &(o, g, ver) in snapshot {
            if o == n || !sim.slots[o].is_live() || sim.slots[o].generation != g {
                continue;
            }
            // The origin at `addr(o)` fills slot `o`.
            let h = held.get(o).copied().flatten();
            if !h.is_some_and(|(hg, _, hv)| hg == g && hv >= ver) {
                found.behind += 1;
                if found.behind_examples.len() < EXAMPLES {
                    let h = h.map_or(String::from("nothing"), |(hg, _, hv)| {
                        format!("gen {hg} v{hv}")
                    });
                    found.behind_examples.push(format!(
                        "node {n} holds {h} of node {o}, which had gen {g} v{ver}"
                    ));
                }
            }
        }
    }
    found.compared = live.len() * reference.len().saturating_sub(1);
    found
}

/// Whether every live node holds every live origin's generation and user-visible state as the
/// origin does: the convergence probe, which stops at the first difference.
pub(crate) fn views_agree(sim: &Sim) -> bool {
    check_views(sim, true, &[]).differing == 0
}

/// Every live node holds every live origin's user-visible state exactly as the origin does
/// (same generation, same fingerprint), and every version an origin had when the scenario
/// ended has reached every live node after the settling rounds.
fn convergence(sim: &Sim) -> Vec<String> {
    let snapshot = sim.plan.snapshot.as_deref().unwrap_or_default();
    let found = check_views(sim, false, snapshot);
    let mut v = Vec::new();
    if found.differing > 0 {
        v.push(format!(
            "convergence: {} of {} (node, origin) views differ from the origin, e.g. {}",
            found.differing,
            found.compared,
            found.examples.join("; ")
        ));
    }
    if found.behind > 0 {
        v.push(format!(
            "stuck versions: {} (node, origin) views still lack a version the origin had {} s earlier, e.g. {}",
            found.behind,
            sim.plan.settle_ms / 1000,
            found.behind_examples.join("; ")
        ));
    }
    v
}

/// Every live node believes exactly the other live nodes alive.
fn membership(sim: &Sim) -> Vec<String> {
    let live = live(sim);
    let mut is_live = vec![false; sim.slots.len()];
    for &i in &live {
        is_live[i] = true;
    }
    // Which node last saw each slot alive: a peer listed twice is caught without sorting
    // every node's list (N² log N at the end of a run).
    let mut seen_by = vec![usize::MAX; sim.slots.len()];
    let mut bad = Vec::new();
    for &n in &live {
        let Some(node) = sim.slots[n].node.as_ref() else {
            continue;
        };
        let mut seen = 0usize;
        let mut agrees = true;
        for peer in node.live_peers_unordered() {
            seen += 1;
            match index_of(&peer) {
                Some(i) if i != n && is_live.get(i) == Some(&true) && seen_by[i] != n => {
                    seen_by[i] = n;
                }
                _ => agrees = false,
            }
        }
        if !agrees || seen + 1 != live.len() {
            bad.push((n, seen));
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
