//! A Multi-Paxos replicated key-value store.
//!
//! One protocol core ([`core`]) is stepped by a runtime: on real TCP sockets with fsync'd storage,
//! inside turmoil's deterministic simulated network, and inside the stateright model checker.
//!
//! # Layout
//!
//! - [`core`]: the sans-IO protocol (ballots, acceptor, proposer, learner, log, KV state machine,
//!   storage-loss recovery). Pure and deterministic.
//! - [`testkit`]: a deterministic in-memory cluster that steps replicas with seeded message loss,
//!   duplication, reordering, timer firings, crashes and storage loss, and checks agreement after
//!   every step. Used by the randomised tests and the core benchmark.
//! - [`storage`]: the write-ahead log, snapshots, recovery and group commit, over a small
//!   file-system trait (the operating system's, or turmoil's simulated disk).

#[allow(clippy::disallowed_methods, clippy::disallowed_types)]
pub mod bench;
#[allow(clippy::disallowed_methods, clippy::disallowed_types)]
pub mod client;
pub mod core;
#[allow(clippy::disallowed_methods, clippy::disallowed_types)]
pub mod runtime;
#[allow(clippy::disallowed_methods, clippy::disallowed_types)]
pub mod storage;
#[allow(clippy::disallowed_methods, clippy::disallowed_types)]
pub mod testkit;
