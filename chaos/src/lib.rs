//! Chaos for the paxos store: the real node inside turmoil's deterministic simulation, driven by
//! the declarative scenarios of the `scenarios` crate, every history checked by the `checker`.
//!
//! # Layout
//!
//! - [`cluster`]: what a fault schedule acts on, simulated or real.
//! - [`error`]: what can go wrong, by failure domain.
//! - [`net`]: the runtime's network trait over turmoil's.
//! - [`sim`]: the simulated world: nodes, clients that record a history, and the fault primitives
//!   (cuts, crashes, storage loss, pauses, clocks, a flaky network).
//! - [`real`]: the same scenarios on real `paxos node` processes, and `--attach`.
//! - [`run`]: plays a scenario's fault schedule in a world, then the liveness phase.
//! - [`checks`]: what a run is judged by: linearizability, lost acknowledged writes, convergence,
//!   every node serving; latency percentiles.
//! - [`workload`]: what a client does and records, in simulation or against real processes.
//! - [`plots`]: throughput, latency and availability over time, as SVG and as text.
//! - [`report`]: the text report, the output directory, and the HTML page.

pub mod checks;
pub mod cluster;
pub mod error;
pub mod net;
pub mod plots;
pub mod real;
pub mod report;
pub mod run;
pub mod sim;
pub mod workload;

pub use error::{ChaosError, Liveness};
