//! The proposer role: elections (phase 1a/1b for every slot from the first unchosen one), then a
//! stable leader that skips phase 1 and runs phase 2 over a window of slots (one by default, see
//! [`Config::window_slots`](super::Config::window_slots)), each carrying a batch of requests.

use super::command::{Request, Value};
use super::config::{mutant, ReadMode};
use super::io::{Output, Persist, Timer};
use super::message::{Message, Report};
use super::replica::{Replica, Role};
use super::types::{Ballot, ClientId, NodeId, NodeSet, Slot};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// What a promise told the candidate.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct Promised {
    chosen: Slot,
    reports: Vec<Report>,
}

/// A replica running phase 1.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct Candidate {
    pub(super) ballot: Ballot,
    /// Phase 1 covers every slot from here on: the first slot the candidate does not know chosen.
    from: Slot,
    pub(super) promises: BTreeMap<NodeId, Promised>,
}

/// A proposal awaiting its quorum.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct InFlight {
    value: Value,
    votes: NodeSet,
}

/// A read-only request waiting at the leader (see `clients.rs`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct PendingRead {
    pub(super) request: Request,
    pub(super) origin: NodeId,
    /// Answer once applied up to here...
    pub(super) index: Slot,
    /// ...and once this confirmation round (or a later one) has succeeded.
    pub(super) round: u64,
}

/// A replica whose phase 1 succeeded.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct Leader {
    pub(super) ballot: Ballot,
    /// The next slot to propose in.
    next: Slot,
    /// Every slot below it was settled by the election (re-proposed or known chosen); reads wait
    /// until they are applied.
    pub(super) recovered: Slot,
    inflight: BTreeMap<Slot, InFlight>,
    /// Requests waiting for a slot.
    pub(super) queue: VecDeque<Request>,
    /// Relaying node and sequence of each queued or proposed request that came from another node.
    pub(super) origins: BTreeMap<ClientId, (NodeId, u64)>,
    pub(super) reads: VecDeque<PendingRead>,
    /// The last confirmation round started (see `Message::Commit`).
    pub(super) round: u64,
    /// The last round confirmed by a quorum.
    pub(super) confirmed: u64,
    /// Acknowledgements of `round`.
    pub(super) round_votes: NodeSet,
    /// Lease mode: the confirmed round whose lease timer is still running.
    pub(super) lease: Option<u64>,
}

impl Leader {
    /// Strikes every vote of `node` (see `Replica::learn_incarnation`).
    pub(super) fn strike(&mut self, node: NodeId) {
        for proposal in self.inflight.values_mut() {
            proposal.votes.remove(node);
        }
        self.round_votes.remove(node);
    }
}

impl Replica {
    pub(super) fn on_election_timeout(&mut self, out: &mut Vec<Output>) {
        match self.role {
            Role::Recovering(_) | Role::Leader(_) => return,
            Role::Follower | Role::Candidate(_) => {}
        }
        out.push(Output::SetTimer(Timer::Election));
        if self.lease_guard.is_some() {
            // Still honouring a leader's lease: supporting ourselves would break it.
            return;
        }
        let ballot = self.promised.max(self.highest_seen).next_for(self.config.node);
        self.observe(ballot);
        self.counters.elections += 1;
        self.leader = None;
        // The candidate promises its own ballot durably before any Prepare leaves (persist before
        // send): after a crash it must never campaign with the same ballot again, or promises
        // given to two different campaigns of one ballot could be combined.
        self.promised = ballot;
        if !mutant!(self.config, ForgetPromise) {
            self.persist(Persist::Promise(ballot), out);
        }
        let from = self.log.commit();
        if mutant!(self.config, SkipPrepare) {
            self.role = Role::Candidate(Candidate { ballot, from, promises: BTreeMap::new() });
            self.become_leader(out);
            return;
        }
        self.role = Role::Candidate(Candidate { ballot, from, promises: BTreeMap::new() });
        self.broadcast(&Message::Prepare { ballot, from }, out);
    }

    pub(super) fn on_promise(
        &mut self,
        from: NodeId,
        incarnation: u64,
        ballot: Ballot,
        (chosen, reports): (Slot, Vec<Report>),
        incarnations: &[u64],
        out: &mut Vec<Output>,
    ) {
        let current = |candidate: &Candidate| {
            candidate.ballot == ballot
                || (mutant!(self.config, StalePromises)
                    && ballot.node == candidate.ballot.node
                    && ballot < candidate.ballot)
        };
        if !matches!(&self.role, Role::Candidate(candidate) if current(candidate)) {
            return;
        }
        if !self.admit_vote(from, incarnation, incarnations, out) {
            return;
        }
        let quorum = self.quorum();
        let Role::Candidate(candidate) = &mut self.role else { return };
        candidate.promises.insert(from, Promised { chosen, reports });
        if candidate.promises.len() >= quorum {
            self.become_leader(out);
        }
    }

    /// Phase 1 is complete: settle every slot from `from` on (Paxos Made Simple §3: the new leader
    /// proposes, in each slot, the value of the highest-ballot proposal reported, or a no-op where
    /// none was), then lead.
    fn become_leader(&mut self, out: &mut Vec<Output>) {
        let Role::Candidate(candidate) = std::mem::replace(&mut self.role, Role::Follower) else {
            unreachable!("become_leader is called by a candidate");
        };
        let Candidate { ballot, from, promises } = candidate;

        // Every slot below the highest chosen point reported is chosen. If no promiser reported the
        // value of one of them (it was compacted, or lost with a disk), this replica cannot
        // re-propose it: it learns first and campaigns again later.
        let mut chosen_point = self.log.chosen_point();
        let mut ahead: Option<NodeId> = None;
        let mut merged: BTreeMap<Slot, (Option<Ballot>, Value, bool)> = BTreeMap::new();
        for (&node, promised) in &promises {
            if promised.chosen > chosen_point {
                chosen_point = promised.chosen;
                ahead = Some(node);
            }
            for report in &promised.reports {
                if mutant!(self.config, FirstReportedValue) && merged.contains_key(&report.slot) {
                    continue;
                }
                merge_report(&mut merged, report);
            }
        }
        let mut end =
            merged.last_key_value().map_or(from, |(slot, _)| slot.next()).max(chosen_point).max(from);
        if mutant!(self.config, IgnoreReportedSlots) {
            end = self.log.end().max(from);
        }
        let mut settled = Vec::new();
        let mut slot = from;
        while slot < end {
            // A value this replica already knows chosen is the only one it may propose there; it
            // can differ from the merged one when a higher ballot chose it after our promisers
            // answered. Proposing it keeps the commit inference of `Message::Commit` true.
            //
            // Below the highest chosen point reported, only a value known to be chosen will do: a
            // promiser that knows the slot is chosen may have compacted it and reported nothing,
            // so the highest accepted value among the others is not Paxos' merge over the whole
            // quorum and may be stale.
            let known = self.log.entry(slot).and_then(|entry| entry.chosen.clone());
            let merged_value = merged.remove(&slot).filter(|(_, _, chosen)| *chosen || slot >= chosen_point);
            match known.map(|value| (None, value, true)).or(merged_value) {
                Some((_, value, chosen)) => settled.push((slot, value, chosen)),
                None if slot < chosen_point => {
                    self.leader = None;
                    let node = self.config.node;
                    let teacher = ahead.or_else(|| promises.keys().copied().find(|&peer| peer != node));
                    if let Some(peer) = teacher {
                        self.request_learn(peer, out);
                    }
                    return;
                }
                None => settled.push((slot, Value::Noop, false)),
            }
            slot = slot.next();
        }

        let mut inflight = BTreeMap::new();
        for (slot, value, chosen) in &settled {
            if *chosen {
                self.choose(*slot, value.clone());
            }
            inflight.insert(*slot, InFlight { value: value.clone(), votes: NodeSet::new() });
        }
        let queue: VecDeque<Request> = self.pending.values().cloned().collect();
        self.role = Role::Leader(Box::new(Leader {
            ballot,
            next: end,
            recovered: end,
            inflight,
            queue: VecDeque::new(),
            origins: BTreeMap::new(),
            reads: VecDeque::new(),
            round: 0,
            confirmed: 0,
            round_votes: NodeSet::new(),
            lease: None,
        }));
        self.leader = Some(self.config.node);
        out.push(Output::CancelTimer(Timer::Election));
        out.push(Output::SetTimer(Timer::Heartbeat));
        let committed = self.log.commit();
        for (slot, value, _) in settled {
            self.broadcast(&Message::Accept { ballot, slot, value, committed }, out);
        }
        let origin = self.config.node;
        for request in queue {
            self.lead_request(request, origin, out);
        }
        self.propose(out);
        self.apply_chosen(out);
    }

    pub(super) fn on_accepted(
        &mut self,
        from: NodeId,
        incarnation: u64,
        ballot: Ballot,
        slot: Slot,
        incarnations: &[u64],
        out: &mut Vec<Output>,
    ) {
        if !matches!(&self.role, Role::Leader(leader) if leader.ballot == ballot) {
            return;
        }
        if !self.admit_vote(from, incarnation, incarnations, out) {
            return;
        }
        let quorum = self.quorum();
        let Role::Leader(leader) = &mut self.role else { return };
        let Some(proposal) = leader.inflight.get_mut(&slot) else { return };
        proposal.votes.insert(from);
        if proposal.votes.len() < quorum {
            return;
        }
        let proposal = leader.inflight.remove(&slot).expect("present above");
        self.choose(slot, proposal.value);
        self.apply_chosen(out);
        self.propose(out);
    }

    /// Fills the window with batches from the queue (one round trip and one fsync per batch).
    pub(super) fn propose(&mut self, out: &mut Vec<Output>) {
        let committed = self.log.commit();
        let window = self.config.window_slots;
        let batch_max = self.config.batch_requests_max;
        let Role::Leader(leader) = &mut self.role else { return };
        let mut proposals = Vec::new();
        while leader.next.0 - committed.0.min(leader.next.0) < window && !leader.queue.is_empty() {
            let take = leader.queue.len().min(batch_max);
            let batch: Vec<Request> = leader.queue.drain(..take).collect();
            let value = Value::Batch(Arc::new(batch));
            let slot = leader.next;
            leader.next = slot.next();
            leader.inflight.insert(slot, InFlight { value: value.clone(), votes: NodeSet::new() });
            proposals.push(Message::Accept { ballot: leader.ballot, slot, value, committed });
        }
        for proposal in &proposals {
            self.broadcast(proposal, out);
        }
    }

    pub(super) fn on_heartbeat(&mut self, out: &mut Vec<Output>) {
        let Role::Leader(leader) = &self.role else { return };
        out.push(Output::SetTimer(Timer::Heartbeat));
        let needs_round = self.config.read_mode == ReadMode::Lease
            || (leader.round == leader.confirmed
                && leader.reads.iter().any(|read| read.round > leader.confirmed));
        if needs_round {
            self.start_round(out);
        } else {
            let message = Message::Commit { ballot: leader.ballot, committed: self.log.commit(), round: 0 };
            self.broadcast_peers(&message, out);
        }
    }

    /// Starts a leadership-confirmation round: a heartbeat that every follower acknowledges if it
    /// has promised nothing higher.
    pub(super) fn start_round(&mut self, out: &mut Vec<Output>) {
        let committed = self.log.commit();
        let node = self.config.node;
        let lease = self.config.read_mode == ReadMode::Lease;
        let Role::Leader(leader) = &mut self.role else { return };
        leader.round += 1;
        leader.round_votes = NodeSet::new();
        leader.round_votes.insert(node);
        let (ballot, round) = (leader.ballot, leader.round);
        if lease {
            // The lease of this round runs from before any follower's guard was (re)armed.
            out.push(Output::SetTimer(Timer::Lease(round)));
        }
        self.broadcast_peers(&Message::Commit { ballot, committed, round }, out);
        self.tally_round(out);
    }

    pub(super) fn on_commit_ack(&mut self, from: NodeId, ballot: Ballot, round: u64, out: &mut Vec<Output>) {
        let Role::Leader(leader) = &mut self.role else { return };
        if leader.ballot != ballot || leader.round != round {
            return;
        }
        leader.round_votes.insert(from);
        self.tally_round(out);
    }

    fn tally_round(&mut self, out: &mut Vec<Output>) {
        let quorum = self.quorum();
        let lease = self.config.read_mode == ReadMode::Lease;
        let Role::Leader(leader) = &mut self.role else { return };
        if leader.confirmed == leader.round || leader.round_votes.len() < quorum {
            return;
        }
        leader.confirmed = leader.round;
        if lease {
            leader.lease = Some(leader.round);
        }
        let waiting = leader.reads.iter().any(|read| read.round > leader.confirmed);
        self.serve_reads(out);
        if waiting {
            self.start_round(out);
        }
    }

    pub(super) fn on_lease_expired(&mut self, round: u64) {
        if let Role::Leader(leader) = &mut self.role {
            if leader.lease == Some(round) {
                leader.lease = None;
            }
        }
    }

    /// Resends what peers have not answered: Prepares to non-promisers, Accepts to non-voters,
    /// and the current confirmation round.
    pub(super) fn retransmit_proposals(&mut self, out: &mut Vec<Output>) {
        let peers: Vec<NodeId> = self.config.peers().collect();
        let mut messages: Vec<(NodeId, Message)> = Vec::new();
        match &self.role {
            Role::Candidate(candidate) => {
                for &peer in &peers {
                    if !candidate.promises.contains_key(&peer) {
                        let prepare = Message::Prepare { ballot: candidate.ballot, from: candidate.from };
                        messages.push((peer, prepare));
                    }
                }
            }
            Role::Leader(leader) => {
                // The oldest window of slots only: a lagging peer gets the rest as these are
                // answered, and one timer tick never floods the network.
                let committed = self.log.commit();
                let window = usize::try_from(self.config.window_slots).unwrap_or(usize::MAX);
                for (&slot, proposal) in leader.inflight.iter().take(window) {
                    for &peer in &peers {
                        if !proposal.votes.contains(peer) {
                            let value = proposal.value.clone();
                            messages.push((
                                peer,
                                Message::Accept { ballot: leader.ballot, slot, value, committed },
                            ));
                        }
                    }
                }
                if leader.round > leader.confirmed {
                    for &peer in &peers {
                        if !leader.round_votes.contains(peer) {
                            let round = leader.round;
                            messages
                                .push((peer, Message::Commit { ballot: leader.ballot, committed, round }));
                        }
                    }
                }
            }
            Role::Recovering(_) | Role::Follower => {}
        }
        for (peer, message) in messages {
            self.send(peer, message, out);
        }
    }
}

/// Keeps, per slot, a chosen value if any promiser knows one, else the value of the highest ballot.
fn merge_report(merged: &mut BTreeMap<Slot, (Option<Ballot>, Value, bool)>, report: &Report) {
    let candidate = match (&report.chosen, &report.accepted) {
        (Some(value), _) => (None, value.clone(), true),
        (None, Some((ballot, value))) => (Some(*ballot), value.clone(), false),
        (None, None) => return,
    };
    match merged.get(&report.slot) {
        Some((_, _, true)) => {}
        Some((best, _, false)) if !candidate.2 && *best >= candidate.0 => {}
        _ => {
            merged.insert(report.slot, candidate);
        }
    }
}
