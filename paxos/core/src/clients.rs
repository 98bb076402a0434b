//! Client requests: bounded queues, relaying to the leader, and linearizable reads without clocks
//! (read index) or with a lease.
//!
//! A request belongs to the node its client is connected to (the *origin*), which keeps it until it
//! is answered or abandoned, relays it to the leader it knows, and relays it again when the leader
//! changes or the retransmit timer fires. Retries are safe: the state machine applies a (client,
//! sequence) pair once.

use super::command::{Queue, Request, RequestError, Response};
use super::config::{mutant, ReadMode};
use super::io::Output;
use super::message::Message;
use super::proposer::PendingRead;
use super::replica::{Replica, Role};
use super::types::NodeId;
use std::collections::BTreeMap;

impl Replica {
    pub(super) fn on_requests(&mut self, requests: Vec<Request>, out: &mut Vec<Output>) {
        let mut relay = Vec::new();
        for request in requests {
            let refusal = if let Some(departed) = self.departed() {
                Some(departed)
            } else if self.pending.contains_key(&request.client) {
                Some(RequestError::Outstanding { client: request.client })
            } else if self.pending.len() >= self.config.pending_max {
                Some(RequestError::Busy { queue: Queue::Pending, limit: self.config.pending_max })
            } else {
                None
            };
            if let Some(error) = refusal {
                let response =
                    Response { client: request.client, sequence: request.sequence, result: Err(error) };
                out.push(Output::Reply(response));
                continue;
            }
            self.pending.insert(request.client, request.clone());
            match (&self.role, self.leader) {
                (Role::Leader(_), _) => self.lead_request(request, self.config.node, out),
                (_, Some(leader)) if leader != self.config.node => relay.push(request),
                // No leader known: the request waits in `pending` and is relayed once one is.
                _ => {}
            }
        }
        if let Some(leader) = self.leader.filter(|_| !relay.is_empty()) {
            self.send(leader, Message::Forward { requests: relay }, out);
        }
        self.propose(out);
    }

    /// Relays every pending request to `leader`.
    pub(super) fn forward_pending(&mut self, leader: NodeId, out: &mut Vec<Output>) {
        if self.pending.is_empty() || matches!(self.role, Role::Recovering(_)) {
            return;
        }
        let requests: Vec<Request> = self.pending.values().cloned().collect();
        self.send(leader, Message::Forward { requests }, out);
    }

    pub(super) fn on_forward(&mut self, from: NodeId, requests: Vec<Request>, out: &mut Vec<Output>) {
        // Only the leader takes requests; the origin relays them again once it learns who leads.
        if !matches!(self.role, Role::Leader(_)) {
            return;
        }
        for request in requests {
            self.lead_request(request, from, out);
        }
        self.propose(out);
    }

    pub(super) fn on_forward_reply(&mut self, responses: Vec<Response>, out: &mut Vec<Output>) {
        for response in responses {
            if self.pending.get(&response.client).is_some_and(|request| request.sequence == response.sequence)
            {
                self.pending.remove(&response.client);
                out.push(Output::Reply(response));
            }
        }
    }

    /// Takes a request at the leader: reads wait for a confirmation round, writes for a slot.
    /// The caller calls `propose` afterwards.
    pub(super) fn lead_request(&mut self, request: Request, origin: NodeId, out: &mut Vec<Output>) {
        let node = self.config.node;
        let read_mode = self.config.read_mode;
        let (proposals_max, reads_max) = (self.config.proposals_max, self.config.reads_max);
        let bytes_max = self.config.proposals_bytes_max;
        let weight = request.weight();
        let index = self.log.commit();
        let Role::Leader(leader) = &mut self.role else { return };
        if origin != node {
            if leader.origins.get(&request.client) == Some(&(origin, request.sequence)) {
                return; // Already queued or proposed: a retransmission.
            }
            leader.origins.insert(request.client, (origin, request.sequence));
        }
        let change = self.refuse_change(&request).map(RequestError::Refused);
        let Role::Leader(leader) = &mut self.role else { return };
        let refusal = if change.is_some() {
            change
        } else if request.is_read_only() {
            if leader.reads.len() >= reads_max {
                Some(RequestError::Busy { queue: Queue::Reads, limit: reads_max })
            } else {
                None
            }
        } else if leader.queue.len() >= proposals_max {
            Some(RequestError::Busy { queue: Queue::Proposals, limit: proposals_max })
        } else if leader.queue_bytes > 0 && leader.queue_bytes + weight > bytes_max {
            // An empty queue takes any one request, whatever its size.
            let limit = usize::try_from(bytes_max).unwrap_or(usize::MAX);
            Some(RequestError::Busy { queue: Queue::ProposalBytes, limit })
        } else {
            None
        };
        if let Some(error) = refusal {
            let (client, sequence) = (request.client, request.sequence);
            let mut relayed = BTreeMap::new();
            self.respond(client, sequence, Err(error), &mut relayed, out);
            for (origin, responses) in relayed {
                self.send(origin, Message::ForwardReply { responses }, out);
            }
            return;
        }
        if !request.is_read_only() {
            leader.queue_bytes += weight;
            leader.queue.push_back(request);
            return;
        }
        // Read index: answer once applied up to everything that could have been acknowledged
        // before the read arrived, and once leadership was confirmed by a round that started after
        // it arrived. With a live lease the confirmation is the lease itself.
        let index = index.max(leader.recovered);
        let confirmed = mutant!(self.config, UnconfirmedReads)
            || (read_mode == ReadMode::Lease && leader.lease.is_some());
        let round = if confirmed { 0 } else { leader.round + 1 };
        leader.reads.push_back(PendingRead { request, origin, index, round });
        let idle = leader.round == leader.confirmed;
        if round > 0 && idle {
            self.start_round(out);
        } else {
            self.serve_reads(out);
        }
    }

    /// Answers the reads whose round is confirmed and whose index is applied.
    pub(super) fn serve_reads(&mut self, out: &mut Vec<Output>) {
        let applied = self.log.applied();
        let Role::Leader(leader) = &mut self.role else { return };
        let confirmed = leader.confirmed;
        let mut ready = Vec::new();
        leader.reads.retain(|read| {
            let serve = read.round <= confirmed && read.index <= applied;
            if serve {
                ready.push(read.clone());
            }
            !serve
        });
        if ready.is_empty() {
            return;
        }
        let mut relayed: BTreeMap<NodeId, Vec<Response>> = BTreeMap::new();
        for read in ready {
            let outcomes = self.kv.read(&read.request);
            let response = Response {
                client: read.request.client,
                sequence: read.request.sequence,
                result: Ok(outcomes),
            };
            if read.origin == self.config.node {
                if self
                    .pending
                    .get(&response.client)
                    .is_some_and(|request| request.sequence == response.sequence)
                {
                    self.pending.remove(&response.client);
                    out.push(Output::Reply(response));
                }
            } else {
                if let Role::Leader(leader) = &mut self.role {
                    leader.origins.remove(&response.client);
                }
                relayed.entry(read.origin).or_default().push(response);
            }
        }
        for (origin, responses) in relayed {
            self.send(origin, Message::ForwardReply { responses }, out);
        }
    }
}
