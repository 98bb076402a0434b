//! A Multi-Paxos replicated key-value store.
//!
//! One protocol core ([`core`]) is stepped by a runtime: on real TCP sockets with fsync'd storage,
//! inside turmoil's deterministic simulated network, and inside the stateright model checker.
//!
//! # Layout
//!
//! - [`core`]: the sans-IO protocol (ballots, acceptor, proposer, learner, log, KV state machine,
//!   storage-loss recovery), a crate of its own (`paxos-core`, in `paxos/core/`) so that its purity
//!   is a fact of its dependencies. Pure and deterministic.
//! - `testkit`: a deterministic in-memory cluster that steps replicas with seeded message loss,
//!   duplication, reordering, timer firings, crashes and storage loss, and checks agreement after
//!   every step. Used by the randomised tests and the core benchmark, behind the `testkit`
//!   feature (the tests and benches turn it on; the node never builds it).
//! - [`client`]: the Redis protocol (RESP2 framing, shared with the node's client connections) and
//!   a small client.
//! - [`runtime`]: the node: drives the core over sockets, timers and storage (tokio, or turmoil's
//!   simulation).
//! - [`metrics`]: the node's Prometheus metrics and the HTTP endpoint that serves them.
//! - [`storage`]: the write-ahead log, snapshots, recovery and group commit, over a small
//!   file-system trait (the operating system's, or turmoil's simulated disk).
//!
//! The `paxos` command (`src/bin/paxos/`: the CLI and the load generator of `paxos bench`) is
//! built on this library and is not part of it.

pub mod client;
pub mod metrics;
pub mod runtime;
pub mod storage;
#[cfg(feature = "testkit")]
pub mod testkit;

/// The sans-IO protocol core: the `paxos-core` crate (`paxos/core/`), which depends on std, serde
/// and thiserror only.
pub use paxos_core as core;
