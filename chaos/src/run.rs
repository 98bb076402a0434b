//! Runs a declarative scenario in simulation: a leader, one second of load, the fault schedule,
//! healing, a liveness phase (more load, convergence, a final read of every key through every
//! node), then the checks of [`crate::checks`].

use crate::checks::{self, Checks};
use crate::cluster::Cluster;
use crate::error::ChaosError;
use crate::sim::{both_ways, one_way, Options, World};
use crate::workload::FinalValues;
use paxos::core::{Mutant, ReadMode};
use rand::rngs::SmallRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use scenarios::fault::{Direction, Strobe};
use scenarios::{Build, Fault, Scenario, Step, Target};
use std::time::{Duration, Instant};

/// Seconds of load after healing, before the clients stop.
const AFTER_HEALING_SECONDS: u64 = 3;

/// The bound on convergence after the clients stop (simulated).
const CONVERGE_WITHIN: Duration = Duration::from_secs(20);

/// The bound on the final reads (simulated).
const FINAL_READS_WITHIN: Duration = Duration::from_secs(20);

/// A fault as it was applied: when, to whom, what.
#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    /// Simulated seconds since the start of the run.
    pub start: f64,
    /// When it was undone.
    pub end: f64,
    /// The fault's kind (`partition-halves`, `kill`, ...).
    pub kind: &'static str,
    /// What exactly happened (`partition [1] | [2, 3]`).
    pub label: String,
}

/// What one run gave.
#[derive(Debug)]
pub struct Outcome {
    /// The scenario run.
    pub scenario: Scenario,
    /// Its seed.
    pub seed: u64,
    /// How long the run lasted in its own time: simulated, or real on a real cluster.
    pub elapsed: Duration,
    /// Wall-clock time.
    pub wall: Duration,
    /// The faults applied.
    pub windows: Vec<Window>,
    /// Simulated seconds at which the fault phase started and ended (everything healed).
    pub fault_phase: (f64, f64),
    /// The history (JSON Lines, the checker's format).
    pub history: String,
    /// Every fault and restart, one per line, with its simulated time.
    pub trace: String,
    /// What the nodes logged (their `tracing` events at `info` and above, or as `RUST_LOG` says),
    /// every line with its time and `node=`: simulation only (a real node's log is its file).
    pub node_log: String,
    /// The checks and the verdict.
    pub checks: Checks,
    /// The system it ran on, as real processes (times are real); `None`: in simulation.
    pub real: Option<crate::real::Target>,
    /// What the replicas counted, summed over every node and every boot (simulation only: a real
    /// process's counters end with it).
    pub contention: Option<Contention>,
}

/// How hard the proposers competed in a run, from the replicas' own counters
/// ([`paxos::core::Counters`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Contention {
    /// Elections started.
    pub elections: u64,
    /// Slots accepted again in another ballot (a later leader settling a slot an earlier one
    /// proposed in).
    pub reaccepted: u64,
    /// Of those, slots whose accepted value was replaced by a competing proposer's.
    pub overwritten: u64,
}

impl Outcome {
    /// Whether the run showed what the scenario expects.
    pub fn passed(&self) -> bool {
        self.checks.passed(self.scenario.expect)
    }
}

/// How to turn a scenario into a simulated world.
#[derive(Clone, Debug)]
pub struct Overrides {
    /// Replaces the scenario's fault phase length (seconds).
    pub duration: Option<f64>,
    /// Replaces its cluster size.
    pub nodes: Option<u8>,
    /// Replaces its number of clients.
    pub clients: Option<usize>,
    /// Replaces its operation mix.
    pub mix: Option<scenarios::Mix>,
}

impl Overrides {
    /// None.
    pub const NONE: Overrides = Overrides { duration: None, nodes: None, clients: None, mix: None };

    /// The scenario with the overrides applied, validated.
    ///
    /// # Errors
    ///
    /// One line, when the result is not a valid scenario (`--nodes 2` with a bridge, ...).
    pub fn apply(&self, scenario: &Scenario) -> Result<Scenario, ChaosError> {
        let mut scenario = scenario.clone();
        if let Some(duration) = self.duration {
            scenario = scenario.with_duration(duration);
        }
        if let Some(nodes) = self.nodes {
            scenario.nodes = nodes;
        }
        if let Some(clients) = self.clients {
            scenario.workload.clients = clients;
        }
        if let Some(mix) = self.mix {
            scenario.workload.mix = mix;
        }
        scenario
            .validate()
            .map_err(|error| ChaosError::Input(format!("scenario {}: {error}", scenario.name)))?;
        Ok(scenario)
    }
}

/// The mutant a scenario's build names.
///
/// # Errors
///
/// An unknown name, with the list of known ones.
pub fn mutant(build: &Build) -> Result<Mutant, ChaosError> {
    match build {
        Build::Mutant(name) => {
            Mutant::ALL.into_iter().find(|mutant| mutant.name() == name).ok_or_else(|| {
                let names: Vec<&str> = Mutant::ALL.iter().map(|mutant| mutant.name()).collect();
                ChaosError::Input(format!("build.mutant {name:?}: expected one of {}", names.join(", ")))
            })
        }
        Build::Correct | Build::NoFsync => Ok(Mutant::None),
    }
}

/// The simulation options for `scenario` (validated) and `seed`.
///
/// # Errors
///
/// An unknown mutant.
pub fn options(scenario: &Scenario, seed: u64) -> Result<Options, ChaosError> {
    let mut options = Options::new(seed);
    options.nodes = scenario.nodes;
    options.spares = scenario.spares;
    options.groups = scenario.groups;
    options.clients = scenario.workload.clients;
    options.readers = scenario.workload.readers;
    options.keys = scenario.workload.keys;
    options.mix = scenario.workload.mix;
    options.rate = scenario.workload.rate;
    options.read_mode = match scenario.read_mode {
        scenarios::ReadMode::ReadIndex => ReadMode::ReadIndex,
        scenarios::ReadMode::Lease => ReadMode::Lease,
    };
    options.mutant = mutant(&scenario.build)?;
    options.skip_fsync = scenario.build == Build::NoFsync;
    options.sync = scenario.sync_ms.map(|scenarios::Range(low, high)| {
        (Duration::from_secs_f64(low / 1000.0), Duration::from_secs_f64(high / 1000.0))
    });
    Ok(options)
}

/// Runs `scenario` (validated) with `seed`.
///
/// # Errors
///
/// An unknown mutant in the scenario's build. Everything that goes wrong in the run itself is in
/// the outcome.
pub fn run(scenario: &Scenario, seed: u64) -> Result<Outcome, ChaosError> {
    let options = options(scenario, seed)?;
    let started = Instant::now();
    let mut world = World::new(options);
    let mut faults = Faults::new(scenario, seed);
    let mut liveness = Liveness::default();
    let node_log = NodeLog::default();
    let result = tracing::subscriber::with_default(node_log.subscriber(), || {
        world.await_leader(Duration::from_secs(10))?;
        world.run_for(Duration::from_secs(1))?;
        faults.run(&mut world)?;
        world.run_for(Duration::from_secs(AFTER_HEALING_SECONDS))?;
        world.stop_clients();
        let stopped = world.elapsed();
        let converged = world.converge(CONVERGE_WITHIN).map(|()| world.elapsed() - stopped);
        liveness.converged = Some(converged.map(Some).map_err(|error| error.to_string()));
        liveness.final_values =
            Some(world.final_reads(FINAL_READS_WITHIN).map_err(|error| error.to_string()));
        Ok::<(), ChaosError>(())
    });
    let history = world.history();
    let broke = result.err().map(|error| error.to_string());
    let checks = checks::run(&history, broke, liveness.converged, liveness.final_values);
    Ok(Outcome {
        scenario: scenario.clone(),
        seed,
        elapsed: world.elapsed(),
        wall: started.elapsed(),
        fault_phase: faults.phase,
        windows: faults.windows,
        history,
        trace: world.trace(),
        node_log: node_log.text(),
        checks,
        real: None,
        contention: Some(world.contention()),
    })
}

/// The simulated nodes' log lines of one run: a `tracing` subscriber for the run's thread (the
/// simulation steps every node on it), writing into memory with turmoil's simulated time.
#[derive(Clone, Default)]
struct NodeLog(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for NodeLog {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|poison| poison.into_inner()).extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Simulated seconds since the run began, as a log line's time.
struct SimulatedTime;

impl tracing_subscriber::fmt::time::FormatTime for SimulatedTime {
    fn format_time(&self, writer: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        let elapsed = turmoil::sim_elapsed().unwrap_or_default().as_secs_f64();
        write!(writer, "{elapsed:>9.3}s")
    }
}

impl NodeLog {
    fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
        let writer = self.clone();
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(move || writer.clone())
            .with_timer(SimulatedTime)
            .with_ansi(false)
            .with_target(false)
            .finish()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|poison| poison.into_inner())).into_owned()
    }
}

#[derive(Default)]
struct Liveness {
    converged: Option<Result<Option<Duration>, String>>,
    final_values: Option<Result<FinalValues, String>>,
}

/// How an applied fault is undone.
enum Undo {
    /// Not applied yet: to be tried again shortly (an operator waiting for the cluster to settle).
    Later,
    Nothing,
    Uncut(Vec<(u8, u8)>),
    Clocks {
        nodes: Vec<(u8, f64)>,
        strobe: Option<Strobe>,
        up: bool,
        next: Duration,
    },
    Start(Vec<u8>),
    Resume(Vec<u8>),
    Unstall(Vec<(u8, u8)>),
    Steady,
}

struct Active {
    stop: Duration,
    undo: Undo,
    window: usize,
}

/// The fault schedule being played.
pub(crate) struct Faults {
    steps: Vec<Step>,
    duration: Duration,
    rng: SmallRng,
    /// Per step: when it next starts a fault (`None`: never again).
    next: Vec<Option<Duration>>,
    active: Vec<Active>,
    pub(crate) windows: Vec<Window>,
    pub(crate) phase: (f64, f64),
    paused: Vec<u8>,
    /// Links (lower node first) whose messages are held now.
    stalled: Vec<(u8, u8)>,
    clocked: Vec<u8>,
    flaky: bool,
    /// Operators' membership changes under way.
    procedures: Vec<Procedure>,
}

/// The bound on membership changes still under way when the fault phase ends (run time).
const MEMBERSHIP_WITHIN: Duration = Duration::from_secs(30);

/// How often an operator looks at the membership and retries.
const OPERATOR_POLL: Duration = Duration::from_millis(100);

/// How long an operator waits before sending a command again after a reply that did not do it.
const OPERATOR_RETRY: Duration = Duration::from_millis(500);

/// How long an operator waits for a reply before it sends again (the outcome unknown).
const OPERATOR_PATIENCE: Duration = Duration::from_secs(5);

/// What an operator's membership change is to achieve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Goal {
    /// `new` a voter.
    Add { new: u8 },
    /// `old` no member.
    Remove { old: u8 },
    /// `new` a voter in place of `old`.
    Replace { old: u8, new: u8 },
}

/// An operator's membership change under way: it looks at the membership the nodes report and
/// sends the command that takes it one step closer (add, promote, remove, replace), until it is
/// done. Every command may fail or time out under faults; the operator tries again.
struct Procedure {
    goal: Goal,
    window: usize,
    /// The command awaiting its reply, and when it was sent.
    waiting: Option<(u64, Duration)>,
    /// Not before then.
    next: Duration,
    /// The new node's machine was started.
    booted: bool,
    commands: u32,
}

fn draw(rng: &mut SmallRng, range: scenarios::Range) -> f64 {
    if range.0 >= range.1 {
        range.0
    } else {
        rng.random_range(range.0..=range.1)
    }
}

impl Faults {
    pub(crate) fn new(scenario: &Scenario, seed: u64) -> Faults {
        Faults {
            steps: scenario.faults.clone(),
            duration: Duration::from_secs_f64(scenario.duration),
            rng: SmallRng::seed_from_u64(seed ^ 0xFA17_5EED),
            next: Vec::new(),
            active: Vec::new(),
            windows: Vec::new(),
            phase: (0.0, 0.0),
            paused: Vec::new(),
            stalled: Vec::new(),
            clocked: Vec::new(),
            flaky: false,
            procedures: Vec::new(),
        }
    }

    /// Plays the schedule from now for the fault phase, then undoes whatever still holds.
    pub(crate) fn run(&mut self, world: &mut dyn Cluster) -> Result<(), ChaosError> {
        let start = world.elapsed();
        let end = start + self.duration;
        self.phase.0 = start.as_secs_f64();
        self.next = self
            .steps
            .iter()
            .map(|step| match step {
                Step::Once { at, .. } => Some(start + Duration::from_secs_f64(*at)),
                Step::Repeat { gap, .. } => Some(start + Duration::from_secs_f64(draw(&mut self.rng, *gap))),
            })
            .collect();
        loop {
            let starts = self.next.iter().flatten().copied();
            let stops = self.active.iter().map(|active| active.stop);
            let strobes = self.active.iter().filter_map(|active| match &active.undo {
                Undo::Clocks { strobe: Some(_), next, .. } => Some(*next),
                _ => None,
            });
            let operators = self.procedures.iter().map(|procedure| procedure.next);
            let at = starts.chain(stops).chain(strobes).chain(operators).min().unwrap_or(end).min(end);
            world.run_until(at)?;
            if at >= end {
                break;
            }
            self.strobe(world, at);
            self.operate(world, at);
            while let Some(index) = self.active.iter().position(|active| active.stop <= at) {
                let active = self.active.remove(index);
                self.undo(world, active, at);
            }
            for step in 0..self.steps.len() {
                if self.next[step].is_some_and(|next| next <= at) {
                    self.start(world, step, at, end);
                }
            }
        }
        for active in std::mem::take(&mut self.active) {
            self.undo(world, active, end);
        }
        world.heal();
        self.phase.1 = world.elapsed().as_secs_f64();
        self.settle(world)
    }

    /// After healing: runs until every membership change under way is done (at most
    /// [`MEMBERSHIP_WITHIN`]).
    fn settle(&mut self, world: &mut dyn Cluster) -> Result<(), ChaosError> {
        let deadline = world.elapsed() + MEMBERSHIP_WITHIN;
        while let Some(next) = self.procedures.iter().map(|procedure| procedure.next).min() {
            if world.elapsed() >= deadline {
                let pending: Vec<String> = self
                    .procedures
                    .iter()
                    .map(|procedure| self.windows[procedure.window].label.clone())
                    .collect();
                return Err(crate::error::Liveness::Membership {
                    within: MEMBERSHIP_WITHIN,
                    pending: pending.join("; "),
                }
                .into());
            }
            world.run_until(next.min(deadline))?;
            let now = world.elapsed();
            self.operate(world, now);
        }
        Ok(())
    }

    /// Moves every membership change under way one step, if its moment has come.
    fn operate(&mut self, world: &mut dyn Cluster, now: Duration) {
        let mut index = 0;
        while index < self.procedures.len() {
            if self.procedures[index].next <= now && self.step(world, index, now) {
                let procedure = self.procedures.remove(index);
                self.windows[procedure.window].end = now.as_secs_f64();
                continue;
            }
            index += 1;
        }
    }

    /// One step of procedure `index`; whether it is done.
    fn step(&mut self, world: &mut dyn Cluster, index: usize, now: Duration) -> bool {
        let procedure = &mut self.procedures[index];
        procedure.next = now + OPERATOR_POLL;
        let Some(view) = world.membership() else { return false };
        let voter = |node: u8| view.voters.contains(&node);
        let learner = |node: u8| view.learners.contains(&node);
        let commands = procedure.commands;
        let command: Vec<String> = match procedure.goal {
            Goal::Add { new } | Goal::Replace { new, .. } if !voter(new) && !learner(new) => {
                let (client, peer) = world.addresses(new);
                vec!["ADD".into(), new.to_string(), client, peer]
            }
            Goal::Add { new } if voter(new) => {
                world.note(format!(
                    "n{new} is a voter (membership version {}, {commands} commands)",
                    view.version
                ));
                return true;
            }
            Goal::Replace { old, new } if voter(new) && !voter(old) && !learner(old) => {
                world.note(format!(
                    "n{new} replaced n{old} (membership version {}, {commands} commands)",
                    view.version
                ));
                return true;
            }
            Goal::Remove { old } if !voter(old) && !learner(old) => {
                world.note(format!(
                    "n{old} was removed (membership version {}, {commands} commands)",
                    view.version
                ));
                world.decommission(old);
                return true;
            }
            Goal::Add { new } => {
                vec!["PROMOTE".into(), new.to_string()]
            }
            Goal::Replace { old, new } => vec!["REPLACE".into(), old.to_string(), new.to_string()],
            Goal::Remove { old } => vec!["REMOVE".into(), old.to_string()],
        };
        if let Goal::Add { new } | Goal::Replace { new, .. } = procedure.goal {
            if learner(new) && !procedure.booted {
                procedure.booted = true;
                world.bring_in(new);
            }
        }
        if let Some((ticket, sent)) = procedure.waiting {
            match world.admin_reply(ticket) {
                Some(_) => {
                    procedure.waiting = None;
                    procedure.next = now + OPERATOR_RETRY;
                    return false;
                }
                None if now < sent + OPERATOR_PATIENCE => return false,
                None => procedure.waiting = None,
            }
        }
        let members = world.members();
        let up: Vec<u8> = members.iter().copied().filter(|&node| !world.is_down(node)).collect();
        let to =
            world.leader().filter(|leader| up.contains(leader)).or_else(|| up.choose(&mut self.rng).copied());
        let Some(to) = to else { return false };
        let mut arguments = vec!["MEMBER".to_string()];
        arguments.extend(command);
        let procedure = &mut self.procedures[index];
        procedure.commands += 1;
        procedure.waiting = Some((world.admin(to, arguments), now));
        false
    }

    fn start(&mut self, world: &mut dyn Cluster, step: usize, now: Duration, end: Duration) {
        let (fault, hold) = match &self.steps[step] {
            Step::Once { hold, fault, .. } => {
                self.next[step] = None;
                (fault.clone(), *hold)
            }
            Step::Repeat { hold, choose, .. } => {
                let fault = choose[self.rng.random_range(0..choose.len())].clone();
                (fault, draw(&mut self.rng, *hold))
            }
        };
        let stop = (now + Duration::from_secs_f64(hold)).min(end);
        if let Step::Repeat { gap, .. } = &self.steps[step] {
            let gap = *gap;
            self.next[step] = Some(stop + Duration::from_secs_f64(draw(&mut self.rng, gap)));
        }
        let (undo, label) = self.apply(world, &fault, now);
        if let Undo::Later = undo {
            self.next[step] = Some(now + OPERATOR_RETRY);
            return;
        }
        let seconds = now.as_secs_f64();
        self.windows.push(Window { start: seconds, end: stop.as_secs_f64(), kind: fault.kind(), label });
        let window = self.windows.len() - 1;
        match undo {
            Undo::Nothing => {}
            undo => self.active.push(Active { stop, undo, window }),
        }
    }

    fn nodes(world: &dyn Cluster) -> Vec<u8> {
        world.members()
    }

    /// Voters decommissioned (their machine lost for good) that the membership still counts.
    fn lost_voters(world: &dyn Cluster) -> Vec<u8> {
        let voters = world.membership().map(|view| view.voters).unwrap_or_default();
        voters.into_iter().filter(|&node| world.decommissioned(node)).collect()
    }

    /// The voters (the first members until the nodes report a membership).
    fn voters(world: &dyn Cluster) -> Vec<u8> {
        match world.membership() {
            Some(view) => view.voters,
            None => world.members(),
        }
    }

    /// Starts an operator's membership change.
    fn begin(&mut self, goal: Goal, now: Duration) -> usize {
        let window = self.windows.len();
        self.procedures.push(Procedure {
            goal,
            window,
            waiting: None,
            next: now,
            booted: false,
            commands: 0,
        });
        window
    }

    fn resolve(&mut self, world: &dyn Cluster, target: Target) -> Vec<u8> {
        let all = Faults::nodes(world);
        let up: Vec<u8> = all.iter().copied().filter(|&node| !world.is_down(node)).collect();
        let leader = world.leader().filter(|&node| !world.is_down(node));
        let pick = |rng: &mut SmallRng, among: &[u8]| among.choose(rng).copied();
        let chosen = match target {
            Target::Leader => leader.or_else(|| pick(&mut self.rng, &up)).into_iter().collect(),
            Target::Follower => {
                let followers: Vec<u8> = up.iter().copied().filter(|&node| Some(node) != leader).collect();
                pick(&mut self.rng, &followers).into_iter().collect()
            }
            Target::Followers => {
                let leader = leader.or_else(|| pick(&mut self.rng, &all));
                all.iter().copied().filter(|&node| Some(node) != leader).collect()
            }
            Target::Random => pick(&mut self.rng, &all).into_iter().collect(),
            Target::Minority => {
                let mut shuffled = all.clone();
                shuffled.shuffle(&mut self.rng);
                shuffled.truncate((all.len() - 1) / 2);
                shuffled.sort_unstable();
                shuffled
            }
            Target::All => all,
            Target::Node(node) => vec![node],
            Target::GroupLeader(group) => world
                .leader_of(group)
                .filter(|&node| !world.is_down(node))
                .or_else(|| pick(&mut self.rng, &up))
                .into_iter()
                .collect(),
        };
        chosen
    }

    /// Applies `fault` now; returns how to undo it and what exactly was done.
    fn apply(&mut self, world: &mut dyn Cluster, fault: &Fault, now: Duration) -> (Undo, String) {
        let all = Faults::nodes(world);
        let others =
            |nodes: &[u8]| -> Vec<u8> { all.iter().copied().filter(|node| !nodes.contains(node)).collect() };
        let cut = |world: &mut dyn Cluster, links: Vec<(u8, u8)>, label: String| {
            world.cut(&links);
            world.note(label.clone());
            (Undo::Uncut(links), label)
        };
        match fault {
            Fault::PartitionHalves => {
                let mut shuffled = all.clone();
                shuffled.shuffle(&mut self.rng);
                let (mut minority, mut majority) =
                    (shuffled[..all.len() / 2].to_vec(), shuffled[all.len() / 2..].to_vec());
                minority.sort_unstable();
                majority.sort_unstable();
                let label = format!("partition {} | {}", names(&minority), names(&majority));
                cut(world, both_ways(&minority, &majority), label)
            }
            Fault::Isolate { target } => {
                let nodes = self.resolve(world, *target);
                let label = format!("isolate {} ({target})", names(&nodes));
                cut(world, both_ways(&nodes, &others(&nodes)), label)
            }
            Fault::MajoritiesRing => {
                let mut ring = all.clone();
                ring.shuffle(&mut self.rng);
                let n = ring.len();
                // Each node keeps its `reach` nearest neighbours on each side: 2 * reach + 1 nodes,
                // a majority, and no two nodes keep the same set.
                let reach = (n / 2).div_ceil(2);
                let mut links = Vec::new();
                for (i, &x) in ring.iter().enumerate() {
                    for (j, &y) in ring.iter().enumerate() {
                        let distance = i.abs_diff(j).min(n - i.abs_diff(j));
                        if distance > reach {
                            links.push((x, y));
                        }
                    }
                }
                let label = format!(
                    "majorities ring {}",
                    ring.iter().map(|node| format!("n{node}")).collect::<Vec<_>>().join("-")
                );
                cut(world, links, label)
            }
            Fault::Bridge => {
                let mut shuffled = all.clone();
                shuffled.shuffle(&mut self.rng);
                let bridge = shuffled[0];
                let rest = &shuffled[1..];
                let (mut a, mut b) = (rest[..rest.len() / 2].to_vec(), rest[rest.len() / 2..].to_vec());
                a.sort_unstable();
                b.sort_unstable();
                let label = format!("bridge {} | n{bridge} | {}", names(&a), names(&b));
                cut(world, both_ways(&a, &b), label)
            }
            Fault::OneWay { target, direction } => {
                let nodes = self.resolve(world, *target);
                let (links, label) = match direction {
                    Direction::Outbound => (
                        one_way(&nodes, &others(&nodes)),
                        format!("one-way: {} ({target}) cannot reach the others", names(&nodes)),
                    ),
                    Direction::Inbound => (
                        one_way(&others(&nodes), &nodes),
                        format!("one-way: {} ({target}) cannot hear the others", names(&nodes)),
                    ),
                };
                cut(world, links, label)
            }
            Fault::Clock { target, offset, rate, strobe } => {
                let nodes: Vec<u8> = self
                    .resolve(world, *target)
                    .into_iter()
                    .filter(|node| !self.clocked.contains(node))
                    .collect();
                let mut applied = Vec::new();
                let mut words = Vec::new();
                for node in nodes {
                    let (step, speed) = (draw(&mut self.rng, *offset), draw(&mut self.rng, *rate));
                    world.clock_jump(node, step);
                    world.clock_rate(node, speed);
                    words.push(format!("n{node} {step:+.2} s at {speed:.2}x"));
                    applied.push((node, step));
                    self.clocked.push(node);
                }
                let mut label = format!("clocks: {}", words.join(", "));
                if let Some(strobe) = strobe {
                    label.push_str(&format!("; strobe ±{} s every {} s", strobe.delta, strobe.period));
                }
                let next = now + Duration::from_secs_f64(strobe.map_or(0.0, |strobe| strobe.period));
                (Undo::Clocks { nodes: applied, strobe: *strobe, up: false, next }, label)
            }
            Fault::Kill { target } => {
                let nodes: Vec<u8> =
                    self.resolve(world, *target).into_iter().filter(|&node| !world.is_down(node)).collect();
                for &node in &nodes {
                    world.restart(node);
                }
                (Undo::Nothing, format!("kill and restart {} ({target})", names(&nodes)))
            }
            Fault::MachineCrash { target } => {
                let nodes: Vec<u8> =
                    self.resolve(world, *target).into_iter().filter(|&node| !world.is_down(node)).collect();
                for &node in &nodes {
                    world.crash(node);
                }
                (Undo::Start(nodes.clone()), format!("machine crash {} ({target})", names(&nodes)))
            }
            Fault::StorageLoss { target } => {
                let mut nodes = self.resolve(world, *target);
                nodes.truncate((all.len() - 1) / 2);
                // Storage-loss recovery needs a majority that holds the state: the others must all
                // be up and recovered (at most a minority without its data at any time).
                let busy = all
                    .iter()
                    .any(|&node| !nodes.contains(&node) && (world.is_down(node) || world.recovering(node)))
                    || !Faults::lost_voters(world).is_empty();
                if busy || nodes.is_empty() {
                    world.note(format!(
                        "storage loss of {} skipped: another node is down or recovering",
                        names(&nodes)
                    ));
                    return (
                        Undo::Nothing,
                        format!(
                            "storage loss of {} skipped (another node down or recovering)",
                            names(&nodes)
                        ),
                    );
                }
                for &node in &nodes {
                    if !world.is_down(node) {
                        world.crash(node);
                    }
                    world.lose_storage(node);
                }
                (Undo::Start(nodes.clone()), format!("storage loss {} ({target})", names(&nodes)))
            }
            Fault::Pause { target } => {
                let nodes: Vec<u8> = self
                    .resolve(world, *target)
                    .into_iter()
                    .filter(|node| !self.paused.contains(node) && !world.is_down(*node))
                    .collect();
                for &node in &nodes {
                    world.pause(node);
                    self.paused.push(node);
                }
                (Undo::Resume(nodes.clone()), format!("pause {} ({target})", names(&nodes)))
            }
            Fault::Stall { target } => {
                let mut links = Vec::new();
                for node in self.resolve(world, *target) {
                    let Some(&other) = others(&[node]).choose(&mut self.rng) else { continue };
                    let link = (node.min(other), node.max(other));
                    if !self.stalled.contains(&link) && !links.contains(&link) {
                        links.push(link);
                    }
                }
                for &(a, b) in &links {
                    world.stall(a, b);
                    self.stalled.push((a, b));
                }
                let words: Vec<String> = links.iter().map(|(a, b)| format!("n{a}-n{b}")).collect();
                let label = format!("stall {} ({target}): messages held, not lost", words.join(" "));
                world.note(label.clone());
                (Undo::Unstall(links), label)
            }
            Fault::TransferLeader { target } => {
                let Some(leader) = world.leader() else {
                    return (Undo::Nothing, "transfer of leadership skipped: no leader".to_string());
                };
                let voters = Faults::voters(world);
                let mut candidates: Vec<u8> = self
                    .resolve(world, *target)
                    .into_iter()
                    .filter(|&node| node != leader && voters.contains(&node))
                    .collect();
                if candidates.is_empty() {
                    candidates = others(&[leader]).into_iter().filter(|node| voters.contains(node)).collect();
                }
                let Some(&to) = candidates.choose(&mut self.rng) else {
                    return (Undo::Nothing, "transfer of leadership skipped: no other node".to_string());
                };
                world.admin(leader, vec!["MEMBER".into(), "TRANSFER-LEADER".into(), to.to_string()]);
                (Undo::Nothing, format!("transfer leadership n{leader} -> n{to} ({target})"))
            }
            Fault::PromoteVoter { target } => {
                let voters = Faults::voters(world);
                let promoted: Vec<u8> =
                    self.resolve(world, *target).into_iter().filter(|node| voters.contains(node)).collect();
                let Some(&node) = promoted.choose(&mut self.rng) else {
                    return (Undo::Nothing, format!("promote-voter skipped: {target} is no voter"));
                };
                // To the leader if one is known, else to the voter itself (any node forwards).
                let to = world.leader().unwrap_or(node);
                world.admin(to, vec!["MEMBER".into(), "PROMOTE".into(), node.to_string()]);
                (Undo::Nothing, format!("operator retries: promote n{node}, a voter already ({target})"))
            }
            Fault::AddNode => {
                let Some(new) = world.claim_spare() else {
                    return (Undo::Nothing, "add-node skipped: no spare machine left".to_string());
                };
                self.begin(Goal::Add { new }, now);
                world.note(format!("operator: add n{new} as a learner, then promote it"));
                (Undo::Nothing, format!("add n{new} (learner, caught up, voter)"))
            }
            Fault::RemoveNode { target } => {
                let voters = Faults::voters(world);
                let busy: Vec<u8> = self
                    .procedures
                    .iter()
                    .flat_map(|procedure| match procedure.goal {
                        Goal::Remove { old } | Goal::Replace { old, .. } => Some(old),
                        Goal::Add { .. } => None,
                    })
                    .collect();
                let old = self
                    .resolve(world, *target)
                    .into_iter()
                    .find(|node| voters.contains(node) && !busy.contains(node));
                let lost = Faults::lost_voters(world);
                match old {
                    // An operator waits until every member knows the last change.
                    _ if !world.membership_settled() => (Undo::Later, String::new()),
                    _ if !lost.is_empty() => (
                        Undo::Nothing,
                        format!(
                            "remove-node skipped: voter {} is lost; with one fewer, no majority could be left",
                            names(&lost)
                        ),
                    ),
                    _ if voters.len() <= 1 => {
                        (Undo::Nothing, "remove-node skipped: the last voter cannot be removed".to_string())
                    }
                    None => (Undo::Nothing, format!("remove-node skipped: {target} is no voter to remove")),
                    Some(old) => {
                        self.begin(Goal::Remove { old }, now);
                        world.note(format!("operator: remove n{old}"));
                        (Undo::Nothing, format!("remove n{old} ({target})"))
                    }
                }
            }
            Fault::ReplaceNode { target } => {
                let voters = Faults::voters(world);
                let lost = Faults::lost_voters(world);
                // An operator replaces one machine at a time, once every member knows the last
                // change: a member that does not yet still counts the voters before it, and
                // another machine lost then could leave it without a majority (a limit of the
                // old configuration's fault tolerance, not of the change).
                if !world.membership_settled() || !self.procedures.is_empty() {
                    return (Undo::Later, String::new());
                }
                // The voters that keep their data must stay a majority.
                if (lost.len() + 1) * 2 >= voters.len() {
                    return (
                        Undo::Nothing,
                        format!(
                            "replace-node skipped: with {} lost, one more would leave no majority of {} voters",
                            names(&lost),
                            voters.len()
                        ),
                    );
                }
                let old = self
                    .resolve(world, *target)
                    .into_iter()
                    .find(|node| voters.contains(node) && !lost.contains(node));
                let Some(old) = old else {
                    return (Undo::Nothing, format!("replace-node skipped: {target} is no voter to replace"));
                };
                let Some(new) = world.claim_spare() else {
                    return (Undo::Nothing, "replace-node skipped: no spare machine left".to_string());
                };
                world.decommission(old);
                self.begin(Goal::Replace { old, new }, now);
                world.note(format!("operator: n{old} is lost for good; replace it with n{new}"));
                (Undo::Nothing, format!("replace n{old} (lost with its disk) with n{new}"))
            }
            Fault::Flaky { loss, latency_ms } => {
                if self.flaky {
                    return (Undo::Nothing, "flaky network already".to_string());
                }
                self.flaky = true;
                world.flaky_network(*loss, Duration::from_millis(*latency_ms));
                (Undo::Steady, format!("flaky network: loss {loss}, delay up to {latency_ms} ms"))
            }
        }
    }

    /// Flips the strobing clocks whose moment has come.
    fn strobe(&mut self, world: &mut dyn Cluster, now: Duration) {
        for active in &mut self.active {
            if let Undo::Clocks { nodes, strobe: Some(strobe), up, next } = &mut active.undo {
                if *next <= now {
                    let jump = if *up { -strobe.delta } else { strobe.delta };
                    for &(node, _) in nodes.iter() {
                        world.clock_strobe(node, jump);
                    }
                    *up = !*up;
                    *next = now + Duration::from_secs_f64(strobe.period);
                }
            }
        }
    }

    fn undo(&mut self, world: &mut dyn Cluster, active: Active, now: Duration) {
        self.windows[active.window].end = now.as_secs_f64();
        match active.undo {
            Undo::Later | Undo::Nothing => {}
            Undo::Uncut(links) => {
                world.uncut(&links);
                world.note(format!("repair: {}", self.windows[active.window].label));
            }
            Undo::Clocks { nodes, strobe, up, .. } => {
                for (node, offset) in nodes {
                    let strobed = if up { strobe.map_or(0.0, |strobe| strobe.delta) } else { 0.0 };
                    world.clock_jump(node, -offset - strobed);
                    world.clock_rate(node, 1.0);
                    self.clocked.retain(|&clocked| clocked != node);
                }
            }
            Undo::Start(nodes) => {
                for node in nodes {
                    world.start(node);
                }
            }
            Undo::Resume(nodes) => {
                for node in nodes {
                    world.resume(node);
                    self.paused.retain(|&paused| paused != node);
                }
            }
            Undo::Unstall(links) => {
                for (a, b) in links {
                    world.unstall(a, b);
                    self.stalled.retain(|&stalled| stalled != (a, b));
                }
                world.note(format!("release: {}", self.windows[active.window].label));
            }
            Undo::Steady => {
                world.steady_network();
                self.flaky = false;
            }
        }
    }
}

fn names(nodes: &[u8]) -> String {
    let names: Vec<String> = nodes.iter().map(|node| format!("n{node}")).collect();
    format!("[{}]", names.join(" "))
}
