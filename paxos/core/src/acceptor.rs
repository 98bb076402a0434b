//! The acceptor role: answering phase 1a (Prepare) and phase 2a (Accept).
//!
//! Paxos Made Simple §2.2: an acceptor may accept a proposal numbered n iff it has not responded
//! to a prepare request numbered greater than n; and it must remember what it promised and accepted
//! across failures, which is why every promise and acceptance is persisted before it is answered.

use super::command::Value;
use super::config::{mutant, ReadMode};
use super::io::{Output, Persist, Timer};
use super::message::Message;
use super::replica::{Replica, Role};
use super::types::{Ballot, NodeId, Slot};

impl Replica {
    pub(super) fn on_prepare(&mut self, from: NodeId, ballot: Ballot, first: Slot, out: &mut Vec<Output>) {
        // Master lease (PhxPaxos): while this follower guards a leader's lease it supports no
        // other candidate, so the leader may serve reads locally until its (shorter) lease ends.
        if self.config.read_mode == ReadMode::Lease && self.lease_guard.is_some_and(|guarded| guarded != from)
        {
            return;
        }
        // A node that is no longer a voter campaigns for slots this replica knows chosen: it was
        // removed and has not heard. It gets no promise (which would only depose the current
        // leader), and the chosen values instead, from which it learns that it left.
        if !self.membership().is_voter(from)
            && first < self.log.commit()
            && !matches!(self.role, Role::Recovering(_))
        {
            self.on_learn_request(from, first, out);
            return;
        }
        if !self.admit(from, ballot, out) {
            return;
        }
        if ballot > self.promised {
            self.promised = ballot;
            if !mutant!(self.config, ForgetPromise) {
                self.persist(Persist::Promise(ballot), out);
            }
            if from != self.config.node {
                self.leader = None;
            }
            self.step_down_if_outranked(out);
        }
        let promise = Message::Promise {
            ballot,
            chosen: self.log.chosen_point(),
            reports: self.log.reports(first),
            incarnations: self.incarnations.clone(),
        };
        self.send(from, promise, out);
        if from != self.config.node {
            // Give the candidate a full election timeout to finish.
            out.push(Output::SetTimer(Timer::Election));
        }
    }

    pub(super) fn on_accept(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        slot: Slot,
        value: Value,
        committed: Slot,
        out: &mut Vec<Output>,
    ) {
        let admitted =
            if mutant!(self.config, AcceptBelowPromise) && !matches!(self.role, Role::Recovering(_)) {
                self.observe(ballot);
                true
            } else {
                self.admit(from, ballot, out)
            };
        if !admitted {
            return;
        }
        // A slot below `start` was chosen, applied and compacted here; the leader re-proposes the
        // chosen value (it can propose nothing else), so acknowledging it is truthful.
        if slot >= self.log.start() {
            let known = self.log.entry(slot).and_then(|entry| entry.accepted.as_ref());
            if known != Some(&(ballot, value.clone())) {
                if let Some((earlier, accepted)) = known {
                    if *earlier != ballot {
                        self.counters.reaccepted += 1;
                        self.counters.overwritten += u64::from(*accepted != value);
                    }
                }
                self.promised = self.promised.max(ballot);
                self.log.accept(slot, ballot, value.clone());
                let record = Persist::Accept { slot, ballot, value };
                if mutant!(self.config, SendBeforePersist) {
                    #[cfg(feature = "mutants")]
                    self.deferred.push(record);
                } else {
                    self.persist(record, out);
                }
            }
        }
        self.step_down_if_outranked(out);
        self.follow(ballot.node, out);
        let progress = (!self.is_voter()).then(|| self.log.commit());
        let incarnations = self.incarnations.clone();
        self.send(from, Message::Accepted { ballot, slot, committed: progress, incarnations }, out);
        self.learn_commit(from, ballot, committed, out);
        if from != self.config.node {
            out.push(Output::SetTimer(Timer::Election));
        }
    }

    pub(super) fn on_reject(&mut self, ballot: Ballot, promised: Ballot, out: &mut Vec<Output>) {
        self.observe(promised);
        if self.own_ballot() == Some(ballot) {
            self.step_down_if_outranked(out);
        }
    }
}
