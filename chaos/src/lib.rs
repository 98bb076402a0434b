//! Chaos for the paxos store: the real node inside turmoil's deterministic simulation.

pub mod net;
pub mod scenario;
pub mod sim;
pub mod verify;
