//! Storage-loss recovery: how a replica that restarts without its durable state rejoins without
//! ever breaking a promise it no longer remembers.
//!
//! The danger (ARCHITECTURE.md §4): an acceptor that forgets a promise or an acceptance can let two
//! values be chosen in one slot. The protocol follows Michael, Ports, Sharma and Szekeres,
//! "Recovering Shared Objects Without Stable Storage" (DISC 2017), adapted to Multi-Paxos:
//!
//! 1. **Query.** The recovering replica R asks its peers for the incarnation they know of it, and
//!    waits for a majority of the cluster *among the others* (R cannot count itself). Its new
//!    incarnation is one above the highest answer. Any earlier incarnation of R was recorded by a
//!    majority of the others, which intersects this one, so the new incarnation is fresh.
//! 2. **Recover.** R announces the new incarnation. Each peer durably records it, strikes R's
//!    earlier votes from its own tallies, and answers with its promise, its chosen point and
//!    everything it accepted. From then on every vote the peer casts carries its crash vector, so
//!    any tally that meets it drops R's pre-loss votes.
//! 3. **Adopt.** With answers from a majority among the others, R promises the highest promise
//!    reported, adopts for each slot the highest-ballot accepted value reported (and any value
//!    known chosen), notes the highest chosen point (the *floor*), and persists all of that.
//! 4. **Learn.** Still without voting, R fetches every chosen value below the floor from the peer
//!    that reported the highest chosen point, applies them, and persists a snapshot: a wiped
//!    replica must hold the data again before it counts as a copy, or two successive single-disk
//!    losses could destroy the only remaining copy. Then it persists `Joined`, last: a crash
//!    before `Joined` restarts the recovery from scratch.
//!
//! Why it is safe, in brief. Any quorum Q that counted a vote of R's old incarnation contains some
//! other replica X of the majority that answered step 2 (|Q \ {R}| + majority > n − 1). If X voted in
//! Q's ballot after answering, its vote carried R's new incarnation and the tally dropped R's old
//! vote. If X voted before answering, X reported that promise or acceptance to R, so R now promises
//! at least as high and holds the highest accepted value, exactly as if it had never forgotten.
//! The model checker explores this with wipes (`model` crate) and finds the violation when the
//! recovery is switched off (mutant `NoRecovery`).
//!
//! Cost: a 3-replica cluster needs both other replicas to recover one; liveness only.

use super::command::Value;
use super::config::mutant;
use super::io::{Output, Persist, Timer};
use super::membership::Membership;
use super::message::{Incarnations, Message, Report};
use super::replica::{Replica, Role};
use super::types::{Ballot, ClusterId, NodeId, NodeSet, Slot};
use std::collections::BTreeMap;

/// A peer's answer to step 2.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct Answer {
    pub(super) promised: Ballot,
    pub(super) chosen: Slot,
    pub(super) reports: Vec<Report>,
    pub(super) incarnations: Incarnations,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Phase {
    /// Step 1: the incarnation of this replica as known by each peer that answered.
    Query(BTreeMap<NodeId, u64>),
    /// Step 2: the new incarnation and the answers so far.
    Adopt { incarnation: u64, answers: BTreeMap<NodeId, Answer> },
    /// Step 4: adopted; fetching the chosen values below the floor.
    Learn,
}

/// The state of a recovering replica.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct Recovery {
    nonce: u64,
    /// The newest membership any answer reported (version, voters): majorities are counted among
    /// its voters (the first members until an answer tells of a newer one).
    voters: (u64, NodeSet),
    /// The cluster named by the first answer; answers naming another are ignored.
    cluster: ClusterId,
    phase: Phase,
}

impl Recovery {
    pub(super) fn new(nonce: u64, first: NodeSet) -> Recovery {
        Recovery {
            nonce,
            voters: (0, first),
            cluster: ClusterId::UNKNOWN,
            phase: Phase::Query(BTreeMap::new()),
        }
    }

    /// Whether the answers of `answered` make a majority of the voters among the others.
    fn majority(&self, answered: impl Iterator<Item = NodeId>, node: NodeId) -> bool {
        let (_, voters) = self.voters;
        let mut others = answered.collect::<NodeSet>().intersection(voters);
        others.remove(node);
        others.len() >= voters.majority()
    }
}

impl Replica {
    pub(super) fn start_recovery(&mut self, out: &mut Vec<Output>) {
        // Whatever an interrupted earlier recovery persisted is discarded: it is redone.
        self.persist(Persist::Reset, out);
        self.retransmit_recovery(out);
    }

    pub(super) fn retransmit_recovery(&mut self, out: &mut Vec<Output>) {
        let Role::Recovering(recovery) = &self.role else { return };
        let nonce = recovery.nonce;
        let (message, answered): (Message, Vec<NodeId>) = match &recovery.phase {
            Phase::Query(known) => (Message::RecoverQuery { nonce }, known.keys().copied().collect()),
            Phase::Adopt { incarnation, answers } => {
                (Message::Recover { nonce, incarnation: *incarnation }, answers.keys().copied().collect())
            }
            // The learning request is repeated by the retransmit timer like any other.
            Phase::Learn => return,
        };
        let first: NodeSet = self.config.members.iter().copied().collect();
        let node = self.config.node;
        let peers: Vec<NodeId> = recovery
            .voters
            .1
            .union(first)
            .iter()
            .filter(|peer| *peer != node && !answered.contains(peer))
            .collect();
        for peer in peers {
            self.send(peer, message.clone(), out);
        }
    }

    pub(super) fn on_recover_query(&mut self, from: NodeId, nonce: u64, out: &mut Vec<Output>) {
        if matches!(self.role, Role::Recovering(_)) {
            return;
        }
        let incarnation = self.incarnations.get(from.index()).copied().unwrap_or(0);
        let Membership { version, voters, .. } = *self.membership();
        self.send(from, Message::RecoverQueryReply { nonce, incarnation, version, voters }, out);
    }

    pub(super) fn on_recover_query_reply(
        &mut self,
        from: NodeId,
        cluster: ClusterId,
        nonce: u64,
        known: u64,
        (version, voters): (u64, NodeSet),
        out: &mut Vec<Output>,
    ) {
        let node = self.config.node;
        let Role::Recovering(recovery) = &mut self.role else { return };
        if recovery.nonce != nonce || cluster == ClusterId::UNKNOWN {
            return;
        }
        if recovery.cluster == ClusterId::UNKNOWN {
            recovery.cluster = cluster;
        }
        if recovery.cluster != cluster {
            return;
        }
        if version > recovery.voters.0 {
            recovery.voters = (version, voters);
        }
        let Phase::Query(answers) = &mut recovery.phase else { return };
        answers.insert(from, known);
        let answers = answers.clone();
        if !recovery.majority(answers.keys().copied(), node) {
            return;
        }
        let highest = answers.values().copied().max().unwrap_or(0);
        if mutant!(self.config, NoRecovery) {
            // The classic bug: rejoin at once with an empty state, as the same incarnation.
            let cluster = recovery.cluster;
            self.join(cluster, highest, out);
            return;
        }
        let incarnation = highest + 1;
        recovery.phase = Phase::Adopt { incarnation, answers: BTreeMap::new() };
        self.retransmit_recovery(out);
    }

    pub(super) fn on_recover(&mut self, from: NodeId, nonce: u64, incarnation: u64, out: &mut Vec<Output>) {
        let known = self.incarnations.get(from.index()).copied().unwrap_or(0);
        if matches!(self.role, Role::Recovering(_)) || incarnation < known {
            return;
        }
        // Durable before the answer leaves (persist before send), and R's old votes are struck.
        self.learn_incarnation(from, incarnation, out);
        if self.leader == Some(from) {
            self.leader = None;
        }
        let answer = Message::RecoverReply {
            nonce,
            incarnation,
            promised: self.promised,
            chosen: self.log.chosen_point(),
            reports: self.log.reports(Slot(0)),
            incarnations: self.incarnations.clone(),
        };
        self.send(from, answer, out);
    }

    pub(super) fn on_recover_reply(
        &mut self,
        from: NodeId,
        cluster: ClusterId,
        nonce: u64,
        recorded: u64,
        answer: Answer,
        out: &mut Vec<Output>,
    ) {
        let node = self.config.node;
        let Role::Recovering(recovery) = &mut self.role else { return };
        if recovery.nonce != nonce || recovery.cluster != cluster {
            return;
        }
        let Phase::Adopt { incarnation, answers } = &mut recovery.phase else { return };
        if *incarnation != recorded {
            return;
        }
        answers.insert(from, answer);
        let answered: Vec<NodeId> = answers.keys().copied().collect();
        if !recovery.majority(answered.into_iter(), node) {
            return;
        }
        let Phase::Adopt { incarnation, answers } = &mut recovery.phase else { return };
        let (cluster, incarnation, answers) = (recovery.cluster, *incarnation, std::mem::take(answers));
        recovery.phase = Phase::Learn;
        // From here on this replica speaks as the new incarnation of the cluster (so that learning
        // answers reach it), but it still neither promises nor accepts.
        self.cluster = cluster;
        self.incarnation = incarnation;
        let own = self.config.node.index();
        self.incarnations[own] = incarnation;
        self.adopt(&answers, out);
        let teacher = answers.iter().max_by_key(|(_, answer)| answer.chosen).map(|(&node, _)| node);
        if let Some(peer) = teacher.filter(|_| self.log.commit() < self.log.chosen_point()) {
            self.request_learn(peer, out);
        }
        self.finish_learning(out);
    }

    /// Step 4 done once every slot below the floor is known and applied: persist the state
    /// machine, then join.
    pub(super) fn finish_learning(&mut self, out: &mut Vec<Output>) {
        let Role::Recovering(recovery) = &self.role else { return };
        if recovery.phase != Phase::Learn || self.log.applied() < self.log.chosen_point() {
            return;
        }
        self.learning = None;
        self.persist_snapshot(out);
        let (cluster, incarnation) = (self.cluster, self.incarnation);
        self.join(cluster, incarnation, out);
    }

    /// Step 3: takes over the highest promise and, per slot, the highest accepted value reported.
    fn adopt(&mut self, answers: &BTreeMap<NodeId, Answer>, out: &mut Vec<Output>) {
        let mut promised = self.promised;
        let mut chosen_point = Slot(0);
        let mut accepted: BTreeMap<Slot, (Ballot, Value)> = BTreeMap::new();
        let mut chosen: BTreeMap<Slot, Value> = BTreeMap::new();
        for answer in answers.values() {
            promised = promised.max(answer.promised);
            chosen_point = chosen_point.max(answer.chosen);
            for report in &answer.reports {
                if let Some((ballot, value)) = &report.accepted {
                    if accepted.get(&report.slot).is_none_or(|(best, _)| best < ballot) {
                        accepted.insert(report.slot, (*ballot, value.clone()));
                    }
                }
                if let Some(value) = &report.chosen {
                    chosen.insert(report.slot, value.clone());
                }
            }
            if self.incarnations.len() < answer.incarnations.len() {
                self.incarnations.resize(answer.incarnations.len(), 0);
            }
            for (index, &known) in answer.incarnations.iter().enumerate() {
                self.incarnations[index] = self.incarnations[index].max(known);
            }
        }
        for (slot, (ballot, value)) in accepted {
            self.log.accept(slot, ballot, value.clone());
            self.persist(Persist::Accept { slot, ballot, value }, out);
        }
        for (slot, value) in chosen {
            self.choose(slot, value);
        }
        self.apply_chosen(out);
        self.log.raise_chosen_floor(chosen_point);
        self.persist(Persist::ChosenFloor { below: chosen_point }, out);
        self.promised = promised;
        self.observe(promised);
        self.persist(Persist::Promise(promised), out);
        let node = self.config.node;
        let others: Vec<(NodeId, u64)> = self
            .incarnations
            .iter()
            .enumerate()
            .filter(|&(index, &known)| known > 0 && index != node.index())
            .map(|(index, &known)| (NodeId(index as u8), known))
            .collect();
        for (node, incarnation) in others {
            self.persist(Persist::Incarnation { node, incarnation }, out);
        }
    }

    /// Becomes a voting follower as `incarnation` of `cluster`; `Joined` is persisted last.
    fn join(&mut self, cluster: ClusterId, incarnation: u64, out: &mut Vec<Output>) {
        self.cluster = cluster;
        self.incarnation = incarnation;
        let own = self.config.node.index();
        self.incarnations[own] = incarnation;
        self.persist(Persist::Joined { cluster, node: self.config.node, incarnation }, out);
        self.role = Role::Follower;
        out.push(Output::SetTimer(Timer::Election));
        self.apply_chosen(out);
    }
}
