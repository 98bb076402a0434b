//! The runtime: drives the core over real (or simulated) sockets, timers and storage.
//!
//! - [`clock`]: the node's own clock (rate and jumps), for per-host skew in simulation.
//! - [`env`]: the small environment (sockets) the runtime is generic over: tokio's, or turmoil's.
//! - [`groups`]: which Paxos group of a node holds a key.
//! - [`node`]: the node loop: steps each group's replica, persists before it sends (group commit),
//!   timers, leaders spread over the nodes.
//! - [`peer`]: connections between nodes: framed, checked, kept alive, redialled.
//! - [`clients`]: client connections speaking RESP2 (framed by [`crate::client::resp`]).
//! - [`session`]: what a client connection and the node loop say to each other.
//! - [`setup`]: data directories: `init`, `node.json`, `cluster.json`.

pub mod clients;
pub mod clock;
pub mod env;
pub mod groups;
pub mod node;
pub mod peer;
pub mod session;
pub mod setup;

pub use env::{Net, TokioNet};
pub use node::{parse_address, run, DiskMode, NodeError, NodeOptions, Observed, Timing};
pub use session::MemberView;
pub use setup::{ClusterConfig, Member};
