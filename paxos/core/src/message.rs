//! Messages between replicas, and the envelope that carries them.

use super::command::{Request, Response, Value};
use super::kv::KvStore;
use super::types::{Ballot, ClusterId, NodeId, NodeSet, Slot};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A message with its sender's identity. Every message carries the cluster id (messages of another
/// cluster are dropped) and the sender's incarnation (which increases each time the sender recovers
/// from storage loss, so that votes cast by a replica before it lost its disk can be told apart).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Envelope {
    /// The sender's cluster, or [`ClusterId::UNKNOWN`] from a recovering replica.
    pub cluster: ClusterId,
    /// The sender.
    pub from: NodeId,
    /// The sender's incarnation.
    pub incarnation: u64,
    /// The payload.
    pub message: Message,
}

/// One slot as held by a replica, as reported in a [`Message::Promise`] or a
/// [`Message::RecoverReply`].
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Report {
    /// The slot.
    pub slot: Slot,
    /// What the reporter's acceptor accepted last in the slot, with its ballot.
    pub accepted: Option<(Ballot, Value)>,
    /// The chosen value, if the reporter knows it.
    pub chosen: Option<Value>,
}

/// The incarnation of every member as known by the sender (the "crash vector" of Michael et al.,
/// DISC 2017), indexed by node id. Votes carry it so that a tally never mixes a vote cast before a
/// replica lost its storage with votes cast after other replicas learned of the loss.
pub type Incarnations = Vec<u64>;

/// The protocol's messages. Phase names follow Paxos Made Simple.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Message {
    /// Phase 1a, for every slot from `from` on.
    Prepare {
        /// The candidate's ballot.
        ballot: Ballot,
        /// The first slot the candidate does not know to be chosen.
        from: Slot,
    },
    /// Phase 1b: the acceptor will accept nothing below `ballot`, and reports what it holds.
    Promise {
        /// The ballot promised.
        ballot: Ballot,
        /// Every slot below it is known chosen by the sender (which may lack some of their values:
        /// compacted, or lost with its disk and not yet learned again).
        chosen: Slot,
        /// What the sender holds from `from` on (it may have compacted slots below `chosen`).
        reports: Vec<Report>,
        /// The sender's crash vector.
        incarnations: Incarnations,
    },
    /// Phase 2a, with the leader's commit point piggybacked.
    Accept {
        /// The leader's ballot.
        ballot: Ballot,
        /// The slot.
        slot: Slot,
        /// The value proposed.
        value: Value,
        /// Every slot below it is chosen (see [`Message::Commit`] for what a follower may infer).
        committed: Slot,
    },
    /// Phase 2b.
    Accepted {
        /// The ballot accepted.
        ballot: Ballot,
        /// The slot.
        slot: Slot,
        /// A learner's commit point: how far it has caught up (the leader promotes only learners
        /// that are close behind). None from a voter: its votes show its progress, and a field
        /// that changed with every vote would multiply the model checker's states for nothing.
        committed: Option<Slot>,
        /// The sender's crash vector.
        incarnations: Incarnations,
    },
    /// The receiver has promised a higher ballot than the one in the message it answers.
    Reject {
        /// The ballot that was refused.
        ballot: Ballot,
        /// The receiver's promise.
        promised: Ballot,
    },
    /// Heartbeat from the leader: every slot below `committed` is chosen, and a follower that
    /// accepted a slot in `ballot` holds the chosen value of that slot (a leader proposes one value
    /// per slot per ballot). A non-zero `round` asks for a [`Message::CommitAck`], which confirms
    /// leadership for read-index reads and extends a read lease.
    Commit {
        /// The leader's ballot.
        ballot: Ballot,
        /// The leader's commit point.
        committed: Slot,
        /// Confirmation round, or 0 for none.
        round: u64,
    },
    /// The sender had promised nothing above `ballot` when it received the round's heartbeat; a
    /// learner also answers every heartbeat this way with its commit point, so that its leader
    /// knows how far behind it is even while nothing is written (see
    /// [`MemberError::Behind`](super::MemberError::Behind)).
    CommitAck {
        /// The leader's ballot.
        ballot: Ballot,
        /// The confirmation round (0: a learner's report only).
        round: u64,
        /// A learner's commit point; none from a voter.
        progress: Option<Slot>,
    },
    /// Catch-up: the sender lacks chosen values from `from` on.
    LearnRequest {
        /// The first slot the sender lacks.
        from: Slot,
    },
    /// Catch-up: consecutive chosen values.
    LearnReply {
        /// The first slot in `values`.
        from: Slot,
        /// Chosen values of consecutive slots.
        values: Vec<Value>,
        /// The sender's commit point.
        committed: Slot,
    },
    /// Catch-up for slots that the sender compacted: its state machine after applying every slot
    /// below `slot`.
    Snapshot {
        /// The first slot not reflected in `state`.
        slot: Slot,
        /// The key-value state and the session table.
        state: Arc<KvStore>,
    },
    /// Client requests relayed to the leader by the node the clients are connected to.
    Forward {
        /// The requests.
        requests: Vec<Request>,
    },
    /// Responses from the leader to the node that relayed the requests.
    ForwardReply {
        /// The responses.
        responses: Vec<Response>,
    },
    /// Leadership transfer: the receiver, a voter, should campaign now (sent by a leader that was
    /// asked to hand over, or that is no longer a voter).
    Campaign,
    /// Storage-loss recovery, step 1: what is my latest incarnation?
    RecoverQuery {
        /// Identifies this recovery attempt; replies to older attempts are ignored.
        nonce: u64,
    },
    /// Storage-loss recovery, step 1 answer.
    RecoverQueryReply {
        /// The attempt answered.
        nonce: u64,
        /// The asker's incarnation as known by the sender.
        incarnation: u64,
        /// The version of the sender's membership...
        version: u64,
        /// ...and its voters: the asker counts its majorities among the newest voters reported.
        voters: NodeSet,
    },
    /// Storage-loss recovery, step 2: I am now `incarnation`; record it and tell me your state.
    Recover {
        /// The attempt.
        nonce: u64,
        /// The asker's new incarnation.
        incarnation: u64,
    },
    /// Storage-loss recovery, step 2 answer: the sender has durably recorded the new incarnation.
    RecoverReply {
        /// The attempt answered.
        nonce: u64,
        /// The incarnation recorded.
        incarnation: u64,
        /// The sender's promise.
        promised: Ballot,
        /// The sender's chosen point (see [`Message::Promise`]).
        chosen: Slot,
        /// Everything the sender holds.
        reports: Vec<Report>,
        /// The sender's crash vector.
        incarnations: Incarnations,
    },
}

impl Message {
    /// Whether the message vouches for the sender's durable state, so that it must not leave
    /// before the persists of its step are durable (the core then marks its send
    /// [`Release::AfterPersists`](super::Release::AfterPersists)): a promise, a vote, a rejection or confirmation
    /// by its promise, a recorded incarnation; a Prepare (its ballot is never reused only because
    /// the candidate's own promise of it is durable: a candidate that crashed before that could
    /// campaign again with the same ballot and propose another value); a Recover (the incarnation
    /// it announces).
    ///
    /// The others may leave at once: an Accept (its ballot's promise was made durable in an
    /// earlier step, before the Prepare left, and a leader proposes one value per slot per ballot
    /// from memory; after a crash it campaigns with a higher ballot), commit and catch-up knowledge
    /// learned from quorums, relayed requests and responses, queries. This is what lets a leader's
    /// Accepts travel while its own write syncs, so that a write costs one fsync of latency, not
    /// two.
    pub fn vouches_for_durable_state(&self) -> bool {
        match self {
            Message::Promise { .. }
            | Message::Accepted { .. }
            | Message::Reject { .. }
            | Message::CommitAck { .. }
            | Message::RecoverQueryReply { .. }
            | Message::RecoverReply { .. }
            | Message::Prepare { .. }
            | Message::Recover { .. } => true,
            Message::Accept { .. }
            | Message::Commit { .. }
            | Message::LearnRequest { .. }
            | Message::LearnReply { .. }
            | Message::Snapshot { .. }
            | Message::Forward { .. }
            | Message::ForwardReply { .. }
            | Message::Campaign
            | Message::RecoverQuery { .. } => false,
        }
    }

    /// A short name for traces and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Prepare { .. } => "prepare",
            Message::Promise { .. } => "promise",
            Message::Accept { .. } => "accept",
            Message::Accepted { .. } => "accepted",
            Message::Reject { .. } => "reject",
            Message::Commit { .. } => "commit",
            Message::CommitAck { .. } => "commit-ack",
            Message::LearnRequest { .. } => "learn-request",
            Message::LearnReply { .. } => "learn-reply",
            Message::Snapshot { .. } => "snapshot",
            Message::Forward { .. } => "forward",
            Message::ForwardReply { .. } => "forward-reply",
            Message::Campaign => "campaign",
            Message::RecoverQuery { .. } => "recover-query",
            Message::RecoverQueryReply { .. } => "recover-query-reply",
            Message::Recover { .. } => "recover",
            Message::RecoverReply { .. } => "recover-reply",
        }
    }
}
