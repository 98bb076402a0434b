//! What the exact-output core tests share: envelopes of one cluster, sends by their release, one
//! step at a time, and small requests.

#![allow(dead_code)]

use paxos::core::{
    Ballot, ClientId, ClusterId, Envelope, Input, Message, NodeId, Operation, Output, Release, Replica,
    Request, Slot, Timer, Value,
};
use std::sync::Arc;

/// The cluster every test replica belongs to.
pub const CLUSTER: ClusterId = ClusterId(7);

pub fn ballot(round: u64, node: u8) -> Ballot {
    Ballot { round, node: NodeId(node) }
}

pub fn envelope(from: u8, message: Message) -> Envelope {
    Envelope { cluster: CLUSTER, from: NodeId(from), incarnation: 0, message }
}

pub fn receive(from: u8, message: Message) -> Input {
    Input::Receive(envelope(from, message))
}

/// A send that waits for the persists emitted before it (it vouches for them, or goes to self).
pub fn send(from: u8, to: u8, message: Message) -> Output {
    Output::Send { to: NodeId(to), envelope: envelope(from, message), release: Release::AfterPersists }
}

/// A send that may leave ahead of the persists (it vouches for nothing durable).
pub fn send_now(from: u8, to: u8, message: Message) -> Output {
    Output::Send { to: NodeId(to), envelope: envelope(from, message), release: Release::Immediately }
}

pub fn step(replica: &mut Replica, input: Input) -> Vec<Output> {
    let mut out = Vec::new();
    replica.step(input, &mut out);
    out
}

pub fn put(client: u64, sequence: u64, key: &str, value: &str) -> Request {
    Request {
        client: ClientId(client),
        sequence,
        operations: vec![Operation::Put { key: key.into(), value: value.into() }],
    }
}

pub fn batch(requests: Vec<Request>) -> Value {
    Value::Batch(Arc::new(requests))
}

/// Node 1's campaign in ballot 1.1 up to its own promise (nothing held, nothing known chosen;
/// `incarnations` is the crash vector the promise carries): a candidate waiting for its peers.
pub fn campaign_with_own_promise(candidate: &mut Replica, incarnations: Vec<u64>) {
    let b = ballot(1, 1);
    step(candidate, Input::Timeout(Timer::Election));
    step(candidate, receive(1, Message::Prepare { ballot: b, from: Slot(0) }));
    step(
        candidate,
        receive(1, Message::Promise { ballot: b, chosen: Slot(0), reports: vec![], incarnations }),
    );
}

/// [`campaign_with_own_promise`], then node 2's promise: node 1 leads in ballot 1.1 with nothing
/// to settle.
pub fn elect_with_node_2(candidate: &mut Replica, incarnations: Vec<u64>) {
    campaign_with_own_promise(candidate, incarnations.clone());
    let promise = Message::Promise { ballot: ballot(1, 1), chosen: Slot(0), reports: vec![], incarnations };
    step(candidate, receive(2, promise));
}
