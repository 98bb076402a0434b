//! What clients ask for and what the log holds: operations, requests, responses and log values.

use super::bytes::Bytes;
use super::membership::{Change, MemberError};
use super::types::{ClientId, NodeId};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One key-value operation. Keys and values are arbitrary bytes (Redis strings are binary-safe).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Operation {
    /// Read a key.
    Get {
        /// The key.
        key: Bytes,
    },
    /// Write a key unconditionally.
    Put {
        /// The key.
        key: Bytes,
        /// The new value.
        value: Bytes,
    },
    /// Remove a key.
    Delete {
        /// The key.
        key: Bytes,
    },
    /// Compare-and-set: write `new` only if the key currently holds `expected`
    /// (`None` means "only if the key is absent").
    Cas {
        /// The key.
        key: Bytes,
        /// The value the key must hold, or `None` for "absent".
        expected: Option<Bytes>,
        /// The value to write when the comparison succeeds.
        new: Bytes,
    },
    /// Change the membership (see [`membership`](super::membership)).
    Member(Change),
    /// Ask the leader to hand leadership to the voter `to` (it campaigns at once).
    Transfer {
        /// The voter that should lead.
        to: NodeId,
    },
}

impl Operation {
    /// Roughly the bytes it holds in memory: its keys and values, and a fixed cost for the rest.
    pub fn weight(&self) -> u64 {
        OPERATION_OVERHEAD + self.payload_bytes() as u64
    }

    /// Whether the operation leaves the state unchanged.
    pub fn is_read(&self) -> bool {
        matches!(self, Operation::Get { .. })
    }

    /// The key the operation touches (none for membership operations).
    pub fn key(&self) -> &[u8] {
        match self {
            Operation::Get { key }
            | Operation::Put { key, .. }
            | Operation::Delete { key }
            | Operation::Cas { key, .. } => key,
            Operation::Member(_) | Operation::Transfer { .. } => &[],
        }
    }

    /// The membership change, if the operation is one.
    pub fn change(&self) -> Option<&Change> {
        match self {
            Operation::Member(change) => Some(change),
            _ => None,
        }
    }

    /// Bytes of payload (key and values), for size limits.
    pub fn payload_bytes(&self) -> usize {
        match self {
            Operation::Get { key } | Operation::Delete { key } => key.len(),
            Operation::Put { key, value } => key.len() + value.len(),
            Operation::Cas { key, expected, new } => {
                key.len() + expected.as_ref().map_or(0, |expected| expected.len()) + new.len()
            }
            Operation::Member(Change::Add { address, .. }) => address.len(),
            Operation::Member(_) | Operation::Transfer { .. } => 0,
        }
    }
}

/// The result of one operation.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Outcome {
    /// The value read by a `Get` (`None`: the key is absent).
    Value(Option<Bytes>),
    /// A `Put` took effect.
    Written,
    /// A `Delete` took effect; `true` if the key existed.
    Deleted(bool),
    /// A `Cas` was decided; `true` if it wrote.
    Swapped(bool),
    /// A membership operation: the membership version it produced (or found, for a transfer), or
    /// why it was refused.
    Member(Result<u64, MemberError>),
}

/// A client request: one or more operations applied atomically and in order (a pipelined batch of
/// commands from one connection). The pair (client, sequence) identifies it for exactly-once
/// application.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Request {
    /// The session that sent it.
    pub client: ClientId,
    /// Increases by one for each new request of the session; a retry reuses it.
    pub sequence: u64,
    /// The operations, applied in order.
    pub operations: Vec<Operation>,
}

/// The memory an operation costs besides its keys and values (its enum, the two shared buffers'
/// headers and counts): an estimate, so that the byte bounds of batches, of the leader's queue
/// and of the retained log count a million one-byte writes as what they cost.
pub const OPERATION_OVERHEAD: u64 = 64;

/// The same for a request (its client, sequence and vector).
pub const REQUEST_OVERHEAD: u64 = 48;

impl Request {
    /// Roughly the bytes it holds in memory (see [`Operation::weight`]): what the byte bounds of
    /// batches ([`Config::batch_bytes_max`](super::Config)), of the leader's queue and of the
    /// retained log count.
    pub fn weight(&self) -> u64 {
        REQUEST_OVERHEAD + self.operations.iter().map(Operation::weight).sum::<u64>()
    }

    /// Whether every operation is a read: such requests are served by a read-index round (or a lease)
    /// instead of a log slot.
    pub fn is_read_only(&self) -> bool {
        self.operations.iter().all(Operation::is_read)
    }

    /// The first membership change among the operations.
    pub fn change(&self) -> Option<&Change> {
        self.operations.iter().find_map(Operation::change)
    }
}

/// Why a request was not executed. The client may retry a request that failed with any of these
/// (with the same sequence number), except [`RequestError::Stale`].
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, thiserror::Error)]
pub enum RequestError {
    /// A queue on the path is full. Nothing was executed.
    #[error("BUSY the {queue} queue is full ({limit} {unit}); retry later", unit = queue.unit())]
    Busy {
        /// Which queue.
        queue: Queue,
        /// Its bound.
        limit: usize,
    },
    /// The session already has a request outstanding; the second one was not queued.
    #[error("ERR client {client} already has a request outstanding")]
    Outstanding {
        /// The session.
        client: ClientId,
    },
    /// The request's sequence number is older than the last one applied for its session: it is an
    /// old duplicate whose response is no longer kept. Nothing was executed.
    #[error("ERR request {sequence} of client {client} is older than its last applied request {last}")]
    Stale {
        /// The session.
        client: ClientId,
        /// The request's sequence number.
        sequence: u64,
        /// The session's last applied sequence number.
        last: u64,
    },
    /// A membership request refused before it reached the log (another change pending, a learner
    /// too far behind), or any request at a node that was removed. Nothing was executed.
    #[error("{0}")]
    Refused(MemberError),
}

/// The queues the core bounds; named in [`RequestError::Busy`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Queue {
    /// Requests of this node's clients waiting for a response.
    Pending,
    /// Requests waiting at the leader for a log slot.
    Proposals,
    /// Read-only requests waiting at the leader for leadership confirmation.
    Reads,
    /// The bytes of the requests waiting at the leader for a log slot.
    ProposalBytes,
}

impl Queue {
    /// What its bound counts.
    pub fn unit(self) -> &'static str {
        match self {
            Queue::Pending | Queue::Proposals | Queue::Reads => "entries",
            Queue::ProposalBytes => "bytes",
        }
    }
}

impl std::fmt::Display for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Queue::Pending => "pending-requests",
            Queue::Proposals => "proposals",
            Queue::Reads => "reads",
            Queue::ProposalBytes => "proposal-bytes",
        })
    }
}

/// The answer to one request.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Response {
    /// The session.
    pub client: ClientId,
    /// The request's sequence number.
    pub sequence: u64,
    /// One outcome per operation, in order, or why nothing was executed.
    pub result: Result<Vec<Outcome>, RequestError>,
}

/// What a log slot holds: a batch of requests, or a no-op that a new leader uses to fill a gap.
///
/// Batches are behind an `Arc`: the leader sends the same value to every acceptor, and cloning a
/// message must not copy its payload.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Value {
    /// Fills a slot that no earlier leader proposed (Paxos Made Simple §3: "no-op" commands).
    Noop,
    /// Requests applied in order.
    Batch(Arc<Vec<Request>>),
}

impl Value {
    /// Roughly the bytes it holds in memory (see [`Request::weight`]).
    pub fn weight(&self) -> u64 {
        self.requests().iter().map(Request::weight).sum()
    }

    /// The requests in the value (none for a no-op).
    pub fn requests(&self) -> &[Request] {
        match self {
            Value::Noop => &[],
            Value::Batch(requests) => requests,
        }
    }

    /// Whether the value holds a membership change (which may still be refused when applied): the
    /// slot after it may belong to another configuration.
    pub fn changes_membership(&self) -> bool {
        self.requests().iter().any(|request| request.change().is_some())
    }
}
