//! A deterministic in-memory cluster for randomised testing of the core (separate from the turmoil
//! simulation, which runs the whole node).
//!
//! Every choice comes from one seeded generator: which message is delivered next (so messages are
//! reordered), which are lost or duplicated, which timer fires, which client sends what to which
//! replica, and when a replica crashes, restarts from its persisted state, or restarts with its
//! storage wiped. A step's outputs are carried out as the node does (see [`Schedule`]): the sends
//! that vouch for nothing leave at once; the persists join the host's unsynced persists, which a
//! sync makes durable (at once, or some steps later, as a slow fsync would) before the other sends
//! and replies leave; a crash loses everything not yet synced.
//!
//! After every step the run checks:
//! - **agreement**: no slot is known chosen with two values, by any replica at any time;
//! - **applied prefixes agree**: two replicas that applied the same number of slots hold the same
//!   state machine;
//! - **acknowledged writes are durable and exactly-once**: an acknowledged write is in the chosen
//!   log, and its response is what replaying the chosen log gives at its first occurrence;
//! - **reads are linearizable**: a read returns the value its key had at some log position between
//!   every write acknowledged (or read observed) before the read was invoked, and the end of the
//!   chosen log when it was answered.
//!
//! Then a liveness phase heals everything and requires every replica to converge and every client
//! to be answered within a bound.

use crate::core::{
    Action, Ballot, Bytes, ClientId, ClusterId, Config, DurableState, Envelope, Input, Message, NodeId,
    Operation, Outcome, Output, Persist, Replica, Request, Response, Schedule, Slot, Status, Timer,
    TimerChange, Value,
};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// The fault profiles that runs rotate through (see [`Faults::for_seed`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// Link cuts, and a crash right after every promise.
    PartialPartition,
    /// Process crashes, some right after an Accepted; a lossy network.
    Crashes,
    /// Crashes that wipe the storage.
    StorageLoss,
    /// One replica isolated at a time.
    Isolation,
    /// A random subset of every fault.
    Swarm,
}

impl Profile {
    /// Every profile, in rotation order.
    pub const ALL: [Profile; 5] = [
        Profile::PartialPartition,
        Profile::Crashes,
        Profile::StorageLoss,
        Profile::Isolation,
        Profile::Swarm,
    ];
}

/// How hostile the environment is. Probabilities are per step or per message.
#[derive(Clone, Debug)]
pub struct Faults {
    /// A delivered message is lost instead.
    pub loss: f64,
    /// A delivered message stays in the network for a second delivery.
    pub duplication: f64,
    /// A live replica crashes (at most a minority is down at once).
    pub crash: f64,
    /// A crashed replica restarts, per step.
    pub restart: f64,
    /// A restarting replica has its storage wiped (else it restarts from its persisted state).
    pub wipe: f64,
    /// Total wipes per run, at most.
    pub wipes_max: usize,
    /// A replica's election timer fires (when armed), per step.
    pub election: f64,
    /// Another timer (heartbeat, retransmit, lease) of a replica fires, per step.
    pub timer: f64,
    /// A client acts (sends its next request, or gives up on one), per step.
    pub client_rate: f64,
    /// A replica that has just sent a Promise crashes and restarts at once: the moment at which
    /// a promise that was not persisted does harm.
    pub crash_after_promise: f64,
    /// A replica that has just sent an Accepted crashes and restarts at once: the moment at which
    /// an acceptance that was not yet durable does harm.
    pub crash_after_accepted: f64,
    /// A step's persists are still syncing when the step ends (else the sync completes at once):
    /// later steps run, and their early sends leave, while the persists can still be lost.
    pub sync_lag: f64,
    /// A host whose persists are still syncing completes the sync, per step.
    pub sync: f64,
    /// A replica whose step sent messages ahead of unsynced persists (a leader's Accepts, which
    /// vouch for nothing durable: see [`Release`](crate::core::Release)) crashes before those
    /// persists are durable and restarts at once: the moment at which an early send does harm if
    /// it should have waited.
    pub crash_before_persist: f64,
    /// A replica is isolated (no message to or from it is delivered), per step.
    pub isolation: f64,
    /// The link between two replicas is cut (both ways), per step: a partial partition.
    pub link_cut: f64,
    /// How long an isolation or a cut lasts, in steps.
    pub isolation_steps: usize,
}

impl Faults {
    /// The faults of run `seed`: one of a few profiles, each aimed at one class of bug, and a
    /// swarm mix (Groce et al., ISSTA 2012: each fault type switched on or off at random). A run
    /// with every fault at once masks the bugs that need an otherwise quiet cluster with one
    /// particular fault. A `PAXOS_<KNOB>` environment variable pins one knob for experiments.
    pub fn for_seed(seed: u64) -> Faults {
        let mut rng = SmallRng::seed_from_u64(seed ^ 0x5a5a_0f0f_3c3c_9696);
        let quiet = Faults {
            sync_lag: 0.3,
            sync: 0.1,
            election: 0.05,
            timer: 0.1,
            client_rate: 0.10,
            restart: 0.03,
            wipes_max: 2,
            ..Faults::none()
        };
        let mut faults = match Profile::ALL[(seed % Profile::ALL.len() as u64) as usize] {
            // A candidate cut off from the old leader, a voter that forgets what it promised.
            Profile::PartialPartition => {
                Faults { link_cut: 0.002, crash_after_promise: 1.0, crash_after_accepted: 0.05, ..quiet }
            }
            // Process crashes, some right after acknowledging an Accept, on a lossy network.
            Profile::Crashes => Faults {
                crash: 0.005,
                crash_after_accepted: 0.05,
                crash_before_persist: 0.05,
                loss: 0.02,
                ..quiet
            },
            // Machines that come back with an empty disk.
            Profile::StorageLoss => Faults { crash: 0.005, wipe: 0.5, link_cut: 0.002, ..quiet },
            // One replica (often the leader) cut off from everyone for a long while.
            Profile::Isolation => Faults { isolation: 0.003, loss: 0.02, duplication: 0.03, ..quiet },
            Profile::Swarm => {
                let mut on = |low: f64, high: f64| {
                    if rng.random_bool(0.5) {
                        rng.random_range(low..=high)
                    } else {
                        0.0
                    }
                };
                Faults {
                    loss: on(0.01, 0.1),
                    duplication: on(0.01, 0.05),
                    crash: on(0.001, 0.01),
                    wipe: on(0.2, 0.5),
                    crash_after_promise: on(0.2, 1.0),
                    crash_after_accepted: on(0.01, 0.05),
                    crash_before_persist: on(0.02, 0.2),
                    isolation: on(0.001, 0.003),
                    link_cut: on(0.001, 0.004),
                    ..quiet
                }
            }
        };
        let pin = |name: &str, value: &mut f64| *value = env_f64(name, *value);
        pin("PAXOS_LOSS", &mut faults.loss);
        pin("PAXOS_DUPLICATION", &mut faults.duplication);
        pin("PAXOS_CRASH", &mut faults.crash);
        pin("PAXOS_RESTART", &mut faults.restart);
        pin("PAXOS_WIPE", &mut faults.wipe);
        pin("PAXOS_ELECTION", &mut faults.election);
        pin("PAXOS_TIMER", &mut faults.timer);
        pin("PAXOS_CRASH_AFTER_PROMISE", &mut faults.crash_after_promise);
        pin("PAXOS_CRASH_AFTER_ACCEPTED", &mut faults.crash_after_accepted);
        pin("PAXOS_CRASH_BEFORE_PERSIST", &mut faults.crash_before_persist);
        pin("PAXOS_SYNC_LAG", &mut faults.sync_lag);
        pin("PAXOS_SYNC", &mut faults.sync);
        pin("PAXOS_ISOLATION", &mut faults.isolation);
        pin("PAXOS_LINK_CUT", &mut faults.link_cut);
        faults.isolation_steps = env_f64("PAXOS_ISOLATION_STEPS", 400.0) as usize;
        faults
    }

    /// A perfect network and no crashes.
    pub fn none() -> Faults {
        Faults {
            loss: 0.0,
            duplication: 0.0,
            crash: 0.0,
            restart: 0.0,
            wipe: 0.0,
            wipes_max: 0,
            election: 0.002,
            timer: 0.02,
            client_rate: 0.10,
            crash_after_promise: 0.0,
            crash_after_accepted: 0.0,
            sync_lag: 0.0,
            sync: 0.0,
            crash_before_persist: 0.0,
            isolation: 0.0,
            link_cut: 0.0,
            isolation_steps: 0,
        }
    }
}

/// The shape of one run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Replicas in the cluster.
    pub replicas: usize,
    /// Concurrent clients.
    pub clients: usize,
    /// Steps of the fault phase.
    pub steps: usize,
    /// Steps the liveness phase may take, at most.
    pub liveness_steps: usize,
    /// Distinct keys the clients use.
    pub keys: usize,
    /// Steps a client waits for a response before it gives up (the outcome is then unknown).
    pub client_timeout_steps: usize,
    /// The faults.
    pub faults: Faults,
    /// Builds each replica's configuration (node, members).
    pub config: fn(NodeId, Vec<NodeId>) -> Config,
    /// The mutant every replica runs.
    #[cfg(feature = "mutants")]
    pub mutant: crate::core::Mutant,
    /// Keep every replica's persists in [`Summary::persists`] (for the storage tests).
    pub record_persists: bool,
}

impl Options {
    /// A small run of `replicas` replicas whose faults are chosen by `seed` (see
    /// [`Faults::for_seed`]).
    pub fn swarm(replicas: usize, seed: u64) -> Options {
        Options {
            replicas,
            clients: env_f64("PAXOS_CLIENTS", 6.0) as usize,
            steps: 3_000,
            liveness_steps: 20_000,
            keys: 3,
            client_timeout_steps: env_f64("PAXOS_CLIENT_TIMEOUT", 150.0) as usize,
            faults: Faults::for_seed(seed),
            config: |node, members| {
                let mut config = Config::new(node, members);
                config.window_slots = 4;
                config.batch_requests_max = 3;
                config.log_retain_slots = 8;
                config.snapshot_interval_slots = 12;
                config.learn_slots_max = 5;
                config
            },
            #[cfg(feature = "mutants")]
            mutant: crate::core::Mutant::None,
            record_persists: false,
        }
    }
}

/// A broken property, with the step at which it was seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The seed of the run.
    pub seed: u64,
    /// The step.
    pub step: usize,
    /// What broke.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "seed {} step {}: {}", self.seed, self.step, self.message)
    }
}

/// What a successful run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Requests acknowledged.
    pub acknowledged: usize,
    /// Requests whose outcome stayed unknown (abandoned after a crash or a timeout).
    pub unknown: usize,
    /// Slots chosen.
    pub chosen: u64,
    /// Crashes.
    pub crashes: usize,
    /// Restarts with wiped storage.
    pub wipes: usize,
    /// Distinct leader ballots seen.
    pub leaders: usize,
    /// Steps, faults and liveness together.
    pub steps: usize,
    /// With [`Options::record_persists`]: each replica's persists as its storage saw them.
    pub persists: Vec<Vec<Recorded>>,
    /// Each replica's durable state at the end.
    pub durable: Vec<DurableState>,
}

/// What one replica's storage saw, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// The persists of one step (durable before the step's sends left).
    Step(Vec<Persist>),
    /// The storage was wiped.
    Wipe,
}

struct Host {
    replica: Option<Replica>,
    durable: DurableState,
    /// Persists whose sync has not completed (lost by a crash), as in the node's group commit.
    unsynced: Vec<Persist>,
    /// Sends and replies waiting for that sync.
    held: Vec<Action>,
    /// Armed timers and the step each was (re)armed at.
    timers: BTreeMap<Timer, usize>,
    /// Restarts so far, for recovery nonces.
    restarts: u64,
}

#[derive(Clone)]
struct Call {
    request: Request,
    node: NodeId,
    invoked: usize,
    /// The chosen-log position that every earlier acknowledged write and observed read requires.
    floor: usize,
}

struct Client {
    id: ClientId,
    sequence: u64,
    call: Option<Call>,
}

/// What replaying a request gives.
type Replayed = Result<Vec<Outcome>, crate::core::RequestError>;

/// Where each request first appears in the chosen log, and the log replayed.
#[derive(Default)]
struct Reference {
    /// Requests in chosen order (slot, then position in the batch), first occurrences only.
    order: Vec<Request>,
    /// (client, sequence) → (position, outcomes of the replay).
    positions: BTreeMap<(ClientId, u64), (usize, Replayed)>,
    /// Per key: (position from which it holds, value).
    history: BTreeMap<Bytes, Vec<(usize, Option<Bytes>)>>,
    kv: Option<crate::core::KvStore>,
}

/// One randomised run.
pub struct Simulation {
    seed: u64,
    rng: SmallRng,
    options: Options,
    members: Vec<NodeId>,
    hosts: Vec<Host>,
    network: Vec<(NodeId, Envelope)>,
    clients: Vec<Client>,
    step: usize,
    chosen: BTreeMap<Slot, Value>,
    applied_states: BTreeMap<Slot, crate::core::KvStore>,
    reference: Reference,
    next_value: u64,
    summary: Summary,
    ballots: BTreeSet<Ballot>,
    wipes: usize,
    /// The log position every later read must reach: acknowledged writes and observed reads.
    floor: usize,
    /// Responses of this step, checked once the reference includes this step's chosen slots.
    pending_checks: Vec<(Call, Response)>,
    /// Slots replayed into the reference so far.
    replayed: Slot,
    /// The isolated replica and the step its isolation ends.
    isolated: Option<(NodeId, usize)>,
    /// A replica that crashes at the end of this step, its persists unsynced.
    doomed: Option<NodeId>,
    /// Cut links (unordered pairs) and the step each heals.
    cuts: Vec<(NodeId, NodeId, usize)>,
    /// Whether the fault phase is on (crashes after votes happen only then).
    faulty: bool,
}

const CLUSTER: ClusterId = ClusterId(0x5eed);

/// How many steps a timer runs before it may fire: messages arrive within a few steps, a heartbeat
/// goes out every few dozen, and only a follower silent for longer than that campaigns.
fn timer_steps(timer: Timer) -> usize {
    match timer {
        Timer::Heartbeat => 20,
        Timer::Retransmit => 40,
        Timer::Election => 150,
        Timer::Lease(_) => 100,
        Timer::LeaseGuard => 150,
    }
}

/// `PAXOS_TRACE=1` prints every input and output (use with `PAXOS_SEED`).
static TRACE: std::sync::LazyLock<bool> =
    std::sync::LazyLock::new(|| std::env::var_os("PAXOS_TRACE").is_some());

impl Simulation {
    /// A run of `options` from `seed`.
    pub fn new(seed: u64, options: Options) -> Simulation {
        let members: Vec<NodeId> = (0..options.replicas).map(|index| NodeId(index as u8 + 1)).collect();
        let mut simulation = Simulation {
            seed,
            rng: SmallRng::seed_from_u64(seed),
            members: members.clone(),
            hosts: Vec::new(),
            network: Vec::new(),
            clients: (0..options.clients)
                .map(|index| Client { id: ClientId(index as u64 + 1), sequence: 0, call: None })
                .collect(),
            options,
            step: 0,
            chosen: BTreeMap::new(),
            applied_states: BTreeMap::new(),
            reference: Reference::default(),
            next_value: 0,
            summary: Summary::default(),
            ballots: BTreeSet::new(),
            wipes: 0,
            floor: 0,
            pending_checks: Vec::new(),
            replayed: Slot(0),
            isolated: None,
            doomed: None,
            cuts: Vec::new(),
            faulty: true,
        };
        if simulation.options.record_persists {
            // What `init` writes for each member.
            simulation.summary.persists = members
                .iter()
                .map(|&node| {
                    vec![Recorded::Step(vec![Persist::Joined { cluster: CLUSTER, node, incarnation: 0 }])]
                })
                .collect();
        }
        for &node in &members {
            let durable = DurableState::initial(CLUSTER, node);
            simulation.hosts.push(Host {
                replica: None,
                durable,
                unsynced: Vec::new(),
                held: Vec::new(),
                timers: BTreeMap::new(),
                restarts: 0,
            });
            simulation.boot(node);
        }
        simulation
    }

    /// Runs the fault phase, then the liveness phase.
    ///
    /// # Errors
    ///
    /// The first property violated.
    pub fn run(mut self) -> Result<Summary, Violation> {
        for _ in 0..self.options.steps {
            self.step += 1;
            self.random_step()?;
            self.check()?;
            if let Some(node) = self.doomed.take() {
                self.crash(node);
                self.restart(node, false);
            }
        }
        self.liveness()?;
        self.summary.chosen = self.chosen.len() as u64;
        self.summary.leaders = self.ballots.len();
        self.summary.steps = self.step;
        self.summary.durable = self.hosts.iter().map(|host| host.durable.clone()).collect();
        Ok(self.summary)
    }

    fn violation(&self, message: String) -> Violation {
        Violation { seed: self.seed, step: self.step, message }
    }

    fn host(&mut self, node: NodeId) -> &mut Host {
        &mut self.hosts[node.index() - 1]
    }

    fn boot(&mut self, node: NodeId) {
        #[allow(unused_mut)]
        let mut config = (self.options.config)(node, self.members.clone());
        #[cfg(feature = "mutants")]
        {
            config.mutant = self.options.mutant;
        }
        let host = self.host(node);
        host.restarts += 1;
        let nonce = host.restarts;
        let durable = host.durable.clone();
        let mut replica = Replica::new(config, durable, nonce).expect("valid configuration");
        let mut out = Vec::new();
        replica.start(&mut out);
        host.timers.clear();
        host.replica = Some(replica);
        self.execute(node, out, false);
    }

    fn deliver(&mut self, node: NodeId, input: Input) {
        let step = self.step;
        let host = self.host(node);
        let Some(replica) = host.replica.as_mut() else { return };
        let mut out = Vec::new();
        if *TRACE {
            println!("[{step}] {node} <- {input:?}");
        }
        replica.step(input, &mut out);
        if *TRACE {
            for output in &out {
                println!("[{step}] {node} -> {output:?}");
            }
        }
        // Votes sent to another replica (a candidate's vote for itself is not the moment).
        let sent = |kind: fn(&Message) -> bool| {
            out.iter().any(|output| matches!(output, Output::Send { to, envelope, .. } if *to != node && kind(&envelope.message)))
        };
        let promised = sent(|message| matches!(message, Message::Promise { .. }));
        let accepted = sent(|message| matches!(message, Message::Accepted { .. }));
        if self.execute(node, out, true) {
            return;
        }
        let faults = &self.options.faults;
        let odds = if promised {
            faults.crash_after_promise
        } else if accepted {
            faults.crash_after_accepted
        } else {
            0.0
        };
        if self.faulty && odds > 0.0 && self.rng.random_bool(odds) && self.may_crash() {
            // A process crash and an immediate restart: the vote has left, whatever was not
            // durable is gone, and the rest of the cluster has not noticed anything.
            self.crash(node);
            self.restart(node, false);
        }
    }

    /// Whether one more replica may go down: at most a minority is down or recovering at once
    /// (more is outside the fault model: a majority of lost disks cannot be recovered by any
    /// protocol).
    fn may_crash(&self) -> bool {
        let down = self.members.len() - self.live().len() + self.recovering();
        down < (self.members.len() - 1) / 2
    }

    /// Carries out a step's outputs as [`Schedule`] sorts them, the way the node does: timers; the
    /// sends that may leave ahead of the persists, at once; the persists, which stay unsynced
    /// (lost by a crash) until the host syncs; the other sends and replies once synced. A host
    /// syncs right after the step unless [`Faults::sync_lag`] keeps it waiting for a later
    /// [`Faults::sync`] event. With `faults`, a replica whose step sent early while persists were
    /// unsynced may crash before they sync (see [`Faults::crash_before_persist`]).
    ///
    /// Returns whether the replica is doomed to crash that way at the end of the step.
    fn execute(&mut self, node: NodeId, out: Vec<Output>, faults: bool) -> bool {
        let step = self.step;
        let schedule = Schedule::new(out);
        if let Some(ballot) = self.hosts[node.index() - 1]
            .replica
            .as_ref()
            .and_then(|replica| (replica.status() == Status::Leader).then(|| replica.ballot()).flatten())
        {
            self.ballots.insert(ballot);
        }
        let host = self.host(node);
        for change in &schedule.timers {
            match change {
                TimerChange::Set(timer) => {
                    host.timers.insert(*timer, step);
                }
                TimerChange::Cancel(timer) => {
                    host.timers.remove(timer);
                }
            }
        }
        host.unsynced.extend(schedule.persists);
        host.held.extend(schedule.after_persists);
        let early = !schedule.immediately.is_empty() && !host.unsynced.is_empty();
        for action in schedule.immediately {
            self.perform(node, action);
        }
        let odds = self.options.faults.crash_before_persist;
        if faults && early && self.faulty && odds > 0.0 && self.rng.random_bool(odds) && self.may_crash() {
            // The early sends have left; the persists before them will never reach the disk. The
            // crash comes once the step is checked, so that what the replica learned in it (a
            // value chosen by a quorum, perhaps already announced) is recorded first.
            self.doomed = Some(node);
            return true;
        }
        let lag = self.options.faults.sync_lag;
        if !(self.faulty && lag > 0.0 && self.rng.random_bool(lag)) {
            self.sync(node);
        }
        false
    }

    /// The host's sync completes: its unsynced persists are durable, and what waited leaves.
    fn sync(&mut self, node: NodeId) {
        let host = self.host(node);
        let persists = std::mem::take(&mut host.unsynced);
        let held = std::mem::take(&mut host.held);
        for record in &persists {
            host.durable.apply(record);
        }
        if self.options.record_persists && !persists.is_empty() {
            self.summary.persists[node.index() - 1].push(Recorded::Step(persists));
        }
        for action in held {
            self.perform(node, action);
        }
    }

    fn perform(&mut self, node: NodeId, action: Action) {
        match action {
            Action::Send { to, envelope } => self.network.push((to, envelope)),
            Action::Reply(response) => self.on_response(node, response),
        }
    }

    fn recovering(&self) -> usize {
        let recovering =
            |host: &Host| host.replica.as_ref().is_some_and(|r| r.status() == Status::Recovering);
        self.hosts.iter().filter(|host| recovering(host)).count()
    }

    fn live(&self) -> Vec<NodeId> {
        self.members.iter().copied().filter(|node| self.hosts[node.index() - 1].replica.is_some()).collect()
    }

    fn random_step(&mut self) -> Result<(), Violation> {
        let faults = self.options.faults.clone();
        let step = self.step;
        if self.isolated.is_some_and(|(_, until)| until <= step) {
            self.isolated = None;
        }
        self.cuts.retain(|&(_, _, until)| until > step);
        // One event per step, drawn from a cumulative table; the rest of the probability mass
        // delivers a message (messages arrive far more often than timers expire).
        let mut roll: f64 = self.rng.random();
        let mut next = |p: f64| {
            let hit = roll < p;
            roll -= p;
            hit
        };
        if next(faults.sync) {
            let syncing: Vec<NodeId> = self
                .members
                .iter()
                .copied()
                .filter(|node| !self.hosts[node.index() - 1].unsynced.is_empty())
                .collect();
            if !syncing.is_empty() {
                let node = syncing[self.rng.random_range(0..syncing.len())];
                self.sync(node);
            }
        } else if next(faults.crash) {
            let live = self.live();
            if self.may_crash() && !live.is_empty() {
                let node = live[self.rng.random_range(0..live.len())];
                self.crash(node);
            }
        } else if next(faults.restart) {
            let down: Vec<NodeId> =
                self.members.iter().copied().filter(|node| !self.live().contains(node)).collect();
            if let Some(&node) = down.first() {
                let wipe = self.wipes < faults.wipes_max
                    && self.recovering() == 0
                    && self.rng.random_bool(faults.wipe);
                self.restart(node, wipe);
            }
        } else if next(faults.link_cut) {
            let a = self.members[self.rng.random_range(0..self.members.len())];
            let b = self.members[self.rng.random_range(0..self.members.len())];
            if a != b {
                self.cuts.push((a, b, self.step + faults.isolation_steps));
                if *TRACE {
                    println!("[{}] link {a}-{b} is cut", self.step);
                }
            }
        } else if next(faults.isolation) {
            if self.isolated.is_none() {
                let node = self.members[self.rng.random_range(0..self.members.len())];
                self.isolated = Some((node, self.step + faults.isolation_steps));
                if *TRACE {
                    println!("[{}] {node} is isolated", self.step);
                }
            }
        } else if next(faults.client_rate) {
            self.client_step();
        } else if next(faults.timer) {
            self.fire_timer(false);
        } else if next(faults.election) {
            self.fire_timer(true);
        } else {
            self.deliver_random(faults.loss, faults.duplication);
        }
        Ok(())
    }

    fn crash(&mut self, node: NodeId) {
        if *TRACE {
            println!("[{}] {node} crashes", self.step);
        }
        self.summary.crashes += 1;
        let host = self.host(node);
        host.replica = None;
        host.timers.clear();
        host.unsynced.clear();
        host.held.clear();
        // Clients connected to it lose their connection: the outcome is unknown.
        for client in &mut self.clients {
            if client.call.as_ref().is_some_and(|call| call.node == node) {
                client.call = None;
                self.summary.unknown += 1;
            }
        }
    }

    fn restart(&mut self, node: NodeId, wipe: bool) {
        if *TRACE {
            println!("[{}] {node} restarts{}", self.step, if wipe { " with its storage wiped" } else { "" });
        }
        if wipe {
            self.wipes += 1;
            self.summary.wipes += 1;
            self.host(node).durable = DurableState::lost();
            if self.options.record_persists {
                self.summary.persists[node.index() - 1].push(Recorded::Wipe);
            }
        }
        self.boot(node);
    }

    /// Fires one timer whose duration has elapsed: durations are in steps, so that a follower
    /// that keeps hearing from its leader never campaigns, and one cut off from it does.
    fn fire_timer(&mut self, election: bool) {
        let step = self.step;
        let mut eligible = Vec::new();
        for node in self.live() {
            for (&timer, &armed) in &self.hosts[node.index() - 1].timers {
                if (timer == Timer::Election) == election && step - armed >= timer_steps(timer) {
                    eligible.push((node, timer));
                }
            }
        }
        if eligible.is_empty() {
            return;
        }
        let (node, timer) = eligible[self.rng.random_range(0..eligible.len())];
        self.host(node).timers.remove(&timer);
        self.deliver(node, Input::Timeout(timer));
    }

    fn deliver_random(&mut self, loss: f64, duplication: f64) {
        if self.network.is_empty() {
            return;
        }
        let index = self.rng.random_range(0..self.network.len());
        {
            let (to, envelope) = &self.network[index];
            let (to, from) = (*to, envelope.from);
            let isolated = self.isolated.is_some_and(|(node, _)| node == to || node == from);
            let cut = self.cuts.iter().any(|&(a, b, _)| (a, b) == (to, from) || (b, a) == (to, from));
            if isolated || cut {
                // A partition drops what crosses it (like a dead TCP stream).
                self.network.swap_remove(index);
                return;
            }
        }
        let (to, envelope) = if self.rng.random_bool(duplication) {
            self.network[index].clone()
        } else {
            self.network.swap_remove(index)
        };
        if self.rng.random_bool(loss) {
            return;
        }
        self.deliver(to, Input::Receive(envelope));
    }

    fn client_step(&mut self) {
        let index = self.rng.random_range(0..self.clients.len());
        if let Some(call) = self.clients[index].call.clone() {
            if self.step - call.invoked > self.options.client_timeout_steps {
                // Deadline: the outcome is unknown; the client moves on with a new sequence.
                self.clients[index].call = None;
                self.summary.unknown += 1;
                self.deliver(call.node, Input::Abandon(self.clients[index].id));
            }
            return;
        }
        let live = self.live();
        if live.is_empty() {
            return;
        }
        let node = live[self.rng.random_range(0..live.len())];
        let key = Bytes::from(format!("k{}", self.rng.random_range(0..self.options.keys)));
        self.next_value += 1;
        let fresh = Bytes::from(format!("v{}", self.next_value));
        let operation = match self.rng.random_range(0..10) {
            0..=3 => Operation::Get { key },
            4..=6 => Operation::Put { key, value: fresh },
            7 => Operation::Delete { key },
            _ => {
                let expected = self
                    .reference
                    .history
                    .get(&key)
                    .and_then(|changes| changes.last())
                    .and_then(|c| c.1.clone());
                let expected = if self.rng.random_bool(0.7) { expected } else { None };
                Operation::Cas { key, expected, new: fresh }
            }
        };
        let client = &mut self.clients[index];
        client.sequence += 1;
        let request = Request { client: client.id, sequence: client.sequence, operations: vec![operation] };
        let floor = self.floor;
        client.call = Some(Call { request: request.clone(), node, invoked: self.step, floor });
        self.deliver(node, Input::Requests(vec![request]));
    }

    fn on_response(&mut self, node: NodeId, response: Response) {
        let Some(index) = self.clients.iter().position(|client| client.id == response.client) else { return };
        let Some(call) = self.clients[index].call.clone() else { return };
        if call.node != node || call.request.sequence != response.sequence {
            return;
        }
        self.clients[index].call = None;
        self.pending_checks.push((call, response));
    }
}

// Reads and writes are checked against the chosen log after the step that answered them (the
// reference replay must first include every slot chosen in that step).
impl Simulation {
    fn check(&mut self) -> Result<(), Violation> {
        self.check_agreement()?;
        self.extend_reference();
        let checks = std::mem::take(&mut self.pending_checks);
        for (call, response) in checks {
            self.check_response(&call, &response)?;
        }
        Ok(())
    }

    fn check_agreement(&mut self) -> Result<(), Violation> {
        for index in 0..self.hosts.len() {
            let Some(replica) = self.hosts[index].replica.as_ref() else { continue };
            if let Some(slot) = replica.conflict() {
                return Err(
                    self.violation(format!("{} saw two values chosen in slot {slot}", replica.node()))
                );
            }
            let log = replica.log();
            let mut learned = Vec::new();
            let mut slot = log.start();
            while slot < log.end() {
                if let Some(value) = log.entry(slot).and_then(|entry| entry.chosen.as_ref()) {
                    learned.push((slot, value.clone()));
                }
                slot = slot.next();
            }
            let node = replica.node();
            let applied = log.applied();
            for (slot, value) in learned {
                match self.chosen.get(&slot) {
                    Some(known) if *known != value => {
                        return Err(self.violation(format!(
                            "agreement: slot {slot} chosen as {known:?} elsewhere and as {value:?} at {node}"
                        )));
                    }
                    Some(_) => {}
                    None => {
                        self.chosen.insert(slot, value);
                    }
                }
            }
            let replica = self.hosts[index].replica.as_ref().expect("live above");
            match self.applied_states.get(&applied) {
                Some(state) if state != replica.kv() => {
                    return Err(self.violation(format!(
                        "applied prefixes disagree: {node} applied {applied} slots into a different state"
                    )));
                }
                Some(_) => {}
                None => {
                    self.applied_states.insert(applied, replica.kv().clone());
                }
            }
        }
        Ok(())
    }

    /// Replays newly chosen consecutive slots into the reference.
    fn extend_reference(&mut self) {
        let sessions_max = (self.options.config)(self.members[0], self.members.clone()).sessions_max;
        let reference = &mut self.reference;
        let kv = reference.kv.get_or_insert_with(|| crate::core::KvStore::new(sessions_max));
        while let Some(value) = self.chosen.get(&self.replayed) {
            for request in value.requests() {
                let key = (request.client, request.sequence);
                let result = kv.apply(request).map(<[Outcome]>::to_vec);
                if reference.positions.contains_key(&key) {
                    continue;
                }
                reference.order.push(request.clone());
                let position = reference.order.len();
                for operation in &request.operations {
                    if !operation.is_read() {
                        let written = kv.get(operation.key()).cloned();
                        let changes = reference.history.entry(Bytes::from(operation.key())).or_default();
                        if changes.last().map(|change| &change.1) != Some(&written) {
                            changes.push((position, written));
                        }
                    }
                }
                reference.positions.insert(key, (position, result));
            }
            self.replayed = self.replayed.next();
        }
    }

    fn check_response(&mut self, call: &Call, response: &Response) -> Result<(), Violation> {
        let request = &call.request;
        let Ok(outcomes) = &response.result else {
            // Refused (busy, stale): nothing was executed; nothing to check.
            return Ok(());
        };
        self.summary.acknowledged += 1;
        if !request.is_read_only() {
            let Some((position, expected)) =
                self.reference.positions.get(&(request.client, request.sequence))
            else {
                return Err(self.violation(format!(
                    "acknowledged write {request:?} is not in the chosen log ({} slots chosen in order)",
                    self.replayed
                )));
            };
            if expected.as_ref() != Ok(outcomes) {
                return Err(self.violation(format!(
                    "write {request:?} answered {outcomes:?} but the log gives {expected:?} at position {position}"
                )));
            }
            self.floor = self.floor.max(*position);
            return Ok(());
        }
        // A read: find the earliest position in [floor at invocation, end of log now] at which the
        // key held the value read.
        let Operation::Get { key } = &request.operations[0] else { unreachable!("reads are gets") };
        let Outcome::Value(read) = &outcomes[0] else {
            return Err(self.violation(format!("read {request:?} answered {outcomes:?}")));
        };
        let upper = self.reference.order.len();
        let changes = self.reference.history.get(key).cloned().unwrap_or_default();
        let value_at = |position: usize| -> Option<Bytes> {
            changes.iter().rev().find(|change| change.0 <= position).and_then(|change| change.1.clone())
        };
        let mut candidates = vec![call.floor];
        candidates.extend(changes.iter().map(|change| change.0).filter(|&p| p > call.floor && p <= upper));
        match candidates.into_iter().find(|&position| value_at(position) == *read) {
            Some(position) => {
                self.floor = self.floor.max(position);
                Ok(())
            }
            None => Err(self.violation(format!(
                "read of {} returned {:?}, which the key never held between log positions {} and {upper}",
                String::from_utf8_lossy(key),
                read,
                call.floor
            ))),
        }
    }

    /// Heals everything and requires convergence and answers within `liveness_steps`.
    fn liveness(&mut self) -> Result<(), Violation> {
        self.faulty = false;
        for node in self.members.clone() {
            self.sync(node);
        }
        self.isolated = None;
        self.cuts.clear();
        let down: Vec<NodeId> =
            self.members.iter().copied().filter(|node| !self.live().contains(node)).collect();
        for node in down {
            self.restart(node, false);
        }
        let deadline = self.step + self.options.liveness_steps;
        let mut quiet = 0;
        while self.step < deadline {
            self.step += 1;
            // A healed network: messages arrive long before any timer expires, so a timer fires
            // only when nothing is in flight (and an election timer only now and then).
            if !self.network.is_empty() {
                self.deliver_random(0.0, 0.0);
            } else if self.rng.random_bool(0.05) {
                self.fire_timer(true);
            } else {
                self.fire_timer(false);
            }
            self.check()?;
            if self.converged() {
                quiet += 1;
                if quiet > 50 {
                    return Ok(());
                }
            } else {
                quiet = 0;
            }
            if self.step.is_multiple_of(97) {
                self.client_step();
            }
        }
        let states: Vec<String> = self
            .hosts
            .iter()
            .filter_map(|host| host.replica.as_ref())
            .map(|replica| {
                format!(
                    "{}: {} promised {} commit {} applied {} pending {}",
                    replica.node(),
                    replica.status(),
                    replica.promised(),
                    replica.log().commit(),
                    replica.log().applied(),
                    replica.pending()
                )
            })
            .collect();
        Err(self.violation(format!(
            "liveness: no convergence within {} steps after healing: {}",
            self.options.liveness_steps,
            states.join("; ")
        )))
    }

    fn converged(&self) -> bool {
        let replicas: Vec<&Replica> = self.hosts.iter().filter_map(|host| host.replica.as_ref()).collect();
        let leaders = replicas.iter().filter(|replica| replica.status() == Status::Leader).count();
        let applied: BTreeSet<Slot> = replicas.iter().map(|replica| replica.log().applied()).collect();
        leaders == 1
            && applied.len() == 1
            && replicas.iter().all(|replica| replica.pending() == 0)
            && self.clients.iter().all(|client| client.call.is_none())
    }
}

fn env_f64(name: &str, default: f64) -> f64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}
