//! A stateright model of the paxos core: replicas are actors that wrap `paxos_core::Replica` and
//! call its `step` (the production code, not a copy); clients issue a bounded list of operations on
//! one key, recorded in a linearizability tester.
//!
//! # Glossary
//!
//! - **Candidate**: a replica whose election timer may fire (bounds how many replicas lead).
//! - **Round**: the round of a ballot; the model explores ballots up to `rounds`.
//! - **Wipe**: a restart with the disk lost (the replica must run the storage-loss recovery).
//! - **Mutant**: a deliberately broken core (`paxos` feature `mutants`) the checker must catch.
//!
//! # Layout
//!
//! - [`actor`]: the replica and client actors, and how a replica's outputs become stateright
//!   commands (persists saved within the step, before its sends become visible).
//! - [`driver`]: the stateright `Model` that drives those actors (stateright's `ActorModel`
//!   semantics, with successors built only when read, digests moved term by term, and a memo of
//!   the actors' steps).
//! - this file: [`ModelConfig`], the properties, the boundary.
//! - [`explain`]: counterexamples as numbered, readable steps.

pub mod actor;
pub mod driver;
pub mod explain;

use actor::{ClientOp, Digested, Msg, Node, State};
use driver::{Driver, World};
pub use paxos_core::Mutant;
use paxos_core::{Ballot, Config, Message, NodeId, NodeSet, Slot, Value};
use stateright::actor::{Envelope, Id};
use stateright::semantics::register::{Register, RegisterOp, RegisterRet};
use stateright::semantics::{ConsistencyTester, LinearizabilityTester};
use stateright::{Checker, Expectation, HasDiscoveries, Model as _, Property};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// The network semantics explored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetworkKind {
    /// Any deliverable message may be delivered next; none is duplicated.
    Unordered,
    /// Messages between two actors arrive in the order sent (FIFO).
    Ordered,
}

/// The membership change a model explores, requested by an administrator client of its own while
/// the other clients write and read. The voters are replicas `0..replicas`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reconfiguration {
    /// A learner (replica `replicas`, there from the start) is promoted: one more voter.
    Add,
    /// Voter 0, the first candidate (often the leader), is removed: one voter fewer.
    Remove,
    /// In one change the learner replaces the last voter: the old and new majorities need not
    /// intersect.
    Swap,
    /// The administrator asks to promote the last voter, already a voter: the change is chosen
    /// and, applied, refused (the membership stays as it was). Writes follow it in the log, and
    /// a leader elected later must settle them too.
    Refused,
}

impl Reconfiguration {
    /// Every kind, in the order the tiers explore them.
    pub const ALL: [Reconfiguration; 4] =
        [Reconfiguration::Swap, Reconfiguration::Add, Reconfiguration::Remove, Reconfiguration::Refused];

    /// The name on command lines.
    pub fn name(self) -> &'static str {
        match self {
            Reconfiguration::Add => "add",
            Reconfiguration::Remove => "remove",
            Reconfiguration::Swap => "swap",
            Reconfiguration::Refused => "refused",
        }
    }

    /// The change, in a cluster whose first voters are `0..voters`.
    pub fn change(self, voters: u8) -> paxos_core::Change {
        match self {
            Reconfiguration::Add => paxos_core::Change::Promote { node: NodeId(voters) },
            Reconfiguration::Remove => paxos_core::Change::Remove { node: NodeId(0) },
            Reconfiguration::Swap => {
                paxos_core::Change::Replace { old: NodeId(voters - 1), new: NodeId(voters) }
            }
            Reconfiguration::Refused => paxos_core::Change::Promote { node: NodeId(voters - 1) },
        }
    }

    /// Whether the model starts with a learner.
    pub fn learners(self) -> usize {
        match self {
            Reconfiguration::Add | Reconfiguration::Swap => 1,
            Reconfiguration::Remove | Reconfiguration::Refused => 0,
        }
    }
}

/// The bounds and variant of one model.
#[derive(Clone, Debug)]
pub struct ModelConfig {
    /// Replicas.
    pub replicas: usize,
    /// Clients (client `i` talks to replica `i % replicas`).
    pub clients: usize,
    /// Operations per client: a put of a value unique to the client, and gets (see
    /// [`ModelConfig::client_ops`]).
    pub ops: usize,
    /// Replicas whose election timer may fire (the first ones).
    pub candidates: usize,
    /// Highest ballot round explored.
    pub rounds: u64,
    /// Replica crashes (restarts) in total, and at most one down at a time.
    pub crashes: u8,
    /// Restarts with a wiped disk, in total.
    pub wipes: u8,
    /// Network semantics.
    pub network: NetworkKind,
    /// Messages the network may lose, in total (any message in flight that could be delivered
    /// next may be dropped instead).
    pub losses: u8,
    /// Firings of the replicas' `Retransmit` timers, in total: each resends what the replica has
    /// not had answered (Prepares, Accepts, forwarded requests), the core's own code. On a FIFO
    /// network a resend is how a message arrives after a later one from the same sender, as after
    /// a lost TCP connection.
    pub resends: u8,
    /// The membership change explored, if any.
    pub reconfigure: Option<Reconfiguration>,
    /// The broken variant to run.
    pub mutant: Mutant,
}

impl Default for ModelConfig {
    fn default() -> ModelConfig {
        ModelConfig {
            replicas: 3,
            clients: 2,
            ops: 1,
            candidates: 2,
            rounds: 1,
            crashes: 1,
            wipes: 0,
            network: NetworkKind::Unordered,
            losses: 0,
            resends: 0,
            reconfigure: None,
            mutant: Mutant::None,
        }
    }
}

impl ModelConfig {
    /// The bounds `model hunt` walks in: far deeper than any exhaustive tier (three candidates,
    /// three rounds, so up to nine ballots; three clients with a put and a get each; two
    /// crash-restarts; a reordering network that loses two messages and resends twice).
    pub fn hunting() -> ModelConfig {
        ModelConfig {
            replicas: 3,
            clients: 3,
            ops: 2,
            candidates: 3,
            rounds: 3,
            crashes: 2,
            wipes: 0,
            network: NetworkKind::Unordered,
            losses: 2,
            resends: 2,
            reconfigure: None,
            mutant: Mutant::None,
        }
    }

    /// Replicas, learners included: the actors before the clients.
    pub fn nodes(&self) -> usize {
        self.replicas + self.reconfigure.map_or(0, Reconfiguration::learners)
    }

    /// The first membership of the run.
    pub fn first_membership(&self) -> paxos_core::Membership {
        paxos_core::Membership {
            voters: (0..self.replicas).map(|index| NodeId(index as u8)).collect(),
            learners: (self.replicas..self.nodes()).map(|index| NodeId(index as u8)).collect(),
            ..paxos_core::Membership::default()
        }
    }

    /// The bounds in a few words, as the mutants' table shows them.
    pub fn describe(&self) -> String {
        let network = match self.network {
            NetworkKind::Unordered => "reordering",
            NetworkKind::Ordered => "FIFO",
        };
        let mut words = vec![
            format!("{} rounds", self.rounds),
            format!("{} clients x {} ops", self.clients, self.ops),
            network.to_string(),
        ];
        for (count, what) in
            [(self.crashes, "crash"), (self.wipes, "wipe"), (self.losses, "loss"), (self.resends, "resend")]
        {
            if count > 0 {
                words.push(format!("{count} {what}"));
            }
        }
        match self.reconfigure {
            Some(Reconfiguration::Refused) => words.push("a refused promotion".into()),
            Some(reconfiguration) => words.push(format!("{} a member", reconfiguration.name())),
            None => {}
        }
        words.join(", ")
    }

    /// The tiers `model check` explores by default, named, one after another (about three
    /// minutes on one core). Together they cover what no one tier fits in minutes, and every
    /// mutant is caught by one of them (`model mutants --tiers`):
    /// - two ballot rounds for each of two candidates (up to four ballots compete for a slot, so
    ///   a value accepted in one round must survive two more phase 1s), two clients that each
    ///   write, on a FIFO network that may lose a message;
    /// - one round with a crash-restart (and so the deferred syncs of group commit), on a FIFO
    ///   network with two writers, and on a network that delivers in any order with one;
    /// - two rounds where a replica's retransmit timer may fire once, so that a resent Prepare,
    ///   Accept or request arrives after a later message from the same sender (one client: two
    ///   clients and a resend are 109 million states, seven minutes);
    /// - reads: two clients that each write and read;
    /// - a crash that loses the disk (the storage-loss recovery);
    /// - membership changes: voter 0 (the first candidate, often the leader) removed while a
    ///   second candidate competes, over two rounds, one client; a learner swapped in for a voter,
    ///   and a learner promoted, each with two clients and one candidate over three rounds (a
    ///   follower that settles a change it did not know chosen campaigns twice: once in the old
    ///   configuration, once in the new). A swap with two competing candidates over two rounds did
    ///   not finish in fifteen minutes; over one round (where no leader of the new configuration
    ///   is reached) it catches every membership mutant (`model mutants`);
    /// - a refused change: the administrator promotes a voter (chosen, and refused when applied)
    ///   while two clients write through the two candidates, so that a leader elected after it
    ///   must settle the writes that follow it (two rounds are 90 million states, ten minutes).
    pub fn standard_tiers() -> Vec<(String, ModelConfig)> {
        let fifo = ModelConfig { network: NetworkKind::Ordered, crashes: 0, ..ModelConfig::default() };
        vec![
            ("two rounds, lossy FIFO".into(), ModelConfig { rounds: 2, losses: 1, ..fifo.clone() }),
            ("one round, FIFO, crash".into(), ModelConfig { crashes: 1, ..fifo.clone() }),
            (
                "one round, reordering, crash".into(),
                ModelConfig { clients: 1, crashes: 1, network: NetworkKind::Unordered, ..fifo.clone() },
            ),
            (
                "two rounds, a resend".into(),
                ModelConfig { rounds: 2, clients: 1, resends: 1, ..fifo.clone() },
            ),
            ("reads".into(), ModelConfig { ops: 2, ..fifo.clone() }),
            ("storage loss".into(), ModelConfig { crashes: 1, wipes: 1, ..fifo.clone() }),
            (
                "remove the leader".into(),
                ModelConfig {
                    rounds: 2,
                    clients: 1,
                    reconfigure: Some(Reconfiguration::Remove),
                    ..fifo.clone()
                },
            ),
            (
                "swap a voter".into(),
                ModelConfig {
                    rounds: 3,
                    candidates: 1,
                    reconfigure: Some(Reconfiguration::Swap),
                    ..fifo.clone()
                },
            ),
            (
                "add a voter".into(),
                ModelConfig {
                    rounds: 3,
                    candidates: 1,
                    reconfigure: Some(Reconfiguration::Add),
                    ..fifo.clone()
                },
            ),
            (
                "a refused promotion".into(),
                ModelConfig { reconfigure: Some(Reconfiguration::Refused), ..fifo },
            ),
        ]
    }
}

/// The auxiliary history of a run (TLA's auxiliary variables), shared and digested like the actor
/// states: the checker clones and hashes it with every state, and it changes only when a client
/// sends or receives, a replica first leads, or (in the tier of the refused change) an Accept
/// shows something new about the writes past the change.
#[derive(Clone, Debug, PartialEq, Hash)]
pub struct History(Digested<Record>);

/// What the [`History`] holds.
#[derive(Clone, Debug, PartialEq, Hash)]
pub struct Record {
    /// Client operations on the one key, as a register of single characters.
    pub tester: LinearizabilityTester<Id, Register<Option<char>>>,
    /// Whether `tester` has a linearization: searched once, when the tester changes, rather than
    /// at every state the property is evaluated on.
    pub linearizable: bool,
    /// Replicas that sent an Accept (led) so far.
    pub leaders: BTreeSet<NodeId>,
    /// Messages the network lost so far (bounded by [`ModelConfig::losses`]).
    pub losses: u8,
    /// Retransmit timers fired so far (bounded by [`ModelConfig::resends`]).
    pub resends: u8,
    /// Only in the tier of the refused change ([`Reconfiguration::Refused`]), from the Accepts
    /// sent: what happened around the change in the log.
    pub past_change: PastChange,
}

/// What the Accepts sent so far show of the writes that follow a membership change in the log
/// (tracked only where a property asks for it: every field is part of the state).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PastChange {
    /// The lowest slot an Accept proposed the change in.
    pub change: Option<Slot>,
    /// The first write proposed in a slot above the change: its slot and ballot.
    pub write: Option<(Slot, Ballot)>,
    /// A later leader proposed that write again, in a higher ballot: its phase 1 reported the
    /// write and the change before it.
    pub reproposed: bool,
}

impl PastChange {
    /// What is known after an Accept of `value` in `slot` at `ballot` (`None` if nothing new).
    fn after_accept(&self, ballot: Ballot, slot: Slot, value: &Value) -> Option<PastChange> {
        let writes =
            value.requests().iter().any(|request| request.change().is_none() && !request.is_read_only());
        let mut next = self.clone();
        if value.changes_membership() && self.change.is_none_or(|change| slot < change) {
            next.change = Some(slot);
        } else if writes && self.change.is_some_and(|change| change < slot) {
            match self.write {
                None => next.write = Some((slot, ballot)),
                Some((write, first)) if write == slot && first < ballot => next.reproposed = true,
                Some(_) => {}
            }
        }
        (next != *self).then_some(next)
    }
}

impl Default for History {
    fn default() -> History {
        History(Digested::new(Record {
            tester: LinearizabilityTester::default(),
            linearizable: true,
            leaders: BTreeSet::new(),
            losses: 0,
            resends: 0,
            past_change: PastChange::default(),
        }))
    }
}

impl std::ops::Deref for History {
    type Target = Record;

    fn deref(&self) -> &Record {
        &self.0
    }
}

impl History {
    /// The history after `change` to its tester (`None` if the tester refuses it), with the
    /// linearizability searched again.
    fn with_client_event(
        &self,
        change: impl FnOnce(&mut LinearizabilityTester<Id, Register<Option<char>>>) -> bool,
    ) -> Option<History> {
        let mut next = Record::clone(self);
        if !change(&mut next.tester) {
            return None;
        }
        next.linearizable = next.tester.serialized_history().is_some();
        Some(History(Digested::new(next)))
    }

    /// The history with one more message lost.
    pub(crate) fn with_loss(&self) -> History {
        let mut next = Record::clone(self);
        next.losses += 1;
        History(Digested::new(next))
    }

    /// The history with one more retransmit timer fired.
    pub(crate) fn with_resend(&self) -> History {
        let mut next = Record::clone(self);
        next.resends += 1;
        History(Digested::new(next))
    }

    /// The history with `leader` among the replicas that have led and `past_change` (the tester
    /// unchanged), if either is new.
    fn with_leader(&self, leader: NodeId, past_change: Option<PastChange>) -> Option<History> {
        let mut next = Record::clone(self);
        let new_leader = next.leaders.insert(leader);
        let changed = past_change.map(|past_change| next.past_change = past_change).is_some();
        (new_leader || changed).then(|| History(Digested::new(next)))
    }
}

/// The model type.
pub type Model = Driver;

impl ModelConfig {
    /// The operations of client `index`: one put of a value unique to the client, the rest gets.
    /// Even clients put first; odd clients read first, then put. A stale read needs a write that
    /// completed before the read began and began after an earlier write completed: two clients
    /// that both put first can never exhibit one, whatever the core does.
    pub fn client_ops(&self, index: usize) -> Vec<ClientOp> {
        let value = char::from(b'A' + (index % 26) as u8);
        let put_at = if index.is_multiple_of(2) { 0 } else { 1.min(self.ops - 1) };
        (0..self.ops).map(|op| if op == put_at { ClientOp::Put(value) } else { ClientOp::Get }).collect()
    }

    /// The replica configuration of replica `index`.
    pub fn replica_config(&self, index: usize) -> Config {
        let members = (0..self.replicas).map(|member| NodeId(member as u8)).collect();
        let mut config = Config::new(NodeId(index as u8), members);
        config.learners = (self.replicas..self.nodes()).map(|member| NodeId(member as u8)).collect();
        config.window_slots = 2;
        config.batch_requests_max = 4;
        config.sessions_max = 8;
        config.log_retain_slots = 64;
        config.snapshot_interval_slots = 1024;
        // Promotions of learners in any state, not only of those a node deems ready.
        config.promote_lag_max = None;
        config.mutant = self.mutant;
        config
    }

    /// The actors: replicas `0..replicas` (the first `candidates` may start elections), then the
    /// clients (client `i` talks to replica `i % replicas`).
    pub fn actors(&self) -> Vec<Node> {
        let replicas = (0..self.nodes()).map(|index| Node::Replica {
            config: self.replica_config(index),
            candidate: index < self.candidates,
            wipes_max: self.wipes,
            sync_deferred: self.crashes > 0,
            retransmits: self.resends > 0,
        });
        let clients = (0..self.clients).map(|index| Node::Client {
            server: Id::from(index % self.replicas),
            ops: self.client_ops(index),
        });
        // The administrator talks to replica 0, the first candidate: its change can reach a leader
        // before a client's write, so that writes follow the change in the log (no heartbeats are
        // modelled, so a follower relays only once some slot told it who leads).
        let administrator = self.reconfigure.map(|reconfiguration| Node::Client {
            server: Id::from(0),
            ops: vec![ClientOp::Member(reconfiguration, self.replicas as u8)],
        });
        replicas.chain(clients).chain(administrator).collect()
    }

    /// Actors down at once, at most (`within_boundary` keeps clients up and bounds the total).
    pub fn max_crashes(&self) -> usize {
        usize::from(self.crashes.min(1))
    }

    /// Builds the stateright model.
    pub fn into_model(self) -> Model {
        let mut properties = vec![
            Property::always("linearizable", |_: &Model, state: &World| state.history.linearizable),
            Property::always("agreement", |model: &Model, state: &World| {
                agreement(&model.cfg, state).is_ok()
            }),
            Property::always("applied prefixes agree", |_: &Model, state: &World| {
                applied_prefixes_agree(state)
            }),
            Property::always("one configuration per slot", |model: &Model, state: &World| {
                chosen_by_its_voters(&model.cfg, state).is_ok()
            }),
            Property::sometimes("all clients done", |_: &Model, state: &World| all_clients_done(state)),
        ];
        if self.candidates >= 2 {
            properties.push(Property::sometimes("leadership changed", |_: &Model, state: &World| {
                state.history.leaders.len() >= 2
            }));
        }
        if self.reconfigure == Some(Reconfiguration::Refused) {
            // What the refused change is for: a write proposed past it, and a later leader whose
            // phase 1 reports both and proposes the write again.
            properties.push(Property::sometimes(
                "a write past the refused change proposed again by a later leader",
                |_: &Model, state: &World| state.history.past_change.reproposed,
            ));
        } else if self.reconfigure.is_some() {
            // What a membership tier is for: the change is chosen, and a replica leads in the new
            // configuration (its phase 1 among the new voters done).
            properties.push(Property::sometimes(
                "a leader of the new membership",
                |_: &Model, state: &World| {
                    replicas(state).any(|replica| {
                        replica.replica.membership().version > 0
                            && replica.replica.status() == paxos_core::Status::Leader
                    })
                },
            ));
        }
        if self.rounds >= 2 && self.replicas >= 3 && self.candidates >= 2 {
            // What the second round is for: competing proposers leave one slot accepted in three
            // ballots, which only the highest-ballot rule of phase 1 sorts out.
            properties
                .push(Property::sometimes("a slot accepted in three ballots", |_: &Model, state: &World| {
                    slot_accepted_in_ballots(state, 3)
                }));
        }
        Driver::new(self, properties)
    }
}

/// The replicas' states, read through [`World::actor_state`] (without building the state's body).
fn replicas(state: &World) -> impl Iterator<Item = &actor::ReplicaState> {
    (0..state.actor_count()).filter_map(|index| match state.actor_state(index) {
        State::Replica(replica) => Some(&**replica),
        State::Client(_) => None,
    })
}

/// Agreement, from the acceptors' durable states: no slot has two different values each accepted
/// by a quorum in one ballot; and no two replicas learned different values for one slot.
///
/// # Errors
///
/// The slot and what disagrees.
pub fn agreement(config: &ModelConfig, state: &World) -> Result<(), String> {
    // A value counts as chosen if a majority of the voters of any configuration of the run
    // accepted it in one ballot: the properties do not trust the core to know which configuration
    // a slot has.
    // A handful of votes per state: a vector beats a map (this runs on every state).
    let mut votes: Vec<((Slot, Ballot, &Value), NodeSet)> = Vec::new();
    for (index, storage) in state.actor_storages.iter().enumerate() {
        if let Some(actor::Disk::Replica(saved)) = storage {
            for (slot, (ballot, value)) in &saved.durable.accepted {
                let vote = (*slot, *ballot, value);
                let voter = NodeId(index as u8);
                match votes.iter_mut().find(|(seen, _)| *seen == vote) {
                    Some((_, voters)) => {
                        voters.insert(voter);
                    }
                    None => votes.push((vote, [voter].into_iter().collect())),
                }
            }
        }
    }
    // Slot by slot, with the voters of each slot's configuration: the first membership with every
    // change chosen in an earlier slot applied. The properties do not take the core's word for
    // which configuration a slot has.
    votes.sort_unstable_by_key(|((slot, ballot, _), _)| (*slot, *ballot));
    let mut membership = config.first_membership();
    let mut chosen: Vec<(Slot, &Value)> = Vec::new();
    let mut index = 0;
    while index < votes.len() {
        let slot = votes[index].0 .0;
        let end = votes[index..]
            .iter()
            .position(|((other, _, _), _)| *other != slot)
            .map_or(votes.len(), |n| index + n);
        let mut decided: Option<&Value> = None;
        for ((_, _, value), voted) in &votes[index..end] {
            if voted.intersection(membership.voters).len() >= membership.quorum() {
                if let Err(other) = one_value(&mut chosen, slot, value) {
                    return Err(format!("slot {slot} chosen with {other:?} and {value:?}"));
                }
                decided = Some(value);
            }
        }
        for change in
            decided.iter().flat_map(|value| value.requests()).filter_map(paxos_core::Request::change)
        {
            let _ = membership.apply(change);
        }
        index = end;
    }
    let mut learned: Vec<(Slot, &Value)> = Vec::new();
    for replica in replicas(state) {
        if let Some(slot) = replica.replica.conflict() {
            return Err(format!("{} learned two values for slot {slot}", replica.replica.node()));
        }
        let log = replica.replica.log();
        let mut slot = log.start();
        while slot < log.end() {
            if let Some(value) = log.entry(slot).and_then(|entry| entry.chosen.as_ref()) {
                if let Err(other) = one_value(&mut learned, slot, value) {
                    return Err(format!("slot {slot} learned as {other:?} and as {value:?}"));
                }
            }
            slot = slot.next();
        }
    }
    Ok(())
}

/// One configuration per slot: every value a replica knows chosen is held, on their disks, by a
/// majority of the voters of its slot's configuration, the one the replica's chosen prefix
/// defines (the first membership with every change chosen below the slot applied). A value that
/// voters of another configuration decided (a change used from the moment it was proposed, votes
/// of a removed node or a learner counted) fails it, though no second value may be chosen yet.
///
/// # Errors
///
/// The replica, slot and the voters that hold it.
pub fn chosen_by_its_voters(config: &ModelConfig, state: &World) -> Result<(), String> {
    let holders = |slot: Slot, value: &Value| -> NodeSet {
        let mut held = NodeSet::new();
        for (index, storage) in state.actor_storages.iter().enumerate() {
            if let Some(actor::Disk::Replica(saved)) = storage {
                // A disk that was lost may have held it: what keeps a vote of a replica that lost
                // its storage from counting twice is the crash vector (see `agreement`), not this.
                if saved.wipes > 0
                    || saved.durable.accepted.get(&slot).is_some_and(|(_, accepted)| accepted == value)
                    || saved.durable.snapshot.as_ref().is_some_and(|(covered, _)| slot < *covered)
                {
                    held.insert(NodeId(index as u8));
                }
            }
        }
        held
    };
    for replica in replicas(state) {
        let log = replica.replica.log();
        let mut membership = config.first_membership();
        let mut slot = Slot(0);
        while slot < log.commit() {
            if slot >= log.start() {
                let Some(value) = log.entry(slot).and_then(|entry| entry.chosen.as_ref()) else { break };
                let held = holders(slot, value).intersection(membership.voters);
                if held.len() < membership.quorum() {
                    return Err(format!(
                        "{} knows slot {slot} chosen, but only {} of the voters {:?} hold it",
                        replica.replica.node(),
                        held.len(),
                        membership.voters.iter().collect::<Vec<_>>()
                    ));
                }
                for change in value.requests().iter().filter_map(paxos_core::Request::change) {
                    let _ = membership.apply(change);
                }
            }
            slot = slot.next();
        }
    }
    Ok(())
}

/// Records `value` for `slot` in `values` (a handful per state: a vector beats a map, and this runs
/// on every state); the value already there if it differs.
fn one_value<'a>(values: &mut Vec<(Slot, &'a Value)>, slot: Slot, value: &'a Value) -> Result<(), &'a Value> {
    match values.iter().find(|(seen, _)| *seen == slot) {
        Some(&(_, other)) if other != value => Err(other),
        Some(_) => Ok(()),
        None => {
            values.push((slot, value));
            Ok(())
        }
    }
}

/// Some slot is accepted, on the replicas' disks, in at least `ballots` distinct ballots.
pub fn slot_accepted_in_ballots(state: &World, ballots: usize) -> bool {
    let mut seen: Vec<(Slot, Ballot)> = Vec::new();
    for storage in state.actor_storages.iter().flatten() {
        if let actor::Disk::Replica(saved) = storage {
            for (slot, (ballot, _)) in &saved.durable.accepted {
                if !seen.contains(&(*slot, *ballot)) {
                    seen.push((*slot, *ballot));
                }
            }
        }
    }
    seen.iter().any(|(slot, _)| seen.iter().filter(|(other, _)| other == slot).count() >= ballots)
}

/// Two replicas that applied the same number of slots hold the same state machine.
pub fn applied_prefixes_agree(state: &World) -> bool {
    let mut seen: Vec<(Slot, &paxos_core::KvStore)> = Vec::new();
    replicas(state).all(|replica| {
        let applied = replica.replica.log().applied();
        let kv = replica.replica.kv();
        match seen.iter().find(|(slot, _)| *slot == applied) {
            Some((_, other)) => *other == kv,
            None => {
                seen.push((applied, kv));
                true
            }
        }
    })
}

fn all_clients_done(state: &World) -> bool {
    state.actor_states.iter().all(|actor| match actor {
        State::Client(client) => client.halted,
        State::Replica(_) => true,
    })
}

/// Bounds the exploration: ballot rounds, crashes (restarts so far plus replicas down now) and
/// wipes; clients never crash (a restarted client would be a different client).
fn within_boundary(config: &ModelConfig, state: &World) -> bool {
    // Read through the state's accessors: most states checked here are never built (see `World`).
    let actors = 0..state.actor_count();
    bounds_hold(
        config,
        replicas(state),
        actors.clone().map(|index| state.storage(index)),
        actors.map(|index| state.is_crashed(index)),
    )
}

/// [`ModelConfig`]'s bounds on a state given by parts: its replicas, every actor's disk, and which
/// actors are down (in actor order). Public for the test that compares the model's driver with
/// stateright's `ActorModel`.
pub fn bounds_hold<'a>(
    config: &ModelConfig,
    mut replicas: impl Iterator<Item = &'a actor::ReplicaState>,
    storages: impl Iterator<Item = Option<&'a actor::Disk>>,
    crashed: impl Iterator<Item = bool>,
) -> bool {
    let rounds_ok = replicas.all(|replica| replica.replica.promised().round <= config.rounds);
    let (restarts, wipes) = storages.fold((0u32, 0u32), |(restarts, wipes), disk| match disk {
        Some(actor::Disk::Replica(saved)) => {
            (restarts + u32::from(saved.restarts), wipes + u32::from(saved.wipes))
        }
        _ => (restarts, wipes),
    });
    let (mut down, mut clients_up) = (0u32, true);
    for (index, crashed) in crashed.enumerate() {
        if index < config.nodes() {
            down += u32::from(crashed);
        } else {
            clients_up &= !crashed;
        }
    }
    rounds_ok
        && restarts + down <= u32::from(config.crashes)
        && wipes <= u32::from(config.wipes)
        && clients_up
}

/// The history after a message is sent: a client's request invokes an operation, a replica's
/// first Accept makes it a leader.
pub fn record_out(config: &ModelConfig, history: &History, envelope: Envelope<&Msg>) -> Option<History> {
    match envelope.msg {
        Msg::Request(request) if usize::from(envelope.src) >= config.nodes() => {
            if request.change().is_some() {
                return None;
            }
            let op = match &request.operations[0] {
                paxos_core::Operation::Put { value, .. } => {
                    RegisterOp::Write(value.first().map(|&byte| byte as char))
                }
                _ => RegisterOp::Read,
            };
            history.with_client_event(|tester| tester.on_invoke(envelope.src, op).is_ok())
        }
        Msg::Peer(peer) => {
            let Message::Accept { ballot, slot, value, .. } = &peer.message else { return None };
            let past_change = (config.reconfigure == Some(Reconfiguration::Refused))
                .then(|| history.past_change.after_accept(*ballot, *slot, value))
                .flatten();
            if history.leaders.contains(&peer.from) && past_change.is_none() {
                return None;
            }
            history.with_leader(peer.from, past_change)
        }
        _ => None,
    }
}

/// The history after a message is delivered: a response to a client completes its operation.
pub fn record_in(config: &ModelConfig, history: &History, envelope: Envelope<&Msg>) -> Option<History> {
    let Msg::Response(response) = envelope.msg else { return None };
    if usize::from(envelope.dst) < config.nodes() {
        return None;
    }
    let ret = match response.result.as_ref().ok()?.first()? {
        paxos_core::Outcome::Written => RegisterRet::WriteOk,
        paxos_core::Outcome::Value(_) => RegisterRet::ReadOk(actor::outcome_value(response)?),
        paxos_core::Outcome::Deleted(_)
        | paxos_core::Outcome::Swapped(_)
        | paxos_core::Outcome::Member(_) => return None,
    };
    history.with_client_event(|tester| tester.on_return(envelope.dst, ret).is_ok())
}

/// How the checker walks the state space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Search {
    /// Depth-first: about 20 bytes per state, long counterexamples.
    Dfs,
    /// Breadth-first: shortest counterexamples (single-threaded), about 1 KB per state.
    Bfs,
}

/// One property's result.
#[derive(Clone, Debug)]
pub struct PropertyResult {
    /// Its name.
    pub name: String,
    /// `always` (an invariant), `sometimes` (must be reachable) or `eventually`.
    pub expectation: String,
    /// `holds`, `VIOLATED`, `reached` or `NEVER REACHED`.
    pub verdict: String,
    /// Whether this result is a failure.
    pub failed: bool,
}

/// The result of one check.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Distinct states explored.
    pub unique_states: usize,
    /// States generated, duplicates included.
    pub total_states: usize,
    /// The deepest path explored.
    pub max_depth: usize,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Every property's result.
    pub properties: Vec<PropertyResult>,
    /// The first failing property and its counterexample, explained.
    pub counterexample: Option<(String, String)>,
    /// Steps in that counterexample.
    pub counterexample_steps: usize,
    /// For each `sometimes` property reached: a path that reaches it, explained.
    pub examples: Vec<(String, String)>,
}

/// Explores every state of `config`'s model and checks every property; stops at the first
/// failure. A `sometimes` property never reached is a failure too: the check would be vacuous.
pub fn run(config: ModelConfig, search: Search, threads: usize) -> Outcome {
    run_reporting(config, search, threads, None)
}

/// [`run`], printing a progress line to stderr every `progress` while the search runs.
pub fn run_reporting(
    config: ModelConfig,
    search: Search,
    threads: usize,
    progress: Option<Duration>,
) -> Outcome {
    // A second instance judges the states of counterexamples (the checker owns the first).
    let judge = config.clone().into_model();
    let model = config.into_model();
    let started = Instant::now();
    let builder = model.checker().threads(threads.max(1)).finish_when(HasDiscoveries::AnyFailures);
    match (search, progress) {
        (Search::Dfs, None) => summarize(&judge, builder.spawn_dfs().join(), started),
        (Search::Bfs, None) => summarize(&judge, builder.spawn_bfs().join(), started),
        (Search::Dfs, Some(every)) => summarize(
            &judge,
            builder.spawn_dfs().report(&mut Progress { every, printed: Duration::ZERO }).join(),
            started,
        ),
        (Search::Bfs, Some(every)) => summarize(
            &judge,
            builder.spawn_bfs().report(&mut Progress { every, printed: Duration::ZERO }).join(),
            started,
        ),
    }
}

/// Random walks instead of an exhaustive search (stateright's simulation checker), for bounds far
/// too large to explore: each walk starts from the initial state and takes actions chosen at
/// random from `seed` until no action is left, a bound is reached or the walk revisits a state;
/// walks repeat until `seconds` pass or a property fails. An `always` property that fails has
/// its counterexample explained as [`run`] explains one; a `sometimes` property a walk never
/// reached is not a failure here (missing a state proves nothing). With one thread the walks are
/// a function of the seed: a failure found in time T is found again with the same seed in T.
pub fn hunt(config: ModelConfig, seed: u64, seconds: u64, threads: usize) -> Outcome {
    let judge = config.clone().into_model();
    let mut model = config.into_model();
    model.offer_only_effective_actions();
    let started = Instant::now();
    let checker = model
        .checker()
        .threads(threads.max(1))
        .timeout(Duration::from_secs(seconds))
        .finish_when(HasDiscoveries::AnyFailures)
        .spawn_simulation(seed, MostlyDeliveries)
        .join();
    let mut outcome = summarize(&judge, checker, started);
    for property in &mut outcome.properties {
        match (property.expectation.as_str(), property.failed) {
            ("sometimes", true) => {
                property.verdict = "not reached".into();
                property.failed = false;
            }
            ("always", false) => property.verdict = "no violation found".into(),
            _ => {}
        }
    }
    if outcome.properties.iter().all(|property| !property.failed) {
        outcome.counterexample = None;
    }
    outcome
}

/// How a hunting walk chooses its next action: a message delivery nine times in ten (if any is
/// possible), else any action, uniformly. Drawn uniformly, a walk spends itself on faults: on a
/// network that may lose and resend, with crashes, most actions are faults, and a walk that
/// crashes, drops and re-arms at every other step ends before two proposers ever meet.
#[derive(Clone)]
struct MostlyDeliveries;

impl stateright::Chooser<Model> for MostlyDeliveries {
    type State = rand::rngs::StdRng;

    fn new_state(&self, seed: u64) -> rand::rngs::StdRng {
        rand::SeedableRng::seed_from_u64(seed)
    }

    fn choose_initial_state(&self, _rng: &mut rand::rngs::StdRng, _initial: &[World]) -> usize {
        0
    }

    fn choose_action(
        &self,
        rng: &mut rand::rngs::StdRng,
        _state: &World,
        actions: &[driver::Action],
    ) -> usize {
        use rand::Rng;
        let deliveries: Vec<usize> = actions
            .iter()
            .enumerate()
            .filter(|(_, action)| matches!(action, stateright::actor::ActorModelAction::Deliver { .. }))
            .map(|(index, _)| index)
            .collect();
        if !deliveries.is_empty() && rng.random_bool(0.9) {
            deliveries[rng.random_range(0..deliveries.len())]
        } else {
            rng.random_range(0..actions.len())
        }
    }
}

/// Progress lines for long runs: states so far, depth, rate. (Stateright polls a reporter at its
/// `delay` and waits that long before it sees the search end, so it is polled often and prints
/// only every `every`.)
struct Progress {
    every: Duration,
    printed: Duration,
}

impl<M: stateright::Model> stateright::report::Reporter<M> for Progress {
    fn report_checking(&mut self, data: stateright::report::ReportData) {
        if !data.done && data.duration >= self.printed + self.every {
            self.printed = data.duration;
            let seconds = data.duration.as_secs_f64().max(1e-9);
            eprintln!(
                "  ... {} unique states, {} total, depth {}, {:.0} s, {:.0} unique states/s",
                data.unique_states,
                data.total_states,
                data.max_depth,
                seconds,
                data.unique_states as f64 / seconds
            );
        }
    }

    fn report_discoveries(
        &mut self,
        _model: &M,
        _discoveries: std::collections::BTreeMap<&'static str, stateright::report::ReportDiscovery<M>>,
    ) where
        M::Action: std::fmt::Debug + PartialEq,
        M::State: std::fmt::Debug + std::hash::Hash + PartialEq,
    {
        // The summary that follows the run reports them.
    }

    fn delay(&self) -> Duration {
        Duration::from_millis(20)
    }
}

fn summarize(judge: &Model, checker: impl Checker<Model>, started: Instant) -> Outcome {
    let replicas = judge.cfg.nodes();
    let properties = judge.properties();
    let seconds = started.elapsed().as_secs_f64();
    let mut counterexample = None;
    let mut counterexample_steps = 0;
    let mut examples = Vec::new();
    let results = properties
        .iter()
        .map(|property| {
            let discovery = checker.discovery(property.name);
            let (expectation, verdict, failed) = match (&property.expectation, &discovery) {
                (Expectation::Always, None) => ("always", "holds", false),
                (Expectation::Always, Some(_)) => ("always", "VIOLATED", true),
                (Expectation::Eventually, None) => ("eventually", "holds", false),
                (Expectation::Eventually, Some(_)) => ("eventually", "VIOLATED", true),
                (Expectation::Sometimes, Some(_)) => ("sometimes", "reached", false),
                (Expectation::Sometimes, None) => ("sometimes", "NEVER REACHED", true),
            };
            let holds = |state: &World| (property.condition)(judge, state);
            if let (true, Some(path), None) = (failed, &discovery, &counterexample) {
                // Cut the path at the first state that violates the property.
                let (text, steps) = explain::path(replicas, path, |state| !holds(state));
                counterexample_steps = steps;
                counterexample = Some((property.name.to_string(), text));
            }
            if let (Expectation::Sometimes, Some(path)) = (&property.expectation, &discovery) {
                let (text, _) = explain::path(replicas, path, holds);
                examples.push((property.name.to_string(), text));
            }
            PropertyResult {
                name: property.name.into(),
                expectation: expectation.into(),
                verdict: verdict.into(),
                failed,
            }
        })
        .collect::<Vec<_>>();
    if counterexample.is_none() {
        if let Some(unreached) = results.iter().find(|result| result.failed) {
            counterexample = Some((unreached.name.clone(), "no state within the bounds satisfies it".into()));
        }
    }
    Outcome {
        unique_states: checker.unique_state_count(),
        total_states: checker.state_count(),
        max_depth: checker.max_depth(),
        seconds,
        properties: results,
        counterexample,
        counterexample_steps,
        examples,
    }
}

/// Serves the stateright Explorer for `config`'s model on `address` (blocks).
///
/// # Errors
///
/// The address cannot be listened on.
pub fn explore(config: ModelConfig, address: &str) -> Result<(), String> {
    // The Explorer panics if it cannot bind: find out first, with a readable error.
    drop(
        std::net::TcpListener::bind(address)
            .map_err(|error| format!("cannot listen on {address}: {error}"))?,
    );
    println!("serving the stateright Explorer on http://{address}/");
    config.into_model().checker().serve(address);
    Ok(())
}

/// The smallest configuration in which `mutant` is caught: each mutant needs a different part of
/// the protocol exercised (a crash for a forgotten promise, a wipe for recovery, a second leader
/// for a skipped phase 1, a read for an unconfirmed read).
pub fn mutant_config(mutant: Mutant) -> ModelConfig {
    let base = ModelConfig { mutant, network: NetworkKind::Ordered, ..ModelConfig::default() };
    match mutant {
        Mutant::None => base,
        Mutant::ForgetPromise => ModelConfig { crashes: 1, ..base },
        Mutant::SendBeforePersist => ModelConfig { crashes: 1, ..base },
        Mutant::MinorityQuorum => ModelConfig { crashes: 0, ..base },
        Mutant::SkipPrepare => ModelConfig { crashes: 0, ..base },
        Mutant::NoRecovery => ModelConfig { crashes: 1, wipes: 1, ..base },
        Mutant::UnconfirmedReads => ModelConfig { ops: 2, crashes: 0, ..base },
        Mutant::EarlyVotes => ModelConfig { crashes: 1, ..base },
        Mutant::FirstReportedValue | Mutant::StalePromises => ModelConfig { rounds: 2, crashes: 0, ..base },
        Mutant::AcceptBelowPromise | Mutant::IgnoreReportedSlots => ModelConfig { crashes: 0, ..base },
        Mutant::CommitAnyBallot => ModelConfig { clients: 3, crashes: 0, losses: 1, ..base },
        // Two writers around a swap, one round: two leaders of round 1 that both see the change
        // chosen are what a missing new election lets decide one slot twice.
        Mutant::ConfigOnAccept | Mutant::TwoChanges | Mutant::SwapWithoutElection | Mutant::RemovedVotes => {
            ModelConfig { crashes: 0, reconfigure: Some(Reconfiguration::Swap), ..base }
        }
        // Two writers around a refused promotion, one round: the second candidate's election
        // reports the first leader's write after the change.
        Mutant::PastRefusedChange => {
            ModelConfig { crashes: 0, reconfigure: Some(Reconfiguration::Refused), ..base }
        }
    }
}
