//! A deterministic in-memory cluster for randomised testing of the core (separate from the turmoil
//! simulation, which runs the whole node).
//!
//! Every choice comes from one seeded generator: which message is delivered next (so messages are
//! reordered), which are lost or duplicated, which timer fires, which client sends what to which
//! replica, and when a replica crashes, restarts from its persisted state, or restarts with its
//! storage wiped. Persists are applied to the replica's durable state within the step that emitted
//! them, before its sends enter the network (the runtime contract); a crash loses everything else.
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
    Ballot, ClientId, ClusterId, Config, DurableState, Envelope, Input, NodeId, Operation, Outcome, Output,
    Replica, Request, Response, Slot, Status, Timer, Value,
};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// How hostile the environment is. Probabilities are per step or per message.
#[derive(Clone, Debug)]
pub struct Faults {
    /// A delivered message is lost instead.
    pub loss: f64,
    /// A delivered message stays in the network for a second delivery.
    pub duplication: f64,
    /// A live replica crashes (at most a minority is down at once).
    pub crash: f64,
    /// A crashed replica restarts with its storage wiped (else from its persisted state).
    pub wipe: f64,
    /// Total wipes per run, at most.
    pub wipes_max: usize,
    /// A replica's election timer fires (when armed), per step.
    pub election: f64,
}

impl Faults {
    /// Loss, duplication, crashes and wipes all on.
    pub fn hostile() -> Faults {
        Faults {
            loss: env_f64("PAXOS_LOSS", 0.05),
            duplication: 0.03,
            crash: env_f64("PAXOS_CRASH", 0.02),
            wipe: 0.3,
            wipes_max: 2,
            election: env_f64("PAXOS_ELECTION", 0.02),
        }
    }

    /// A perfect network and no crashes.
    pub fn none() -> Faults {
        Faults { loss: 0.0, duplication: 0.0, crash: 0.0, wipe: 0.0, wipes_max: 0, election: 0.002 }
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
    /// The faults.
    pub faults: Faults,
    /// Builds each replica's configuration (node, members).
    pub config: fn(NodeId, Vec<NodeId>) -> Config,
    /// The mutant every replica runs.
    #[cfg(feature = "mutants")]
    pub mutant: crate::core::Mutant,
}

impl Options {
    /// A small hostile run of `replicas` replicas.
    pub fn hostile(replicas: usize) -> Options {
        Options {
            replicas,
            clients: 4,
            steps: 3_000,
            liveness_steps: 20_000,
            keys: 3,
            faults: Faults::hostile(),
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
}

struct Host {
    replica: Option<Replica>,
    durable: DurableState,
    timers: BTreeSet<Timer>,
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

/// Where each request first appears in the chosen log, and the log replayed.
#[derive(Default)]
struct Reference {
    /// Requests in chosen order (slot, then position in the batch), first occurrences only.
    order: Vec<Request>,
    /// (client, sequence) → (position, outcomes of the replay).
    positions: BTreeMap<(ClientId, u64), (usize, Result<Vec<Outcome>, crate::core::RequestError>)>,
    /// Per key: (position from which it holds, value).
    history: BTreeMap<Vec<u8>, Vec<(usize, Option<Vec<u8>>)>>,
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
}

const CLUSTER: ClusterId = ClusterId(0x5eed);
const CLIENT_TIMEOUT_STEPS: usize = 400;

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
        };
        for &node in &members {
            let durable = DurableState::initial(CLUSTER);
            simulation.hosts.push(Host { replica: None, durable, timers: BTreeSet::new(), restarts: 0 });
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
        }
        self.liveness()?;
        self.summary.chosen = self.chosen.len() as u64;
        self.summary.leaders = self.ballots.len();
        self.summary.steps = self.step;
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
        self.execute(node, out);
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
        self.execute(node, out);
    }

    /// Carries out a step's outputs: persists first (durable at once), then sends and replies.
    fn execute(&mut self, node: NodeId, out: Vec<Output>) {
        let host = self.host(node);
        for output in &out {
            match output {
                Output::Persist(record) => host.durable.apply(record),
                Output::SetTimer(timer) => {
                    host.timers.insert(*timer);
                }
                Output::CancelTimer(timer) => {
                    host.timers.remove(timer);
                }
                Output::Send { .. } | Output::Reply(_) => {}
            }
        }
        for output in out {
            match output {
                Output::Send { to, envelope } => self.network.push((to, envelope)),
                Output::Reply(response) => self.on_response(node, response),
                Output::Persist(_) | Output::SetTimer(_) | Output::CancelTimer(_) => {}
            }
        }
        if let Some(ballot) = self.hosts[node.index() - 1]
            .replica
            .as_ref()
            .and_then(|replica| (replica.status() == Status::Leader).then(|| replica.ballot()).flatten())
        {
            self.ballots.insert(ballot);
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
        let roll: f64 = self.rng.random();
        let faults = self.options.faults.clone();
        if roll < faults.crash {
            // At most a minority is down or recovering at once: more is outside the fault model
            // (a majority of lost disks cannot be recovered by any protocol).
            let live = self.live();
            let down = self.members.len() - live.len() + self.recovering();
            if down < (self.members.len() - 1) / 2 && !live.is_empty() {
                let node = live[self.rng.random_range(0..live.len())];
                self.crash(node);
            }
            return Ok(());
        }
        if roll < faults.crash + 0.004 {
            let down: Vec<NodeId> =
                self.members.iter().copied().filter(|node| !self.live().contains(node)).collect();
            if let Some(&node) = down.first() {
                let wipe = self.wipes < faults.wipes_max
                    && self.recovering() == 0
                    && self.rng.random_bool(faults.wipe);
                self.restart(node, wipe);
            }
            return Ok(());
        }
        if roll < 0.12 {
            self.client_step();
            return Ok(());
        }
        if roll < 0.20 {
            self.fire_timer(false);
            return Ok(());
        }
        if roll < 0.20 + faults.election {
            self.fire_timer(true);
            return Ok(());
        }
        self.deliver_random(faults.loss, faults.duplication);
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
        }
        self.boot(node);
    }

    fn fire_timer(&mut self, election: bool) {
        let live = self.live();
        if live.is_empty() {
            return;
        }
        let node = live[self.rng.random_range(0..live.len())];
        let timers: Vec<Timer> = self.hosts[node.index() - 1]
            .timers
            .iter()
            .copied()
            .filter(|timer| (*timer == Timer::Election) == election)
            .collect();
        if timers.is_empty() {
            return;
        }
        let timer = timers[self.rng.random_range(0..timers.len())];
        self.host(node).timers.remove(&timer);
        self.deliver(node, Input::Timeout(timer));
    }

    fn deliver_random(&mut self, loss: f64, duplication: f64) {
        if self.network.is_empty() {
            return;
        }
        let index = self.rng.random_range(0..self.network.len());
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
            if self.step - call.invoked > CLIENT_TIMEOUT_STEPS {
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
        let key = format!("k{}", self.rng.random_range(0..self.options.keys)).into_bytes();
        self.next_value += 1;
        let fresh = format!("v{}", self.next_value).into_bytes();
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
                let result = kv.apply(request);
                if reference.positions.contains_key(&key) {
                    continue;
                }
                reference.order.push(request.clone());
                let position = reference.order.len();
                for operation in &request.operations {
                    if !operation.is_read() {
                        let written = kv.get(operation.key()).map(<[u8]>::to_vec);
                        let changes = reference.history.entry(operation.key().to_vec()).or_default();
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
        let value_at = |position: usize| -> Option<Vec<u8>> {
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
                read.as_ref().map(|value| String::from_utf8_lossy(value).into_owned()),
                call.floor
            ))),
        }
    }

    /// Heals everything and requires convergence and answers within `liveness_steps`.
    fn liveness(&mut self) -> Result<(), Violation> {
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
            if self.step % 97 == 0 {
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
