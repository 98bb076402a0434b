//! The sans-IO Multi-Paxos protocol core.
//!
//! A [`Replica`] is a plain, deterministic state machine: the runtime feeds it one [`Input`] at a
//! time through [`Replica::step`] and carries out the [`Output`]s it emits, honouring
//! persist-before-send as each send's [`Release`] states it (see [`io`]; every executor sorts a
//! step's outputs with [`Schedule`]). The same code runs on real sockets (`paxos::runtime`), inside
//! turmoil's simulated network, and inside the stateright model checker (`model` crate).
//!
//! The core uses no clock, no randomness, no threads, no files, no sockets and no hash-ordered
//! collections: its only dependencies are serde and thiserror (Cargo enforces that), and
//! `paxos/core/clippy.toml` bans the std items, with no exceptions. Every run is a function of its
//! inputs. The rest of the project reaches it as `paxos::core` (the node's crate re-exports it);
//! the model checker depends on this crate alone.
//!
//! # Glossary
//!
//! - **Ballot** (round, node): a proposal number; totally ordered; unique to its node.
//! - **Slot**: a position in the replicated log; each slot chooses one [`Value`].
//! - **Prepare / Promise**: phase 1, run once per leadership for all slots from the first
//!   unchosen one.
//! - **Accept / Accepted**: phase 2, one per slot; a stable leader runs only this phase.
//! - **Commit**: the knowledge that a slot's value is chosen, sent by the leader (piggybacked on
//!   Accept, and in heartbeats).
//! - **Incarnation**: how many times a replica recovered from storage loss; the crash vector is
//!   each replica's view of everyone's incarnation.
//! - **Session**: a client id with increasing sequence numbers; gives exactly-once application.
//!
//! # Layout
//!
//! - [`types`]: ids, ballots, slots, node sets.
//! - [`bytes`]: shared immutable byte strings for keys and values.
//! - [`command`]: operations, requests, responses, log values.
//! - [`message`]: the messages between replicas.
//! - [`io`]: inputs, outputs, persists, timers, when a send may leave: the contract with the
//!   runtime.
//! - [`schedule`]: a step's outputs sorted by that contract, for every executor.
//! - [`config`]: the first members, bounds, read mode, mutants.
//! - [`membership`]: voters and learners, and how a change through the log stays safe.
//! - [`durable`]: the durable state and its replay.
//! - [`kv`]: the key-value state machine and its session table.
//! - [`log`]: the replicated log as one replica sees it.
//! - `replica` and its roles `acceptor`, `proposer`, `learner`, `clients`, `recovery`.

mod acceptor;
pub mod bytes;
mod clients;
pub mod command;
pub mod config;
pub mod counters;
pub mod durable;
pub mod io;
pub mod kv;
mod learner;
pub mod log;
pub mod membership;
pub mod message;
mod proposer;
mod recovery;
mod replica;
pub mod schedule;
pub mod types;

pub use bytes::Bytes;
pub use command::{Operation, Outcome, Queue, Request, RequestError, Response, Value};
#[cfg(feature = "mutants")]
pub use config::Mutant;
pub use config::{Config, ConfigError, ReadMode};
pub use counters::Counters;
pub use durable::{DurableState, Joined};
pub use io::{Input, Output, Persist, Release, Timer};
pub use kv::KvStore;
pub use log::{Entry, Log};
pub use membership::{Change, MemberError, Membership};
pub use message::{Envelope, Incarnations, Message, Report};
pub use replica::{Replica, Status};
pub use schedule::{Action, Schedule, TimerChange};
pub use types::{Ballot, ClientId, ClusterId, GroupId, NodeId, NodeSet, Slot};
