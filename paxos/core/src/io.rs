//! The core's contract with its runtime: what goes in ([`Input`]), what comes out ([`Output`]), what
//! must be durable ([`Persist`]), when each send may leave ([`Release`]) and which timers exist
//! ([`Timer`]).
//!
//! # Correctness
//!
//! A runtime that drives [`Replica::step`](super::Replica::step) must:
//!
//! 1. **Persist before send.** Make every [`Output::Persist`] of a step durable (fsync'd) before it
//!    transmits any [`Output::Send`] or [`Output::Reply`] of the same step or of a later step whose
//!    [`Release`] is [`Release::AfterPersists`]. A Promise or Accepted that leaves a node before its
//!    state is on disk breaks Paxos after a crash. Persists of many steps may share one fsync (group
//!    commit), as long as no such send of any of those steps leaves before that fsync returned.
//!    A send marked [`Release::Immediately`] vouches for no durable state of the sender (a proposal,
//!    commit knowledge, a relayed request...: see
//!    [`Message::vouches_for_durable_state`](super::Message::vouches_for_durable_state)) and may
//!    leave at once. The core decides which is which; [`Schedule`](super::Schedule) sorts a step's
//!    outputs by that rule, and every executor of this project uses it.
//! 2. **Keep order.** Apply persists in the order they were emitted; deliver sends to one peer in the
//!    order they were emitted (or drop them: the core tolerates loss, duplication and reordering).
//! 3. **Deliver messages to self.** A `Send` whose destination is the replica itself must come back
//!    as an [`Input::Receive`]; the core marks it [`Release::AfterPersists`], like any message
//!    whose effect vouches for the step's state: this is how a leader counts its own vote only once
//!    that vote is on disk.
//! 4. **Own time.** Arm a timer on [`Output::SetTimer`] (re-arming it if already armed), disarm it on
//!    [`Output::CancelTimer`], and deliver [`Input::Timeout`] when it expires. Durations and their
//!    randomisation belong to the runtime; safety never depends on them.

use super::command::{Request, Response, Value};
use super::kv::KvStore;
use super::message::Envelope;
use super::types::{Ballot, ClientId, ClusterId, NodeId, Slot};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One event for the core.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Input {
    /// A message from a peer (or from this replica itself).
    Receive(Envelope),
    /// Requests from clients connected to this node; each session has at most one outstanding.
    Requests(Vec<Request>),
    /// The runtime gave up on a client's request (its deadline passed and the client was told the
    /// outcome is unknown): forget it, so that the session may send its next request.
    Abandon(ClientId),
    /// A timer expired.
    Timeout(Timer),
}

/// One action for the runtime, in the order emitted. See the module docs for the obligations.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Output {
    /// Make this durable before any send or reply of this step leaves the node.
    Persist(Persist),
    /// Transmit, when `release` allows.
    Send {
        /// The destination (possibly this replica).
        to: NodeId,
        /// The message.
        envelope: Envelope,
        /// Whether it may leave before the persists emitted so far are durable.
        release: Release,
    },
    /// Answer a client of this node, after the persists emitted so far are durable (always
    /// [`Release::AfterPersists`]: a response reports an outcome the client acts on, and the
    /// session's retry of it must find the same answer after a crash).
    Reply(Response),
    /// Arm (or re-arm) a timer.
    SetTimer(Timer),
    /// Disarm a timer.
    CancelTimer(Timer),
}

impl Output {
    /// When this output may take effect relative to the persists emitted so far: `None` for
    /// persists and timers (carried out at once, in order).
    pub fn release(&self) -> Option<Release> {
        match self {
            Output::Send { release, .. } => Some(*release),
            Output::Reply(_) => Some(Release::AfterPersists),
            Output::Persist(_) | Output::SetTimer(_) | Output::CancelTimer(_) => None,
        }
    }
}

/// When a send may leave the node, relative to the persists emitted before it (in its own step and
/// in every earlier one). Raft implementations draw the same line: raft-rs keeps
/// `persisted_messages` apart from `messages`; openraft tags its commands with a condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Release {
    /// Only once every persist emitted so far is durable: the message vouches for the sender's
    /// durable state (a promise, a vote, a recorded incarnation), or it goes to the sender itself.
    AfterPersists,
    /// At once, even before earlier persists are durable: the message vouches for nothing the
    /// sender has persisted (see [`Message::vouches_for_durable_state`](super::Message::vouches_for_durable_state)).
    /// This is what lets a leader's Accepts travel while its own vote syncs, so that a write costs
    /// one fsync of latency, not two.
    Immediately,
}

/// A change to the durable state; replaying the records in order through
/// [`DurableState::apply`](super::DurableState::apply) rebuilds what the replica must remember
/// across a crash.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Persist {
    /// Forget everything persisted so far: a replica that lost (part of) its storage begins its
    /// recovery from an empty state.
    Reset,
    /// The acceptor promised `ballot` (Paxos Made Simple §2.2: it must remember this across
    /// failures and restarts).
    Promise(Ballot),
    /// The acceptor accepted `value` in `slot` at `ballot`; this also promises `ballot`.
    Accept {
        /// The slot.
        slot: Slot,
        /// The ballot.
        ballot: Ballot,
        /// The value.
        value: Value,
    },
    /// The state machine after applying every slot below `slot`. Replaces any older snapshot;
    /// accepted entries below `slot` are no longer needed (the slots are chosen and applied) and
    /// the storage may drop them.
    Snapshot {
        /// The first slot not reflected in `state`.
        slot: Slot,
        /// The key-value state and session table.
        state: Arc<KvStore>,
    },
    /// Every slot below `below` is chosen, even where this replica does not hold the value: learned
    /// from peers during a storage-loss recovery, and reported in promises so that no candidate
    /// fills such a slot with a no-op.
    ChosenFloor {
        /// The first slot not known chosen this way.
        below: Slot,
    },
    /// `node` is at `incarnation` (at least). Written before answering its recovery.
    Incarnation {
        /// The node.
        node: NodeId,
        /// Its incarnation.
        incarnation: u64,
    },
    /// This replica belongs to `cluster` as `incarnation` and may vote. Written by `init` for a new
    /// cluster, and as the last record of a storage-loss recovery: a state without it is not
    /// trusted and the replica recovers again.
    Joined {
        /// The cluster.
        cluster: ClusterId,
        /// This replica's node id (checked when a data directory is opened).
        node: NodeId,
        /// This replica's incarnation.
        incarnation: u64,
    },
}

/// The named timers. Durations are the runtime's: see the runtime configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Timer {
    /// No word from a leader for a while: start an election. Randomised by the runtime.
    Election,
    /// The leader's heartbeat: announce the commit point, confirm leadership.
    Heartbeat,
    /// Resend what has not been answered (lost messages, dead connections).
    Retransmit,
    /// Lease mode: the lease taken by confirmation round `n` ends (the leader's lease duration,
    /// shorter than [`Timer::LeaseGuard`] by the documented drift margin).
    Lease(u64),
    /// Lease mode: a follower stops refusing other candidates on behalf of the leader it last heard.
    LeaseGuard,
}
