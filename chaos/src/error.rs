//! What can go wrong in a chaos run, by failure domain: the harness's own ([`ChaosError`]: bad
//! input, files, processes, a broken simulation) and the cluster's ([`Liveness`]: what it failed
//! to do in time, which the checks report as an outcome of the run, not as a harness failure).

use std::path::PathBuf;
use std::time::Duration;

/// A chaos run could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum ChaosError {
    /// A scenario name, file or flag that cannot be used; the message names the input and what
    /// was expected.
    #[error("{0}")]
    Input(String),
    /// A file or directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A process (a node, cargo, kill, the async runtime) could not be started or did not do its
    /// part.
    #[error("{command}: {reason}")]
    Process {
        /// What was run.
        command: String,
        /// What went wrong.
        reason: String,
    },
    /// A cluster directory could not be created (`paxos init`'s own error).
    #[error("{0}")]
    Setup(String),
    /// A node process exited on its own.
    #[error("n{node} exited on its own ({status}); its log: {}", log.display())]
    Exited {
        /// The node.
        node: u8,
        /// Its exit status.
        status: String,
        /// Its output.
        log: PathBuf,
    },
    /// The simulation stopped: a host's task failed.
    #[error("seed {seed}: at {at:?}: {message}")]
    Simulation {
        /// The run's seed (it replays the failure).
        seed: u64,
        /// Simulated time of the failure.
        at: Duration,
        /// turmoil's error.
        message: String,
    },
    /// The history the clients recorded is not one (a bug of the harness).
    #[error("history line {line}: {reason}")]
    History {
        /// One-based line number.
        line: usize,
        /// What was expected.
        reason: String,
    },
    /// The cluster did not do what the harness waited for.
    #[error(transparent)]
    Liveness(#[from] Liveness),
}

impl ChaosError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> ChaosError {
        let path = path.into();
        move |source| ChaosError::Io { path, source }
    }
}

/// What a cluster failed to do within its bound.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Liveness {
    /// No node led.
    #[error("no leader within {within:?}")]
    NoLeader {
        /// The bound.
        within: Duration,
    },
    /// The clients did not all stop, or the replicas did not apply the same log with a leader.
    #[error("no convergence within {within:?} after the clients stopped ({stopped} of {clients} clients stopped; {nodes})")]
    NotConverged {
        /// The bound.
        within: Duration,
        /// Clients stopped.
        stopped: usize,
        /// Clients in all.
        clients: usize,
        /// Each node's progress.
        nodes: String,
    },
    /// A node answered no read of a key.
    #[error("{node} did not answer a read of {key} within {within:?}")]
    NotServing {
        /// The node (its name or address).
        node: String,
        /// The key.
        key: String,
        /// The bound.
        within: Duration,
    },
    /// An operator's membership change was not done after healing.
    #[error("membership change not done within {within:?} after healing: {pending}")]
    Membership {
        /// The bound.
        within: Duration,
        /// The changes still under way.
        pending: String,
    },
    /// Some final read was not answered.
    #[error("not every node answered the final reads within {within:?}")]
    FinalReads {
        /// The bound.
        within: Duration,
    },
}
