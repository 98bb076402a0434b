//! The learner role: knowing which values are chosen (from the leader's commit point) and
//! fetching the ones this replica lacks from a peer (catch-up), as log entries or as a snapshot.

use super::command::Value;
use super::config::{mutant, ReadMode};
use super::io::{Output, Timer};
use super::kv::KvStore;
use super::message::Message;
use super::replica::{Replica, Role};
use super::types::{Ballot, NodeId, Slot};
use std::sync::Arc;

impl Replica {
    /// Marks chosen every slot below `committed` whose accepted ballot is the leader's: the leader
    /// of `ballot` proposes one value per slot, so that value is the chosen one. A slot accepted
    /// in another ballot, or not at all, is fetched from `peer`.
    pub(super) fn learn_commit(
        &mut self,
        peer: NodeId,
        ballot: Ballot,
        committed: Slot,
        out: &mut Vec<Output>,
    ) {
        while self.log.commit() < committed {
            let slot = self.log.commit();
            let accepted = self.log.entry(slot).and_then(|entry| entry.accepted.as_ref());
            match accepted {
                Some((accepted_ballot, value))
                    if *accepted_ballot == ballot || mutant!(self.config, CommitAnyBallot) =>
                {
                    let value = value.clone();
                    self.choose(slot, value);
                }
                _ => {
                    if peer != self.config.node {
                        self.request_learn(peer, out);
                    }
                    break;
                }
            }
        }
        self.apply_chosen(out);
    }

    /// Asks `peer` for chosen values from this replica's commit point, unless that request is
    /// already out (the retransmit timer repeats it if the answer is lost). A request to another
    /// peer replaces an earlier one: the latest peer known to be ahead (usually the leader) is the
    /// one most likely to answer.
    pub(super) fn request_learn(&mut self, peer: NodeId, out: &mut Vec<Output>) {
        if self.learning == Some(peer) {
            return;
        }
        self.learning = Some(peer);
        self.send(peer, Message::LearnRequest { from: self.log.commit() }, out);
    }

    pub(super) fn on_commit(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        committed: Slot,
        round: u64,
        out: &mut Vec<Output>,
    ) {
        if !self.admit(from, ballot, out) {
            return;
        }
        self.step_down_if_outranked(out);
        self.follow(ballot.node, out);
        self.learn_commit(from, ballot, committed, out);
        let progress = (!self.is_voter()).then(|| self.log.commit());
        if round > 0 {
            if self.config.read_mode == ReadMode::Lease {
                // Armed after the leader armed its (shorter) lease timer for this round.
                self.lease_guard = Some(from);
                out.push(Output::SetTimer(Timer::LeaseGuard));
            }
            self.send(from, Message::CommitAck { ballot, round, progress }, out);
        } else if progress.is_some() {
            self.send(from, Message::CommitAck { ballot, round, progress }, out);
        }
        out.push(Output::SetTimer(Timer::Election));
    }

    pub(super) fn on_learn_request(&mut self, from: NodeId, first: Slot, out: &mut Vec<Output>) {
        if matches!(self.role, Role::Recovering(_)) {
            return;
        }
        if first < self.log.start() {
            // Compacted away: the snapshot covers it (everything below the start is applied, so
            // the snapshot reaches past `first`).
            let state = Arc::new(self.kv.clone());
            self.counters.snapshots_sent += 1;
            self.send(from, Message::Snapshot { slot: self.log.applied(), state }, out);
            return;
        }
        let values = self.log.chosen_from(first, self.config.learn_slots_max);
        if !values.is_empty() {
            self.send(from, Message::LearnReply { from: first, values, committed: self.log.commit() }, out);
        }
    }

    pub(super) fn on_learn_reply(
        &mut self,
        from: NodeId,
        first: Slot,
        values: Vec<Value>,
        committed: Slot,
        out: &mut Vec<Output>,
    ) {
        // A leader decides every slot from its election on through its own ballot, and its commit
        // point tells followers that their values *of that ballot* are chosen: a value learned from
        // elsewhere (chosen in a higher ballot this leader has not heard of) would make that
        // inference false. A stale answer to an earlier request is therefore ignored here.
        if matches!(self.role, Role::Leader(_)) {
            return;
        }
        let mut slot = first;
        for value in values {
            self.choose(slot, value);
            slot = slot.next();
        }
        if self.learning == Some(from) {
            self.learning = None;
        }
        self.apply_chosen(out);
        if self.log.commit() < committed {
            self.request_learn(from, out);
        }
        self.finish_learning(out);
    }

    pub(super) fn on_snapshot(&mut self, slot: Slot, state: &KvStore, out: &mut Vec<Output>) {
        // See `on_learn_reply`.
        if slot <= self.log.applied() || matches!(self.role, Role::Leader(_)) {
            return;
        }
        self.kv = state.clone();
        self.log.install_snapshot(slot);
        self.counters.snapshots_installed += 1;
        let teacher = self.learning.take();
        self.persist_snapshot(out);
        self.apply_chosen(out);
        // The snapshot may end below what is known chosen (the sender's applied point): ask for
        // the rest.
        if let Some(peer) = teacher.filter(|_| self.log.commit() < self.log.chosen_point()) {
            self.request_learn(peer, out);
        }
        self.finish_learning(out);
    }
}
