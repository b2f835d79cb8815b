//! The scenarios: when the workload starts, which faults follow, and when the run ends.
//!
//! Every scenario begins alike: the nodes start during the first interval, and once every node
//! believes every other alive (or the run's duration passed), seven rounds pass (the joins stop
//! being recent news), five quiet rounds measure steady-state traffic, then one node writes the
//! update. Times below are in gossip intervals
//! (`i`) after that write (`U`).

use std::time::Duration;

use telepathine_core::{Node, Timestamp};

use crate::config::Scenario;
use crate::engine::Sim;
use crate::queue::Ev;
use crate::rng::{SimRng, Stream, derive};
use crate::slot::Life;

/// A scenario step, scheduled on the queue.
#[derive(Clone, Debug)]
pub enum Action {
    /// The update, the throw-away keys and the scenario's fault schedule.
    Workload,
    /// Delete a throw-away key.
    Delete { node: usize, key: &'static str },
    /// `say` an event.
    Say { node: usize, lifetime_ms: u64 },
    /// Crash a node.
    Crash { node: usize },
    /// Restart a node with a new generation and empty state.
    Restart { node: usize },
    /// One random churn step: join, leave, crash or restart.
    Churn,
    /// Split the network.
    Partition,
    /// One write on each side of the partition.
    PartitionWrites,
    /// Make the network whole.
    Heal,
    /// Stall a random node.
    Pause,
    /// One step of the load scenario: every live node writes its share of keys.
    LoadTick,
}

/// How often the load scenario writes, in ms.
const LOAD_TICK_MS: u64 = 100;

/// Keys each node cycles through under load (rewrites supersede older versions).
const LOAD_KEYS: usize = 64;

/// The load scenario's measurements.
#[derive(Clone, Debug, Default)]
pub struct Load {
    /// When the writing started and stopped (virtual ms).
    pub window: (u64, u64),
    /// Entries applied over all nodes when it started and stopped.
    pub applied: (u64, u64),
    /// Writes made.
    pub writes: u64,
    /// Writes not yet made (fractions carried from tick to tick).
    carry: f64,
}

/// The scenario's schedule and the milestones it reached.
#[derive(Clone, Debug)]
pub struct Plan {
    /// When every initial node first believed every other alive.
    pub membership_at: Option<u64>,
    /// The steady-state measurement window.
    pub steady: Option<(u64, u64)>,
    /// When the update was written.
    pub update_at: Option<u64>,
    /// Who wrote it.
    pub update_origin: Option<usize>,
    /// When the run ends.
    pub end_at: Option<u64>,
    /// When the last fault ended.
    pub quiet_from: Option<u64>,
    /// When membership agreed again after the last fault.
    pub reconverged_at: Option<u64>,
    /// When, after the last fault, every live node first held every live origin's state.
    pub converged_at: Option<u64>,
    /// The earliest the run may end (its last phase needs that long); it ends then, or once
    /// state converged, whichever is later, or at `end_at` at the latest.
    pub min_end: Option<u64>,
    last_check: u64,
    /// `(origin, generation, version)` of every live node when the scenario ended.
    pub snapshot: Option<Vec<(usize, u64, u64)>>,
    /// How long after the snapshot the run goes on (every snapshotted version must arrive).
    pub settle_ms: u64,
    /// When the partition healed.
    pub heal_at: Option<u64>,
    /// When the throw-away key was deleted (by whom).
    pub deleted: Option<(u64, usize)>,
    /// When the expiring key expires (virtual ms on its writer's clock) and its writer.
    pub expiring: Option<(u64, usize)>,
    /// The load scenario's measurements.
    pub load: Option<Load>,
    /// The join scenario: the fresh node, when it started, and when it first held every live
    /// origin's state.
    pub join: Option<(usize, u64, Option<u64>)>,
    workload_scheduled: bool,
    rng: SimRng,
}

/// Names of the throw-away keys that must disappear.
pub const DELETED_KEY: &str = "tmp-deleted";
/// See [`DELETED_KEY`].
pub const EXPIRING_KEY: &str = "tmp-expiring";

impl Plan {
    /// The plan of `cfg`'s scenario.
    pub fn new(cfg: &crate::config::SimConfig) -> Self {
        Plan {
            membership_at: None,
            steady: None,
            update_at: None,
            update_origin: None,
            end_at: None,
            quiet_from: None,
            reconverged_at: None,
            converged_at: None,
            min_end: None,
            last_check: 0,
            snapshot: None,
            settle_ms: settle_rounds(cfg.nodes) * cfg.gossip_interval_ms,
            heal_at: None,
            deleted: None,
            expiring: None,
            load: None,
            join: None,
            workload_scheduled: false,
            rng: SimRng::new(derive(cfg.seed, Stream::Scenario, 0)),
        }
    }
}

/// Rounds a version gets to reach everyone after the scenario ends: twice the push-pull bound,
/// and at least ten.
pub fn settle_rounds(nodes: usize) -> u64 {
    let n = nodes.max(2) as f64;
    let theory = n.ln() / 3f64.ln() + n.ln().ln().max(0.0);
    ((2.0 * theory).ceil() as u64).max(10)
}

/// Whether every live node believes every other live node alive.
pub(crate) fn membership_agrees(sim: &Sim) -> bool {
    let live = sim.slots.iter().filter(|s| s.is_live()).count() as u32;
    sim.slots
        .iter()
        .enumerate()
        .filter(|(_, s)| s.is_live())
        .all(|(i, _)| sim.obs.alive[i] + 1 == live)
}

/// The periodic look: starts the workload once membership converged (or time ran out), and
/// notes when membership agrees again after the faults.
pub(crate) fn tick(sim: &mut Sim) {
    let now = sim.now;
    let i = sim.cfg.gossip_interval_ms;
    if !sim.plan.workload_scheduled {
        let initial_started = sim.slots.iter().all(|s| s.life != Life::Pending);
        let agreed = initial_started && membership_agrees(sim);
        if agreed || now >= sim.cfg.duration_secs * 1000 {
            if agreed {
                sim.plan.membership_at = Some(now);
            }
            sim.plan.workload_scheduled = true;
            // Quiet rounds first: the joins stay "recent" (advertised in every digest) for six
            // rounds, so the steady state begins after them.
            sim.plan.steady = Some((now + 7 * i, now + 12 * i));
            sim.queue.push(now + 12 * i, Ev::Action(Action::Workload));
        }
        return;
    }
    let quiet = sim.plan.quiet_from.is_some_and(|q| now >= q);
    if !quiet {
        return;
    }
    if sim.plan.reconverged_at.is_none() && membership_agrees(sim) {
        sim.plan.reconverged_at = Some(now);
    }
    if let Some((node, _, None)) = sim.plan.join
        && holds_everything(sim, node)
        && let Some(join) = sim.plan.join.as_mut()
    {
        join.2 = Some(now);
    }
    // Every other round, look whether state converged; once it has, the run only waits for
    // its last phase. This costs a comparison of every (node, origin) view.
    if sim.plan.converged_at.is_none() && now >= sim.plan.last_check + 2 * i {
        sim.plan.last_check = now;
        if membership_agrees(sim) && crate::invariants::views_agree(sim) {
            if sim.cfg.scenario == Scenario::Join && sim.plan.join.is_none() {
                // The cluster holds everything: now the fresh node joins, and the run goes on
                // until it (and everyone) converged again.
                let node = sim.add_slot();
                sim.start_node(node);
                sim.plan.join = Some((node, now, None));
                sim.plan.quiet_from = Some(now);
                let end = now + 60 * i;
                sim.plan.min_end = Some(now + 2 * i);
                sim.plan.end_at = Some(end);
                return;
            }
            sim.plan.converged_at = Some(now);
            let end = sim.plan.min_end.unwrap_or(now).max(now + 2 * i);
            sim.plan.end_at = Some(end.min(sim.plan.end_at.unwrap_or(end)));
        }
    }
}

/// Whether node `n` holds every other live node's own state (generation and user keys).
fn holds_everything(sim: &Sim, n: usize) -> bool {
    let Some(node) = sim.slots[n].node.as_ref() else {
        return false;
    };
    sim.slots.iter().enumerate().all(|(o, slot)| {
        if o == n || !slot.is_live() {
            return true;
        }
        let Some(origin) = slot.node.as_ref() else {
            return true;
        };
        let me = origin.peer_name();
        node.peer_generation(&me) == origin.peer_generation(&me)
            && node.fingerprint(&me) == origin.fingerprint(&me)
    })
}

/// Runs `f` on node `i` if it is running, then drains it.
fn command(sim: &mut Sim, i: usize, f: impl FnOnce(&mut Node, Timestamp, u64)) -> bool {
    let now = sim.now;
    let slot = &mut sim.slots[i];
    let wall = slot.wall(now);
    let Some(node) = slot.node.as_mut().filter(|_| slot.life == Life::Running) else {
        return false;
    };
    f(node, Timestamp::from_millis(now), wall);
    sim.after_input(i);
    true
}

/// Nodes scenario faults may hit: running, not a seed, not the update's writer or the
/// throw-away keys' writers, not the broken node.
fn victims(sim: &Sim) -> Vec<usize> {
    let protected = |i: usize| {
        i < sim.cfg.seeds
            || Some(i) == sim.plan.update_origin
            || sim.plan.deleted.is_some_and(|(_, n)| n == i)
            || sim.plan.expiring.is_some_and(|(_, n)| n == i)
            || sim.slots[i].broken
    };
    (0..sim.slots.len())
        .filter(|&i| sim.slots[i].is_live() && !protected(i))
        .collect()
}

fn pick(rng: &mut SimRng, from: &[usize]) -> Option<usize> {
    (!from.is_empty()).then(|| from[rng.below(from.len() as u64) as usize])
}

/// Carries out a scenario step.
pub(crate) fn perform(sim: &mut Sim, action: Action) {
    let now = sim.now;
    match action {
        Action::Workload => workload(sim),
        Action::Delete { node, key } => {
            if command(sim, node, |n, t, _| {
                let _ = n.delete(t, key);
            }) {
                sim.plan.deleted = Some((now, node));
            }
        }
        Action::Say { node, lifetime_ms } => {
            let id = sim.obs.said(node, now, now + lifetime_ms);
            let said = command(sim, node, |n, t, _| {
                let _ = n.say(
                    t,
                    "sim.say",
                    id.to_le_bytes().to_vec(),
                    Some(Duration::from_millis(lifetime_ms)),
                );
            });
            if !said {
                sim.obs.says.pop();
            }
        }
        Action::Crash { node } => {
            if sim.slots[node].life == Life::Running {
                sim.obs.crashed(node, sim.slots[node].generation, now);
                sim.end_node(node, false);
            }
        }
        Action::Restart { node } => restart(sim, node),
        Action::Churn => churn(sim),
        Action::Partition => {
            let n = sim.slots.len();
            let groups = (0..n).map(|_| sim.plan.rng.below(2) as u8).collect();
            sim.net.partition(groups, sim.cfg.one_way);
        }
        Action::PartitionWrites => {
            for (group, key) in [(0u8, "part-a"), (1u8, "part-b")] {
                let side: Vec<usize> = victims(sim)
                    .into_iter()
                    .filter(|&j| sim.net.group(j) == group)
                    .collect();
                if let Some(w) = pick(&mut sim.plan.rng, &side) {
                    sim.obs.track(key, w, now);
                    command(sim, w, |n, t, _| {
                        let _ = n.set(t, key, b"side".to_vec());
                    });
                }
            }
        }
        Action::Heal => {
            sim.net.heal();
            sim.plan.heal_at = Some(now);
        }
        Action::Pause => {
            let v = victims(sim);
            if let Some(p) = pick(&mut sim.plan.rng, &v) {
                sim.pause_node(p, sim.cfg.pause_ms);
            }
        }
        Action::LoadTick => load_tick(sim),
    }
}

/// Entries applied so far over every node.
fn applied(sim: &Sim) -> u64 {
    sim.slots
        .iter()
        .filter_map(|s| s.node.as_ref())
        .map(|n| n.stats().entries_applied)
        .sum()
}

/// Every live node writes its share of this tick; the last tick closes the window.
fn load_tick(sim: &mut Sim) {
    let now = sim.now;
    let Some(mut load) = sim.plan.load.take() else {
        return;
    };
    if load.window.0 == now {
        load.applied.0 = applied(sim);
    }
    load.carry += sim.cfg.write_rate * LOAD_TICK_MS as f64 / 1000.0;
    let per_node = load.carry.floor() as u64;
    load.carry -= per_node as f64;
    let value_bytes = sim.cfg.value_bytes;
    for node in 0..sim.slots.len() {
        for _ in 0..per_node {
            let n = load.writes;
            if command(sim, node, |nd, t, _| {
                let mut value = vec![b'l'; value_bytes.max(8)];
                value[..8].copy_from_slice(&n.to_le_bytes());
                let _ = nd.set(t, &format!("load-{}", n as usize % LOAD_KEYS), value);
            }) {
                load.writes += 1;
            }
        }
    }
    if now + LOAD_TICK_MS > load.window.1 {
        load.applied.1 = applied(sim);
        load.window.1 = now;
    } else {
        sim.queue
            .push(now + LOAD_TICK_MS, Ev::Action(Action::LoadTick));
    }
    sim.plan.load = Some(load);
}

fn restart(sim: &mut Sim, node: usize) {
    if matches!(sim.slots[node].life, Life::Crashed | Life::Left) {
        sim.start_node(node);
        let key = format!("rejoin-{node}-{}", sim.slots[node].lives);
        sim.obs.track(&key, node, sim.now);
        command(sim, node, |n, t, _| {
            let _ = n.set(t, &key, b"back".to_vec());
        });
    }
}

fn churn(sim: &mut Sim) {
    let cap = sim.cfg.nodes + sim.cfg.nodes / 5 + 1;
    let running = victims(sim);
    let down: Vec<usize> = (0..sim.slots.len())
        .filter(|&j| matches!(sim.slots[j].life, Life::Crashed | Life::Left))
        .collect();
    let mut options = Vec::new();
    if sim.slots.len() < cap {
        options.push(0);
    }
    if !running.is_empty() {
        options.extend([1, 2]);
    }
    if !down.is_empty() {
        options.push(3);
    }
    let Some(choice) = pick(&mut sim.plan.rng, &options) else {
        return;
    };
    match choice {
        0 => {
            let j = sim.add_slot();
            sim.start_node(j);
        }
        1 => {
            if let Some(j) = pick(&mut sim.plan.rng, &running) {
                sim.end_node(j, true);
            }
        }
        2 => {
            if let Some(j) = pick(&mut sim.plan.rng, &running) {
                let now = sim.now;
                sim.obs.crashed(j, sim.slots[j].generation, now);
                sim.end_node(j, false);
            }
        }
        _ => {
            if let Some(j) = pick(&mut sim.plan.rng, &down) {
                restart(sim, j);
            }
        }
    }
}

/// The update and the scenario's schedule, at `U`.
fn workload(sim: &mut Sim) {
    let now = sim.now;
    let i = sim.cfg.gossip_interval_ms;
    let n = sim.cfg.nodes;
    sim.plan.update_at = Some(now);
    // The writer is not a seed when there are other nodes: seeds are contacted by everyone
    // at start and would spread it unrealistically fast.
    let candidates: Vec<usize> = (0..n)
        .filter(|&j| {
            (n <= sim.cfg.seeds || j >= sim.cfg.seeds)
                && !sim.slots[j].broken
                && sim.slots[j].is_live()
        })
        .collect();
    let origin = pick(&mut sim.plan.rng, &candidates).unwrap_or(0);
    sim.plan.update_origin = Some(origin);
    for k in 0..sim.cfg.keys {
        let key = format!("u-{k}");
        sim.obs.track(&key, origin, now);
    }
    let (keys, value_bytes) = (sim.cfg.keys, sim.cfg.value_bytes);
    command(sim, origin, |node, t, _| {
        for k in 0..keys {
            let mut value = vec![b'v'; value_bytes];
            if let Some(first) = value.first_mut() {
                *first = k as u8;
            }
            let _ = node.set(t, &format!("u-{k}"), value);
        }
    });

    // Throw-away keys on two seeds (never crashed): one deleted, one expiring.
    let (del, exp) = (1 % n, 2 % n);
    command(sim, del, |node, t, _| {
        let _ = node.set(t, DELETED_KEY, b"doomed".to_vec());
    });
    sim.queue.push(
        now + 5 * i,
        Ev::Action(Action::Delete {
            node: del,
            key: DELETED_KEY,
        }),
    );
    let ttl = 8 * i;
    if command(sim, exp, |node, t, wall| {
        let _ = node.set_with_expiry(t, EXPIRING_KEY, b"fleeting".to_vec(), wall + ttl);
    }) {
        sim.plan.expiring = Some((now + ttl, exp));
    }

    let mut end = now + 10 * i;
    // The last write of the workload is the deletion at U + 5 rounds.
    let mut quiet = now + 5 * i;
    match sim.cfg.scenario {
        Scenario::Converge => {}
        Scenario::Events => {
            let lifetime = 20_000u64.max(30 * i);
            let sayers: Vec<usize> = (0..n)
                .filter(|&j| j != origin && !sim.slots[j].broken)
                .collect();
            for s in 0..5.min(sayers.len()) {
                let node = sayers[sim.plan.rng.below(sayers.len() as u64) as usize];
                for e in 0..2 {
                    let at = now + (s as u64 + e * 3) * i / 2;
                    sim.queue.push(
                        at,
                        Ev::Action(Action::Say {
                            node,
                            lifetime_ms: lifetime,
                        }),
                    );
                }
            }
            end = now + 4 * i + lifetime + 10 * i;
        }
        Scenario::Crash => {
            let v = victims(sim);
            let mut chosen = Vec::new();
            for _ in 0..sim.cfg.crashes.min(v.len()) {
                let rest: Vec<usize> = v.iter().copied().filter(|x| !chosen.contains(x)).collect();
                if let Some(c) = pick(&mut sim.plan.rng, &rest) {
                    chosen.push(c);
                }
            }
            for node in chosen {
                sim.queue
                    .push(now + 5 * i, Ev::Action(Action::Crash { node }));
                sim.queue
                    .push(now + 25 * i, Ev::Action(Action::Restart { node }));
            }
            quiet = now + 25 * i;
            end = now + 50 * i;
        }
        Scenario::Churn => {
            for k in 0..15 {
                sim.queue
                    .push(now + 5 * i + 2 * k * i, Ev::Action(Action::Churn));
            }
            quiet = now + 34 * i;
            end = now + 75 * i;
        }
        Scenario::Partition => {
            sim.queue.push(now + 5 * i, Ev::Action(Action::Partition));
            sim.queue
                .push(now + 8 * i, Ev::Action(Action::PartitionWrites));
            sim.queue.push(now + 25 * i, Ev::Action(Action::Heal));
            quiet = now + 25 * i;
            end = now + 60 * i;
        }
        Scenario::Join => {
            // Every node but the update's writer (which wrote its keys above) publishes its
            // share of the state the fresh node will have to fetch.
            let (keys, value_bytes) = (sim.cfg.keys, sim.cfg.value_bytes);
            for node in (0..n).filter(|&j| j != origin) {
                command(sim, node, |nd, t, _| {
                    for k in 0..keys {
                        let _ = nd.set(t, &format!("j-{k}"), vec![b'j'; value_bytes]);
                    }
                });
            }
        }
        Scenario::Load => {
            let start = now + 5 * i;
            let stop = start + sim.cfg.load_secs * 1000;
            sim.plan.load = Some(Load {
                window: (start, stop),
                ..Load::default()
            });
            sim.queue.push(start, Ev::Action(Action::LoadTick));
            quiet = stop;
            end = stop + 10 * i;
        }
    }
    for _ in 0..sim.cfg.pauses {
        let at = now + 3 * i + sim.plan.rng.below(10 * i);
        sim.queue.push(at, Ev::Action(Action::Pause));
        quiet = quiet.max(at + sim.cfg.pause_ms);
        end = end.max(at + sim.cfg.pause_ms + 30 * i);
    }
    // Expiry must have passed on every clock, however skewed, with rounds to spare.
    end = end.max(now + ttl + 2 * sim.cfg.clock_skew_ms + 10 * i);
    end = end.max(sim.cfg.duration_secs * 1000);
    sim.plan.quiet_from = Some(quiet);
    sim.plan.min_end = Some(end);
    // Convergence gets up to 30 more rounds after the last phase (a loaded cluster, 120: a
    // node with an inbound rate drains its backlog at that rate).
    let grace = if sim.cfg.scenario == Scenario::Load {
        120
    } else {
        30
    };
    sim.plan.end_at = Some(end + grace * i);
}
