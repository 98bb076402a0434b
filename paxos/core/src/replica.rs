//! [`Replica`]: one member of a Multi-Paxos group, stepped by its runtime. It plays every role at
//! once (acceptor, proposer, learner) and hosts the key-value state machine.
//!
//! The handlers live beside this file, one file per role: `acceptor.rs` (phase 1b and 2b),
//! `proposer.rs` (elections, phase 1a and 2a, pipelining), `learner.rs` (commit knowledge and
//! catch-up), `clients.rs` (requests, forwarding, linearizable reads) and `recovery.rs` (storage
//! loss).

use super::command::{Request, RequestError, Response, Value};
use super::config::{mutant, Config, ConfigError};
use super::counters::Counters;
use super::durable::{DurableState, Joined};
use super::io::{Input, Output, Persist, Release, Timer};
use super::kv::KvStore;
use super::log::Log;
use super::membership::{MemberError, Membership};
use super::message::{Envelope, Message};
use super::proposer::{Candidate, Leader};
use super::recovery::Recovery;
use super::types::{Ballot, ClientId, ClusterId, NodeId, NodeSet, Slot};
use std::collections::BTreeMap;
use std::sync::Arc;

/// What a replica is doing.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum Role {
    /// Lost its storage: neither promises nor accepts until recovered (see `recovery.rs`).
    Recovering(Recovery),
    /// Accepts what the leader proposes.
    Follower,
    /// Running phase 1 for its ballot.
    Candidate(Candidate),
    /// Phase 1 done: proposes with phase 2 only.
    Leader(Box<Leader>),
}

/// The role of a replica, for status displays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    /// Recovering from storage loss.
    Recovering,
    /// Following a leader (or waiting for one).
    Follower,
    /// Running an election.
    Candidate,
    /// Leading.
    Leader,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Recovering => "recovering",
            Status::Follower => "follower",
            Status::Candidate => "candidate",
            Status::Leader => "leader",
        })
    }
}

/// One replica of the replicated key-value store: a pure state machine over [`Input`]s.
///
/// See [`io`](super::io) for the runtime's obligations; [`Replica::step`] is the only way in.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Replica {
    /// Shared: cloning a replica (the model checker does, at every step) must not copy it.
    pub(super) config: Arc<Config>,
    /// [`ClusterId::UNKNOWN`] while recovering.
    pub(super) cluster: ClusterId,
    pub(super) incarnation: u64,
    /// The crash vector: the highest known incarnation of each node, indexed by node id.
    pub(super) incarnations: Vec<u64>,
    /// The acceptor's promise (durable).
    pub(super) promised: Ballot,
    /// The highest ballot seen in any message: the next election goes above it.
    pub(super) highest_seen: Ballot,
    pub(super) log: Log,
    pub(super) kv: KvStore,
    pub(super) role: Role,
    /// Who this replica believes leads; its clients' requests are relayed there.
    pub(super) leader: Option<NodeId>,
    /// Requests of this node's clients awaiting a response (one per session).
    pub(super) pending: BTreeMap<ClientId, Request>,
    /// The peer asked for missing chosen values, while an answer is awaited.
    pub(super) learning: Option<NodeId>,
    /// Lease mode: the leader on whose behalf this follower refuses other candidates.
    pub(super) lease_guard: Option<NodeId>,
    /// The slot of the last persisted snapshot.
    pub(super) snapshot_slot: Slot,
    /// Set instead of panicking when a mutant makes two values chosen in one slot.
    pub(super) conflict: Option<Slot>,
    /// What happened so far (no part of the replica's identity: see [`Counters`]).
    pub(super) counters: Counters,
    /// Persists that the `SendBeforePersist` mutant emits one step late.
    #[cfg(feature = "mutants")]
    pub(super) deferred: Vec<Persist>,
}

impl Replica {
    /// Restores a replica from its durable state. A state that never joined a cluster (storage
    /// loss) makes the replica recover first, as attempt `nonce` (a random number from the runtime,
    /// so that answers to an earlier attempt are not mistaken for answers to this one).
    ///
    /// Call [`Replica::start`] next.
    ///
    /// # Errors
    ///
    /// If the configuration is invalid.
    pub fn new(config: Config, durable: DurableState, nonce: u64) -> Result<Replica, ConfigError> {
        config.validate()?;
        let nodes = config.members.iter().chain(&config.learners).chain([&config.node]);
        let width = nodes.map(|member| member.index() + 1).max().unwrap_or(0);
        let first = Membership::initial(&config.members, &config.learners);
        let mut replica = Replica {
            kv: KvStore::with_membership(config.sessions_max, first),
            config: Arc::new(config),
            cluster: ClusterId::UNKNOWN,
            incarnation: 0,
            incarnations: vec![0; width],
            promised: Ballot::ZERO,
            highest_seen: Ballot::ZERO,
            log: Log::default(),
            role: Role::Follower,
            leader: None,
            pending: BTreeMap::new(),
            learning: None,
            lease_guard: None,
            snapshot_slot: Slot(0),
            conflict: None,
            counters: Counters::default(),
            #[cfg(feature = "mutants")]
            deferred: Vec::new(),
        };
        match durable.joined {
            Some(Joined { cluster, incarnation, .. }) => {
                replica.cluster = cluster;
                replica.incarnation = incarnation;
                replica.promised = durable.promised;
                replica.highest_seen = durable.promised;
                for (node, known) in durable.incarnations {
                    if let Some(slot) = replica.incarnations.get_mut(node.index()) {
                        *slot = known;
                    }
                }
                let own = replica.config.node.index();
                replica.incarnations[own] = incarnation;
                if let Some((slot, state)) = durable.snapshot {
                    replica.kv = (*state).clone();
                    replica.log.install_snapshot(slot);
                    replica.snapshot_slot = slot;
                }
                for (slot, (ballot, value)) in durable.accepted {
                    replica.log.accept(slot, ballot, value);
                }
                replica.log.raise_chosen_floor(durable.chosen_floor);
            }
            None => {
                let first = replica.config.members.iter().copied().collect();
                replica.role = Role::Recovering(Recovery::new(nonce, first));
            }
        }
        Ok(replica)
    }

    /// Emits what a freshly started replica does: arm its timers, or begin its recovery.
    pub fn start(&mut self, out: &mut Vec<Output>) {
        out.push(Output::SetTimer(Timer::Retransmit));
        if matches!(self.role, Role::Recovering(_)) {
            self.start_recovery(out);
        } else {
            out.push(Output::SetTimer(Timer::Election));
        }
    }

    /// Handles one input, appending the resulting actions to `out` in order.
    pub fn step(&mut self, input: Input, out: &mut Vec<Output>) {
        #[cfg(feature = "mutants")]
        for record in std::mem::take(&mut self.deferred) {
            out.push(Output::Persist(record));
        }
        match input {
            Input::Receive(envelope) => self.receive(envelope, out),
            Input::Requests(requests) => self.on_requests(requests, out),
            Input::Abandon(client) => {
                self.pending.remove(&client);
            }
            Input::Timeout(timer) => self.on_timeout(timer, out),
        }
    }

    fn receive(&mut self, envelope: Envelope, out: &mut Vec<Output>) {
        let Envelope { cluster, from, incarnation, message } = envelope;
        // Any node of the cluster may write: members change while the cluster runs, and the
        // cluster id is what keeps strangers out. Whose votes count is each tally's business.
        if from.index() >= NodeSet::CAPACITY {
            return;
        }
        let recovery = matches!(
            message,
            Message::RecoverQuery { .. }
                | Message::RecoverQueryReply { .. }
                | Message::Recover { .. }
                | Message::RecoverReply { .. }
        );
        let same_cluster = cluster == self.cluster && cluster != ClusterId::UNKNOWN;
        let recovery_contact =
            recovery && (cluster == ClusterId::UNKNOWN || self.cluster == ClusterId::UNKNOWN);
        if !same_cluster && !recovery_contact {
            return;
        }
        match message {
            Message::Prepare { ballot, from: first } => self.on_prepare(from, ballot, first, out),
            Message::Promise { ballot, chosen, reports, incarnations } => {
                self.on_promise(from, incarnation, ballot, (chosen, reports), &incarnations, out)
            }
            Message::Accept { ballot, slot, value, committed } => {
                self.on_accept(from, ballot, slot, value, committed, out)
            }
            Message::Accepted { ballot, slot, committed, incarnations } => {
                self.on_accepted(from, incarnation, (ballot, slot, committed), &incarnations, out)
            }
            Message::Reject { ballot, promised } => self.on_reject(ballot, promised, out),
            Message::Commit { ballot, committed, round } => {
                self.on_commit(from, ballot, committed, round, out)
            }
            Message::CommitAck { ballot, round, progress } => {
                self.on_commit_ack(from, ballot, (round, progress), out)
            }
            Message::LearnRequest { from: first } => self.on_learn_request(from, first, out),
            Message::LearnReply { from: first, values, committed } => {
                self.on_learn_reply(from, first, values, committed, out)
            }
            Message::Snapshot { slot, state } => self.on_snapshot(slot, &state, out),
            Message::Forward { requests } => self.on_forward(from, requests, out),
            Message::ForwardReply { responses } => self.on_forward_reply(responses, out),
            Message::Campaign => self.on_campaign(from, out),
            Message::RecoverQuery { nonce } => self.on_recover_query(from, nonce, out),
            Message::RecoverQueryReply { nonce, incarnation: known, version, voters } => {
                self.on_recover_query_reply(from, cluster, nonce, known, (version, voters), out)
            }
            Message::Recover { nonce, incarnation: claimed } => self.on_recover(from, nonce, claimed, out),
            Message::RecoverReply {
                nonce,
                incarnation: recorded,
                promised,
                chosen,
                reports,
                incarnations,
            } => {
                let reply = super::recovery::Answer { promised, chosen, reports, incarnations };
                self.on_recover_reply(from, cluster, nonce, recorded, reply, out)
            }
        }
    }

    fn on_timeout(&mut self, timer: Timer, out: &mut Vec<Output>) {
        match timer {
            Timer::Election => self.on_election_timeout(out),
            Timer::Heartbeat => self.on_heartbeat(out),
            Timer::Retransmit => {
                self.on_retransmit(out);
                out.push(Output::SetTimer(Timer::Retransmit));
            }
            Timer::Lease(round) => self.on_lease_expired(round),
            Timer::LeaseGuard => self.lease_guard = None,
        }
    }

    fn on_retransmit(&mut self, out: &mut Vec<Output>) {
        match &self.role {
            Role::Recovering(_) => self.retransmit_recovery(out),
            Role::Candidate(_) | Role::Leader(_) => self.retransmit_proposals(out),
            Role::Follower => {
                if let Some(leader) = self.leader.filter(|&leader| leader != self.config.node) {
                    self.forward_pending(leader, out);
                }
            }
        }
        // An unanswered catch-up request goes to the next peer: the one asked may have failed, or
        // may lack the values itself.
        if let Some(peer) = self.learning.take() {
            let peers: Vec<NodeId> = self.peers().collect();
            let next = peers.iter().position(|&p| p == peer).map_or(peer, |i| peers[(i + 1) % peers.len()]);
            self.request_learn(next, out);
        }
    }

    // ---- shared machinery -------------------------------------------------------------------

    pub(super) fn envelope(&self, message: Message) -> Envelope {
        Envelope { cluster: self.cluster, from: self.config.node, incarnation: self.incarnation, message }
    }

    /// Sends `message` to `to`. It leaves at once only if it goes to a peer and vouches for
    /// nothing durable (see [`Release`]); a message to this replica itself waits for the persists,
    /// so that its effect (a leader's own vote, counted on delivery) is durable before it counts.
    pub(super) fn send(&self, to: NodeId, message: Message, out: &mut Vec<Output>) {
        let early = to != self.config.node && !message.vouches_for_durable_state();
        let release = if early || mutant!(self.config, EarlyVotes) {
            Release::Immediately
        } else {
            Release::AfterPersists
        };
        out.push(Output::Send { to, envelope: self.envelope(message), release });
    }

    /// Sends `message` to this replica and every member (voters and learners).
    pub(super) fn broadcast(&self, message: &Message, out: &mut Vec<Output>) {
        self.send(self.config.node, message.clone(), out);
        self.broadcast_peers(message, out);
    }

    /// Sends `message` to every member (voters and learners) but this replica.
    pub(super) fn broadcast_peers(&self, message: &Message, out: &mut Vec<Output>) {
        for peer in self.peers() {
            self.send(peer, message.clone(), out);
        }
    }

    /// Every member of the current membership but this replica.
    pub(super) fn peers(&self) -> impl Iterator<Item = NodeId> {
        let node = self.config.node;
        self.kv.membership().members().iter().filter(move |&member| member != node)
    }

    /// Votes needed for a decision among `voters`: a majority of them.
    pub(super) fn quorum_of(&self, voters: NodeSet) -> usize {
        if mutant!(self.config, MinorityQuorum) {
            return voters.len() / 2;
        }
        voters.majority()
    }

    /// How many of `votes` count in a tally among `voters`.
    pub(super) fn counted(&self, votes: NodeSet, voters: NodeSet) -> usize {
        if mutant!(self.config, RemovedVotes) {
            return votes.len();
        }
        votes.intersection(voters).len()
    }

    pub(super) fn persist(&mut self, record: Persist, out: &mut Vec<Output>) {
        out.push(Output::Persist(record));
    }

    /// Notes a ballot seen in a message, so that the next election goes above it.
    pub(super) fn observe(&mut self, ballot: Ballot) {
        self.highest_seen = self.highest_seen.max(ballot);
    }

    /// The guard every message that asks something of this replica's acceptor in `ballot`
    /// (Prepare, Accept, Commit) passes first: a recovering replica answers nothing (it does not
    /// know what it promised: see `recovery.rs`); every ballot is observed, so the next election
    /// goes above it; one below the promise is rejected with the promise (Paxos Made Simple §2.2:
    /// the acceptor responded to a higher prepare), so that its sender learns it is outranked.
    /// Returns whether the message may be handled.
    pub(super) fn admit(&mut self, from: NodeId, ballot: Ballot, out: &mut Vec<Output>) -> bool {
        if matches!(self.role, Role::Recovering(_)) {
            return false;
        }
        self.observe(ballot);
        if ballot < self.promised {
            self.send(from, Message::Reject { ballot, promised: self.promised }, out);
            return false;
        }
        true
    }

    /// The ballot this replica proposes in, as candidate or leader.
    pub(super) fn own_ballot(&self) -> Option<Ballot> {
        match &self.role {
            Role::Candidate(candidate) => Some(candidate.ballot),
            Role::Leader(leader) => Some(leader.ballot),
            Role::Recovering(_) | Role::Follower => None,
        }
    }

    /// Gives up candidacy or leadership if a higher ballot was promised here or seen elsewhere.
    pub(super) fn step_down_if_outranked(&mut self, out: &mut Vec<Output>) {
        if self.own_ballot().is_some_and(|own| own < self.promised.max(self.highest_seen)) {
            self.step_down(out);
        }
    }

    /// Becomes a follower of nobody in particular. Requests queued at the leader for other nodes
    /// are dropped: their nodes retransmit them to the next leader.
    pub(super) fn step_down(&mut self, out: &mut Vec<Output>) {
        match &self.role {
            Role::Leader(_) => {
                out.push(Output::CancelTimer(Timer::Heartbeat));
                out.push(Output::SetTimer(Timer::Election));
            }
            Role::Candidate(_) => {}
            Role::Recovering(_) | Role::Follower => return,
        }
        self.role = Role::Follower;
        self.leader = None;
    }

    /// Notes that `node` leads; this node's clients' requests go there from now on.
    pub(super) fn follow(&mut self, node: NodeId, out: &mut Vec<Output>) {
        if self.leader == Some(node) {
            return;
        }
        self.leader = Some(node);
        if node != self.config.node {
            self.forward_pending(node, out);
        }
    }

    /// Records that `node` is at `incarnation` at least. Votes it cast as an earlier incarnation
    /// are struck from every tally (Michael et al., DISC 2017: a vote from before a storage loss
    /// must not be combined with votes cast after the loss became known).
    pub(super) fn learn_incarnation(&mut self, node: NodeId, incarnation: u64, out: &mut Vec<Output>) {
        if node == self.config.node || node.index() >= NodeSet::CAPACITY {
            return;
        }
        if self.incarnations.len() <= node.index() {
            self.incarnations.resize(node.index() + 1, 0);
        }
        let Some(known) = self.incarnations.get_mut(node.index()) else { return };
        if incarnation <= *known {
            return;
        }
        *known = incarnation;
        self.persist(Persist::Incarnation { node, incarnation }, out);
        match &mut self.role {
            Role::Candidate(candidate) => {
                candidate.promises.remove(&node);
            }
            Role::Leader(leader) => leader.strike(node),
            Role::Recovering(_) | Role::Follower => {}
        }
    }

    /// Merges the crash vector of a vote and checks the voter's incarnation; returns whether the
    /// vote may be counted.
    pub(super) fn admit_vote(
        &mut self,
        from: NodeId,
        incarnation: u64,
        incarnations: &[u64],
        out: &mut Vec<Output>,
    ) -> bool {
        for (index, &known) in incarnations.iter().enumerate() {
            let Ok(node) = u8::try_from(index).map(NodeId) else { break };
            self.learn_incarnation(node, known, out);
        }
        self.learn_incarnation(from, incarnation, out);
        self.incarnations.get(from.index()).is_some_and(|&known| incarnation >= known)
    }

    /// Records that `value` is chosen in `slot`.
    ///
    /// # Panics
    ///
    /// If another value was chosen in the slot (agreement violated), unless a mutant is running,
    /// in which case the conflict is recorded for the model checker to report.
    pub(super) fn choose(&mut self, slot: Slot, value: Value) {
        if let Err(known) = self.log.choose(slot, value.clone()) {
            #[cfg(feature = "mutants")]
            if self.config.mutant != super::Mutant::None {
                self.conflict.get_or_insert(slot);
                return;
            }
            panic!("agreement violated: slot {slot} chosen with {known:?} and with {value:?}");
        }
    }

    /// Applies every chosen slot in order, answers the requests this node owns, and lets waiting
    /// reads proceed.
    pub(super) fn apply_chosen(&mut self, out: &mut Vec<Output>) {
        let mut relayed: BTreeMap<NodeId, Vec<Response>> = BTreeMap::new();
        let mut applied_any = false;
        let version = self.kv.membership().version;
        let mut transfer = None;
        while let Some((_, value)) = self.log.next_to_apply() {
            let value = value.clone();
            for request in value.requests() {
                let awaited = self.awaits(request.client, request.sequence);
                let target = transfer_target(request);
                let before = self.kv.applied_requests();
                let result = self.kv.apply(request);
                let result =
                    (awaited || target.is_some()).then(|| result.map(<[super::command::Outcome]>::to_vec));
                if self.kv.applied_requests() != before {
                    transfer = transfer.or(target);
                }
                if let Some(result) = result.filter(|_| awaited) {
                    self.respond(request.client, request.sequence, result, &mut relayed, out);
                }
            }
            self.log.mark_applied();
            applied_any = true;
        }
        for (origin, responses) in relayed {
            self.send(origin, Message::ForwardReply { responses }, out);
        }
        if self.kv.membership().version != version {
            self.membership_changed(out);
        } else if let Some(to) = transfer {
            self.hand_over(to, out);
        }
        if applied_any {
            let applied = self.log.applied();
            if applied.0 - self.snapshot_slot.0 >= self.config.snapshot_interval_slots
                && !matches!(self.role, Role::Recovering(_))
            {
                self.persist_snapshot(out);
            }
            // Amortised: past twice a bound, back down to it (slots) or to half of it (bytes).
            let (slots, bytes) = (self.config.log_retain_slots, self.config.log_retain_bytes);
            let held = self.log.applied().0.saturating_sub(self.log.start().0);
            let heavy = self.log.retained_bytes() > bytes;
            if held >= slots.saturating_mul(2).max(1) || heavy {
                self.log.compact_to(slots, bytes / 2);
            }
            // The storage holds every value accepted since the last snapshot (to write them into
            // each new segment's checkpoint): a snapshot whenever the retained log outgrows its
            // byte bound keeps that memory within the same bound, whatever the slots hold.
            if heavy && !matches!(self.role, Role::Recovering(_)) {
                self.persist_snapshot(out);
            }
            self.serve_reads(out);
        }
    }

    /// The membership as of the applied point, which is the commit point after every step: the
    /// configuration of the first slot not known chosen (see [`membership`](super::membership)).
    pub fn membership(&self) -> &Membership {
        self.kv.membership()
    }

    /// Whether this replica votes in the current membership.
    pub fn is_voter(&self) -> bool {
        self.kv.membership().is_voter(self.config.node)
    }

    /// The refusal a removed replica gives every request.
    pub(super) fn departed(&self) -> Option<RequestError> {
        let removed = self.kv.membership().removed.contains(self.config.node);
        removed.then(|| RequestError::Refused(MemberError::Departed(self.config.node)))
    }

    /// Persists the state machine as of the applied point (the storage may then drop the log
    /// below it).
    pub(super) fn persist_snapshot(&mut self, out: &mut Vec<Output>) {
        let slot = self.log.applied();
        if slot <= self.snapshot_slot {
            return;
        }
        self.snapshot_slot = slot;
        self.persist(Persist::Snapshot { slot, state: std::sync::Arc::new(self.kv.clone()) }, out);
    }

    /// Whether someone waits for the response to (client, sequence) here: a client of this node,
    /// or (at the leader) the node that relayed the request.
    fn awaits(&self, client: ClientId, sequence: u64) -> bool {
        let relayed = match &self.role {
            Role::Leader(leader) => {
                leader.origins.get(&client).is_some_and(|&(_, expected)| expected == sequence)
            }
            _ => false,
        };
        relayed || self.pending.get(&client).is_some_and(|request| request.sequence == sequence)
    }

    /// Answers the request (client, sequence) if this node owns it, and collects the answer for
    /// the relaying node if this leader received it from one.
    pub(super) fn respond(
        &mut self,
        client: ClientId,
        sequence: u64,
        result: Result<Vec<super::command::Outcome>, RequestError>,
        relayed: &mut BTreeMap<NodeId, Vec<Response>>,
        out: &mut Vec<Output>,
    ) {
        if let Role::Leader(leader) = &mut self.role {
            if let Some(&(origin, expected)) = leader.origins.get(&client) {
                if expected == sequence {
                    leader.origins.remove(&client);
                    relayed.entry(origin).or_default().push(Response {
                        client,
                        sequence,
                        result: result.clone(),
                    });
                }
            }
        }
        if self.pending.get(&client).is_some_and(|request| request.sequence == sequence) {
            self.pending.remove(&client);
            out.push(Output::Reply(Response { client, sequence, result }));
        }
    }

    // ---- observation ------------------------------------------------------------------------

    /// This replica's id.
    pub fn node(&self) -> NodeId {
        self.config.node
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// What the replica is doing.
    pub fn status(&self) -> Status {
        match self.role {
            Role::Recovering(_) => Status::Recovering,
            Role::Follower => Status::Follower,
            Role::Candidate(_) => Status::Candidate,
            Role::Leader(_) => Status::Leader,
        }
    }

    /// The leader this replica believes in.
    pub fn leader(&self) -> Option<NodeId> {
        self.leader
    }

    /// The acceptor's promise.
    pub fn promised(&self) -> Ballot {
        self.promised
    }

    /// The ballot this replica leads or campaigns with.
    pub fn ballot(&self) -> Option<Ballot> {
        self.own_ballot()
    }

    /// The cluster id ([`ClusterId::UNKNOWN`] while recovering).
    pub fn cluster(&self) -> ClusterId {
        self.cluster
    }

    /// This replica's incarnation.
    pub fn incarnation(&self) -> u64 {
        self.incarnation
    }

    /// The log.
    pub fn log(&self) -> &Log {
        &self.log
    }

    /// The state machine.
    pub fn kv(&self) -> &KvStore {
        &self.kv
    }

    /// Requests of this node's clients awaiting a response.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// At the leader: each learner's commit point as its last vote reported it (how far behind it
    /// is); empty elsewhere.
    pub fn progress(&self) -> BTreeMap<NodeId, Slot> {
        match &self.role {
            Role::Leader(leader) => leader.progress.clone(),
            _ => BTreeMap::new(),
        }
    }

    /// What this replica counted since it started.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// A slot in which a mutant made two different values chosen, as seen by this replica.
    pub fn conflict(&self) -> Option<Slot> {
        self.conflict
    }
}

/// The voter a request asks leadership to move to, if it does.
fn transfer_target(request: &Request) -> Option<NodeId> {
    request.operations.iter().find_map(|operation| match operation {
        super::command::Operation::Transfer { to } => Some(*to),
        _ => None,
    })
}
