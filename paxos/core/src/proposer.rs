//! The proposer role: elections (phase 1a/1b for every slot from the first unchosen one), then a
//! stable leader that skips phase 1 and runs phase 2 over a window of slots (one by default, see
//! [`Config::window_slots`](super::Config::window_slots)), each carrying a batch of requests.

use super::command::{Request, Value};
use super::config::{mutant, ReadMode};
use super::io::{Output, Persist, Timer};
use super::membership::MemberError;
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
    /// The voters of `from`'s configuration: only their promises count.
    voters: NodeSet,
    /// That configuration's version: a candidate that applies a change while it campaigns
    /// campaigns again, in the new configuration.
    pub(super) version: u64,
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
    /// The voters of the configuration this leadership spans: only their votes count.
    voters: NodeSet,
    /// The slot of a membership change in flight: nothing is proposed after it until it is
    /// chosen (see `membership.rs`).
    barrier: Option<Slot>,
    /// Each learner's commit point as its last vote reported it: how far behind it is.
    pub(super) progress: BTreeMap<NodeId, Slot>,
    /// The next slot to propose in.
    next: Slot,
    /// Every slot below it was settled by the election (re-proposed or known chosen); reads wait
    /// until they are applied.
    pub(super) recovered: Slot,
    /// The end of what phase 1 found (the slots promisers reported, the chosen point). Past
    /// `recovered` when the settling stopped at a membership change: the slots after it are not
    /// this leadership's to fill.
    reported: Slot,
    /// The membership version it was elected in.
    version: u64,
    inflight: BTreeMap<Slot, InFlight>,
    /// Requests waiting for a slot.
    pub(super) queue: VecDeque<Request>,
    /// Their weight ([`Request::weight`]).
    pub(super) queue_bytes: u64,
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
        self.campaign(out);
    }

    /// A leader asks this replica to take over (a transfer, or the leader left the voters).
    pub(super) fn on_campaign(&mut self, from: NodeId, out: &mut Vec<Output>) {
        if !matches!(self.role, Role::Follower | Role::Candidate(_)) {
            return;
        }
        if self.lease_guard == Some(from) {
            // The leader that asked gave its lease up.
            self.lease_guard = None;
        }
        if self.lease_guard.is_none() {
            out.push(Output::SetTimer(Timer::Election));
            self.campaign(out);
        }
    }

    /// Starts phase 1 with a ballot above every one seen, if this replica is a voter: learners and
    /// removed replicas never campaign.
    pub(super) fn campaign(&mut self, out: &mut Vec<Output>) {
        if !self.is_voter() {
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
        let (voters, version) = (self.membership().voters, self.membership().version);
        if mutant!(self.config, SkipPrepare) {
            self.role =
                Role::Candidate(Candidate { ballot, from, voters, version, promises: BTreeMap::new() });
            self.become_leader(out);
            return;
        }
        self.role = Role::Candidate(Candidate { ballot, from, voters, version, promises: BTreeMap::new() });
        // To the voters only: a learner's promise would not count.
        self.send(self.config.node, Message::Prepare { ballot, from }, out);
        for voter in voters.iter().filter(|&voter| voter != self.config.node) {
            self.send(voter, Message::Prepare { ballot, from }, out);
        }
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
        let Role::Candidate(candidate) = &mut self.role else { return };
        candidate.promises.insert(from, Promised { chosen, reports });
        let (voters, promisers) = (candidate.voters, candidate.promises.keys().copied().collect());
        if self.counted(promisers, voters) >= self.quorum_of(voters) {
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
        let Candidate { ballot, from, voters, version, promises } = candidate;

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
        let reported = end;
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
            // A leadership spans one configuration: the slots after a membership change belong to
            // the next leadership, which campaigns among the new voters once it is chosen.
            if settled.last().is_some_and(|(_, value, _)| value.changes_membership()) {
                end = slot;
            }
        }
        let barrier = settled
            .last()
            .filter(|(_, value, _)| value.changes_membership() && self.keeps_barriers())
            .map(|(slot, _, _)| *slot);

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
            voters,
            barrier,
            progress: BTreeMap::new(),
            next: end,
            recovered: end,
            reported,
            version,
            inflight,
            queue: VecDeque::new(),
            queue_bytes: 0,
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
        // Applying first: a settled membership change already known chosen ends this leadership
        // here (a new campaign), before anything is proposed after it.
        self.apply_chosen(out);
        let origin = self.config.node;
        for request in queue {
            self.lead_request(request, origin, out);
        }
        self.propose(out);
    }

    pub(super) fn on_accepted(
        &mut self,
        from: NodeId,
        incarnation: u64,
        (ballot, slot, committed): (Ballot, Slot, Option<Slot>),
        incarnations: &[u64],
        out: &mut Vec<Output>,
    ) {
        if !matches!(&self.role, Role::Leader(leader) if leader.ballot == ballot) {
            return;
        }
        if !self.admit_vote(from, incarnation, incarnations, out) {
            return;
        }
        let Role::Leader(leader) = &mut self.role else { return };
        if let Some(committed) = committed {
            leader.progress.insert(from, committed);
        }
        let Some(proposal) = leader.inflight.get_mut(&slot) else { return };
        proposal.votes.insert(from);
        self.choose_in_order(out);
    }

    /// Declares chosen, in slot order, every proposal with a quorum: a slot waits for the ones
    /// below it, whose values decide its configuration (see `membership.rs`). Slots already known
    /// chosen leave the window once a quorum holds them too.
    fn choose_in_order(&mut self, out: &mut Vec<Output>) {
        let mut chose = false;
        loop {
            let commit = self.log.commit();
            let Role::Leader(leader) = &self.role else { break };
            let voters = leader.voters;
            let ready = leader.inflight.iter().find_map(|(&slot, proposal)| {
                let quorum = self.counted(proposal.votes, voters) >= self.quorum_of(voters);
                match slot.cmp(&commit) {
                    std::cmp::Ordering::Less => quorum.then_some(slot),
                    std::cmp::Ordering::Equal => Some(slot).filter(|_| quorum),
                    std::cmp::Ordering::Greater => None,
                }
            });
            let Some(slot) = ready else { break };
            let Role::Leader(leader) = &mut self.role else { break };
            let proposal = leader.inflight.remove(&slot).expect("found above");
            self.choose(slot, proposal.value);
            chose = true;
        }
        if chose {
            self.apply_chosen(out);
            self.propose(out);
        }
    }

    /// Whether a leader stops proposing after a membership change until it is chosen (the
    /// `two-changes` and `config-on-accept` mutants do not).
    // Without the `mutants` feature every `mutant!` is `false`, and the expression folds.
    #[allow(clippy::nonminimal_bool)]
    pub(super) fn keeps_barriers(&self) -> bool {
        !mutant!(self.config, TwoChanges) && !mutant!(self.config, ConfigOnAccept)
    }

    /// Why a membership request cannot be taken by this leader now: another change is pending, or
    /// the learner it would promote is far behind.
    pub(super) fn refuse_change(&self, request: &Request) -> Option<MemberError> {
        let change = request.change()?;
        let Role::Leader(leader) = &self.role else { return None };
        let pending = leader.barrier.is_some() || leader.queue.iter().any(|queued| queued.change().is_some());
        if pending && self.keeps_barriers() {
            return Some(MemberError::Pending);
        }
        let node = change.promotes()?;
        if !self.membership().learners.contains(node) {
            return None; // Refused when applied, with the reason.
        }
        let limit = self.config.promote_lag_max?;
        let commit = self.log.commit().0;
        let Some(reported) = leader.progress.get(&node) else { return Some(MemberError::Unheard(node)) };
        let behind = commit.saturating_sub(reported.0);
        (behind > limit).then_some(MemberError::Behind { node, behind, limit })
    }

    /// A membership change was applied. A leader's configuration ends there: it campaigns again
    /// among the new voters (a new ballot, a phase 1 of the new configuration), or, no longer a
    /// voter, asks a voter to campaign (a promoted learner that reported the most progress, else
    /// the lowest id) and steps down.
    // Without the `mutants` feature every `mutant!` is `false`, and its disjunction folds.
    #[allow(clippy::nonminimal_bool, clippy::eq_op)]
    pub(super) fn membership_changed(&mut self, out: &mut Vec<Output>) {
        let voters = self.membership().voters;
        if let Role::Candidate(candidate) = &self.role {
            if candidate.version != self.membership().version {
                // Campaigning in a configuration that has ended: again, in the new one.
                self.step_down(out);
                out.push(Output::SetTimer(Timer::Election));
                self.campaign(out);
            }
            return;
        }
        let Role::Leader(leader) = &mut self.role else { return };
        if mutant!(self.config, ConfigOnAccept) || mutant!(self.config, TwoChanges) {
            return;
        }
        if mutant!(self.config, SwapWithoutElection) {
            leader.voters = voters;
            return;
        }
        let progress = leader.progress.clone();
        self.step_down(out);
        if self.is_voter() {
            self.campaign(out);
            return;
        }
        let successor =
            voters.iter().max_by_key(|voter| (progress.get(voter).copied(), std::cmp::Reverse(*voter)));
        if let Some(successor) = successor {
            self.send(successor, Message::Campaign, out);
        }
    }

    /// Leadership transfer: the leader asks voter `to` to campaign and steps down (so that it stops
    /// renewing the followers' lease guards, which would refuse `to`).
    pub(super) fn hand_over(&mut self, to: NodeId, out: &mut Vec<Output>) {
        if !matches!(self.role, Role::Leader(_)) || to == self.config.node || !self.membership().is_voter(to)
        {
            return;
        }
        self.step_down(out);
        self.send(to, Message::Campaign, out);
    }

    /// Fills the window with batches from the queue (one round trip and one fsync per batch).
    pub(super) fn propose(&mut self, out: &mut Vec<Output>) {
        let committed = self.log.commit();
        let applied = self.log.applied();
        let window = self.config.window_slots;
        let batch_max = self.config.batch_requests_max;
        let bytes_max = self.config.batch_bytes_max;
        let barriers = self.keeps_barriers();
        let version = (!mutant!(self.config, PastRefusedChange)).then(|| self.membership().version);
        let early_switch = mutant!(self.config, ConfigOnAccept);
        let mut membership = early_switch.then(|| self.membership().clone());
        let Role::Leader(leader) = &mut self.role else { return };
        if leader.barrier.is_some_and(|barrier| applied <= barrier) {
            return;
        }
        if leader.barrier.is_some() && leader.next < leader.reported && Some(leader.version) == version {
            // The election settled slots up to a membership change that, applied, changed
            // nothing (refused: a promotion of a node already a voter, say; the membership is
            // still the one this leadership was elected in), and promisers reported slots after
            // it, chosen perhaps. They are not settled: a new value proposed there could
            // contradict a chosen one. A new election settles them (not under the mutant).
            self.step_down(out);
            self.campaign(out);
            return;
        }
        leader.barrier = None;
        let mut proposals = Vec::new();
        while leader.next.0 - committed.0.min(leader.next.0) < window && !leader.queue.is_empty() {
            // A batch ends with a membership change; nothing follows it until it is chosen.
            // At most `batch_max` requests and (but for the first) `bytes_max` bytes.
            let mut bytes = 0u64;
            let fits = leader
                .queue
                .iter()
                .take(batch_max)
                .take_while(|request| {
                    let first = bytes == 0;
                    bytes += request.weight();
                    first || bytes <= bytes_max
                })
                .count();
            let change = leader.queue.iter().take(fits).position(|request| request.change().is_some());
            let take = change.map_or(fits, |at| at + 1);
            let batch: Vec<Request> = leader.queue.drain(..take).collect();
            leader.queue_bytes -= batch.iter().map(Request::weight).sum::<u64>();
            let value = Value::Batch(Arc::new(batch));
            let slot = leader.next;
            leader.next = slot.next();
            leader.inflight.insert(slot, InFlight { value: value.clone(), votes: NodeSet::new() });
            proposals.push(Message::Accept { ballot: leader.ballot, slot, value: value.clone(), committed });
            if change.is_some() {
                if let Some(membership) = &mut membership {
                    // The bug: count the new voters from the moment the change is proposed.
                    for change in value.requests().iter().filter_map(Request::change) {
                        let _ = membership.apply(change);
                    }
                    leader.voters = membership.voters;
                }
                if barriers {
                    leader.barrier = Some(slot);
                    break;
                }
            }
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

    pub(super) fn on_commit_ack(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        (round, progress): (u64, Option<Slot>),
        out: &mut Vec<Output>,
    ) {
        let Role::Leader(leader) = &mut self.role else { return };
        if leader.ballot != ballot {
            return;
        }
        if let Some(committed) = progress {
            leader.progress.insert(from, committed);
        }
        if round == 0 || leader.round != round {
            return;
        }
        leader.round_votes.insert(from);
        self.tally_round(out);
    }

    fn tally_round(&mut self, out: &mut Vec<Output>) {
        let lease = self.config.read_mode == ReadMode::Lease;
        let Role::Leader(leader) = &self.role else { return };
        let quorum = self.counted(leader.round_votes, leader.voters) >= self.quorum_of(leader.voters);
        let Role::Leader(leader) = &mut self.role else { return };
        if leader.confirmed == leader.round || !quorum {
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
        let peers: Vec<NodeId> = self.peers().collect();
        let mut messages: Vec<(NodeId, Message)> = Vec::new();
        match &self.role {
            Role::Candidate(candidate) => {
                for &peer in &peers {
                    if candidate.voters.contains(peer) && !candidate.promises.contains_key(&peer) {
                        let prepare = Message::Prepare { ballot: candidate.ballot, from: candidate.from };
                        messages.push((peer, prepare));
                    }
                }
            }
            Role::Leader(leader) => {
                // A window of slots at a time, so that one timer tick never floods the network:
                // the oldest of those at or past the commit point (the ones new requests wait
                // for), and the oldest of those below it (known chosen, re-proposed by a new
                // leader until a quorum holds them; a lagging peer gets them one tick after
                // another). The oldest slots alone held the commit point until a lost backlog of
                // hundreds of settled slots drained, one a tick (24 s without a write in chaos's
                // `forgetful-bridge`, seed 98).
                let committed = self.log.commit();
                let window = usize::try_from(self.config.window_slots).unwrap_or(usize::MAX);
                let settled = leader.inflight.range(..committed).take(window);
                for (&slot, proposal) in settled.chain(leader.inflight.range(committed..).take(window)) {
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
