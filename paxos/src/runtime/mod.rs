//! The runtime: drives the core over real (or simulated) sockets, timers and storage.
//!
//! - [`clock`]: the node's own clock (rate and jumps), for per-host skew in simulation.
//! - [`env`]: the small environment (sockets) the runtime is generic over: tokio's, or turmoil's.
//! - [`node`]: the node loop: steps the replica, persists before it sends (group commit), timers.
//! - [`peer`]: connections between nodes: framed, checked, kept alive, redialled.
//! - [`clients`]: client connections speaking RESP2.
//! - [`resp`]: the RESP2 parser and encoder.
//! - [`setup`]: data directories: `init`, `node.json`, `cluster.json`.

pub mod clients;
pub mod clock;
pub mod env;
pub mod node;
pub mod peer;
pub mod resp;
pub mod setup;

pub use env::{Net, TokioNet};
pub use node::{run, ClusterConfig, DiskMode, Member, NodeError, NodeOptions, Observed, Timing};
