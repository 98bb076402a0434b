//! The core's configuration: membership, bounds, the read mode, and (for the model checker only)
//! the mutant to run.

use super::types::{NodeId, NodeSet};
use serde::{Deserialize, Serialize};

/// How read-only requests are made linearizable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub enum ReadMode {
    /// The leader notes its commit point, confirms with a majority that it is still the leader (a
    /// heartbeat round that starts after the read arrived), waits until it has applied up to the
    /// noted point, then answers from its state. No clock is involved. The default.
    #[default]
    ReadIndex,
    /// PhxPaxos-style master lease: the leader answers from its state while it holds a lease that
    /// followers honour by refusing other candidates until their guard timer expires. Safe only if
    /// clock *rates* differ by less than the margin between the leader's lease and the followers'
    /// guard durations (see the runtime configuration). Off by default.
    Lease,
}

/// A deliberately broken variant of the protocol, for proving that the model checker and the
/// randomised tests catch bugs. Exists only with the `mutants` feature.
#[cfg(feature = "mutants")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub enum Mutant {
    /// The correct protocol.
    #[default]
    None,
    /// An acceptor does not persist its promise.
    ForgetPromise,
    /// An acceptor answers an Accept before its persist is durable (the persist is emitted one
    /// step later).
    SendBeforePersist,
    /// Quorums of ⌊n/2⌋ instead of ⌊n/2⌋+1.
    MinorityQuorum,
    /// A new leader skips phase 1 and proposes straight away.
    SkipPrepare,
    /// A replica that lost its storage votes at once, as if it were new.
    NoRecovery,
    /// The leader answers reads from its state without confirming it is still the leader.
    UnconfirmedReads,
    /// Every send is marked to leave at once ([`Release::Immediately`](crate::Release)), votes
    /// and promises included, ahead of the persists they vouch for: the durability rule as an
    /// executor would break it by ignoring the release, which only an executor that lets persists
    /// lag (the node, the model's leaders, the randomised test's slow syncs) can show.
    EarlyVotes,
    /// A new leader re-proposes, in each slot, the first value a promise reported rather than the
    /// value of the highest ballot (Paxos Made Simple §2.2, the rule that makes a chosen value
    /// survive later ballots). Needs three ballots in one slot.
    FirstReportedValue,
    /// A candidate counts a promise made to an earlier ballot of its own (a late reply to an
    /// earlier campaign), whose report may predate what the acceptor accepted since.
    StalePromises,
    /// An acceptor accepts a proposal whose ballot is lower than the one it promised.
    AcceptBelowPromise,
    /// A new leader settles only the slots its own log reaches, ignoring values promisers reported
    /// beyond it ("Paxos Made Moderately Complex": phase 1 covers every slot), and proposes new
    /// requests there.
    IgnoreReportedSlots,
    /// A follower told that slots up to a commit point are chosen marks its accepted values there
    /// chosen whatever ballot it accepted them in, not only those of the ballot that told it
    /// (the bug of Raft's figure 8: an entry from an earlier term counted as committed).
    CommitAnyBallot,
    /// A leader tallies with the new voters from the moment it proposes a membership change, not
    /// from the moment it is chosen, and keeps proposing (no barrier, no new election).
    ConfigOnAccept,
    /// A leader lets a second membership change (and anything else) follow a pending one and goes
    /// on leading in its configuration after the first is chosen: no barrier and no new election,
    /// so slots after a change are decided by the old voters.
    TwoChanges,
    /// A leader whose membership change is chosen carries on in the new configuration with its
    /// old ballot, without a phase 1 among the new voters (a one-step swap with no transition).
    SwapWithoutElection,
    /// Votes of nodes that are not voters of the slot's configuration (removed nodes, learners)
    /// are counted.
    RemovedVotes,
    /// A leader whose election settled the reported slots only up to a membership change that,
    /// applied, changed nothing (a promotion of a node already a voter, refused) goes on leading
    /// and proposes new requests past it, into slots its promisers reported accepted, chosen
    /// perhaps. A bug this store had (found by `chaos sweep`, `groups-membership` seed 72).
    PastRefusedChange,
}

#[cfg(feature = "mutants")]
impl Mutant {
    /// Every mutant (without [`Mutant::None`]).
    pub const ALL: [Mutant; 17] = [
        Mutant::ForgetPromise,
        Mutant::SendBeforePersist,
        Mutant::MinorityQuorum,
        Mutant::SkipPrepare,
        Mutant::NoRecovery,
        Mutant::UnconfirmedReads,
        Mutant::EarlyVotes,
        Mutant::FirstReportedValue,
        Mutant::StalePromises,
        Mutant::AcceptBelowPromise,
        Mutant::IgnoreReportedSlots,
        Mutant::CommitAnyBallot,
        Mutant::ConfigOnAccept,
        Mutant::TwoChanges,
        Mutant::SwapWithoutElection,
        Mutant::RemovedVotes,
        Mutant::PastRefusedChange,
    ];

    /// The mutants that break membership changes: only runs that change the membership show them.
    pub fn is_membership(self) -> bool {
        matches!(
            self,
            Mutant::ConfigOnAccept | Mutant::TwoChanges | Mutant::SwapWithoutElection | Mutant::RemovedVotes
        )
    }

    /// The mutant's name on command lines.
    pub fn name(self) -> &'static str {
        match self {
            Mutant::None => "none",
            Mutant::ForgetPromise => "forget-promise",
            Mutant::SendBeforePersist => "send-before-persist",
            Mutant::MinorityQuorum => "minority-quorum",
            Mutant::SkipPrepare => "skip-prepare",
            Mutant::NoRecovery => "no-recovery",
            Mutant::UnconfirmedReads => "unconfirmed-reads",
            Mutant::EarlyVotes => "early-votes",
            Mutant::FirstReportedValue => "first-reported-value",
            Mutant::StalePromises => "stale-promises",
            Mutant::AcceptBelowPromise => "accept-below-promise",
            Mutant::IgnoreReportedSlots => "ignore-reported-slots",
            Mutant::CommitAnyBallot => "commit-any-ballot",
            Mutant::ConfigOnAccept => "config-on-accept",
            Mutant::TwoChanges => "two-changes",
            Mutant::SwapWithoutElection => "swap-without-election",
            Mutant::RemovedVotes => "removed-votes",
            Mutant::PastRefusedChange => "past-refused-change",
        }
    }
}

/// Whether the configuration runs mutant `$name`; always `false` without the `mutants` feature, so
/// the broken branches compile away in the node.
macro_rules! mutant {
    ($config:expr, $name:ident) => {{
        #[cfg(feature = "mutants")]
        {
            $config.mutant == $crate::Mutant::$name
        }
        #[cfg(not(feature = "mutants"))]
        {
            false
        }
    }};
}
pub(crate) use mutant;

/// A replica's configuration. Every replica of a cluster must use the same `members`: the first
/// voters, version 0 of the [`Membership`](super::Membership) that changes through the log.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Config {
    /// This replica.
    pub node: NodeId,
    /// The first voters (written by `init`). A replica that joins later is not among them.
    pub members: Vec<NodeId>,
    /// The first learners (none from `init`; the model checker starts with one, so that a
    /// promotion or a swap is one change).
    pub learners: Vec<NodeId>,
    /// Slots the leader may have in flight (proposed, not yet chosen) at once. One by default:
    /// every request that arrives while a slot is in flight joins the next batch, so the batches
    /// grow with the load and each costs one round trip and one fsync per replica. More slots
    /// pipeline phase 2, which pays only where a round trip is long against the work of a slot;
    /// where the replicas' work is the limit, every extra slot is extra messages, records and
    /// syncs (measured on three local nodes: 256 clients 58.5k -> 79.4k writes/s with one slot
    /// instead of 32, 64 clients 48.7k -> 50.3k, 16 clients 22.8k -> 24.0k, p99 lower at each).
    pub window_slots: u64,
    /// Requests per log slot at most.
    pub batch_requests_max: usize,
    /// Bytes per log slot at most ([`Request::weight`](super::Request::weight); a slot holds at
    /// least one request whatever its size): one slot is one message, one record and one apply.
    pub batch_bytes_max: u64,
    /// Requests waiting at the leader for a slot, at most; past it, clients get `Busy`.
    pub proposals_max: usize,
    /// Bytes of the requests waiting at the leader for a slot, at most; past it, clients get
    /// `Busy` (clients that pipeline large writes fill memory long before the count bound).
    pub proposals_bytes_max: u64,
    /// Requests of this node's clients awaiting a response, at most; past it, clients get `Busy`.
    pub pending_max: usize,
    /// Read-only requests waiting at the leader, at most; past it, clients get `Busy`.
    pub reads_max: usize,
    /// Chosen values per catch-up answer, at most.
    pub learn_slots_max: usize,
    /// Client sessions remembered by the state machine, at most.
    pub sessions_max: usize,
    /// Applied slots kept in memory so that lagging peers can catch up from the log; a peer that
    /// is further behind gets a snapshot.
    pub log_retain_slots: u64,
    /// The same bound in bytes ([`Value::weight`](super::Value::weight)): whichever is reached
    /// first. Under pipelined load a slot can hold thousands of requests.
    pub log_retain_bytes: u64,
    /// Applied slots between two persisted snapshots of the state machine (which let the storage
    /// drop the log below them).
    pub snapshot_interval_slots: u64,
    /// How reads are made linearizable.
    pub read_mode: ReadMode,
    /// A learner is promoted to voter only once it has answered the leader and its commit point is
    /// at most this many slots behind the leader's. `None`: no readiness check at all (the model
    /// checker, which so explores promotions of learners in any state, a superset of what a node
    /// allows).
    pub promote_lag_max: Option<u64>,
    /// The broken variant to run (model checker and tests only).
    #[cfg(feature = "mutants")]
    pub mutant: Mutant,
}

/// A configuration that cannot work.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A member appears twice.
    #[error("node {0} appears twice among the members")]
    Duplicate(NodeId),
    /// A node id is too large for the quorum bit sets.
    #[error("node id {0} is too large: ids must be below {max}", max = NodeSet::CAPACITY)]
    IdTooLarge(NodeId),
    /// A bound is zero.
    #[error("{0} must be at least 1")]
    Zero(&'static str),
}

impl Config {
    /// A configuration with default bounds.
    pub fn new(node: NodeId, members: Vec<NodeId>) -> Config {
        Config {
            node,
            members,
            learners: Vec::new(),
            window_slots: 1,
            batch_requests_max: 4096,
            batch_bytes_max: 4 << 20,
            proposals_max: 65_536,
            proposals_bytes_max: 64 << 20,
            pending_max: 65_536,
            reads_max: 65_536,
            learn_slots_max: 256,
            sessions_max: 100_000,
            log_retain_slots: 256,
            log_retain_bytes: 64 << 20,
            snapshot_interval_slots: 100_000,
            read_mode: ReadMode::ReadIndex,
            promote_lag_max: Some(256),
            #[cfg(feature = "mutants")]
            mutant: Mutant::None,
        }
    }

    /// Checks the configuration.
    ///
    /// # Errors
    ///
    /// The first problem found.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut seen = NodeSet::new();
        for &member in self.members.iter().chain(&self.learners) {
            if member.index() >= NodeSet::CAPACITY {
                return Err(ConfigError::IdTooLarge(member));
            }
            if !seen.insert(member) {
                return Err(ConfigError::Duplicate(member));
            }
        }
        if self.node.index() >= NodeSet::CAPACITY {
            return Err(ConfigError::IdTooLarge(self.node));
        }
        if self.members.is_empty() {
            return Err(ConfigError::Zero("members"));
        }
        let bounds = [
            ("window_slots", self.window_slots as usize),
            ("batch_requests_max", self.batch_requests_max),
            ("proposals_max", self.proposals_max),
            ("pending_max", self.pending_max),
            ("reads_max", self.reads_max),
            ("learn_slots_max", self.learn_slots_max),
            ("sessions_max", self.sessions_max),
            ("snapshot_interval_slots", usize::try_from(self.snapshot_interval_slots).unwrap_or(usize::MAX)),
            ("batch_bytes_max", usize::try_from(self.batch_bytes_max).unwrap_or(usize::MAX)),
            ("proposals_bytes_max", usize::try_from(self.proposals_bytes_max).unwrap_or(usize::MAX)),
            ("log_retain_bytes", usize::try_from(self.log_retain_bytes).unwrap_or(usize::MAX)),
        ];
        for (name, value) in bounds {
            if value == 0 {
                return Err(ConfigError::Zero(name));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each problem is named, the first one found; a valid configuration passes.
    #[test]
    fn a_configuration_with_a_problem_is_refused_naming_it() {
        let valid = Config::new(NodeId(1), vec![NodeId(1), NodeId(2), NodeId(3)]);
        assert_eq!(valid.validate(), Ok(()));
        type Edit = fn(&mut Config);
        let cases: [(Edit, &str); 6] = [
            (|config| config.members.push(NodeId(2)), "node n2 appears twice among the members"),
            (|config| config.learners = vec![NodeId(3)], "node n3 appears twice among the members"),
            (|config| config.learners = vec![NodeId(64)], "node id n64 is too large: ids must be below 64"),
            (|config| config.node = NodeId(64), "node id n64 is too large: ids must be below 64"),
            (|config| config.members.clear(), "members must be at least 1"),
            (|config| config.log_retain_bytes = 0, "log_retain_bytes must be at least 1"),
        ];
        for (change, expected) in cases {
            let mut config = valid.clone();
            change(&mut config);
            assert_eq!(config.validate().map_err(|error| error.to_string()), Err(expected.to_string()));
        }
        let mut learner = valid.clone();
        learner.learners = vec![NodeId(63)];
        assert_eq!(learner.validate(), Ok(()), "id 63 is the largest allowed");
    }

    /// The names are the command lines' (`--mutant stale-promises`); four of them break only
    /// membership changes, and only runs that change the membership can show them.
    #[cfg(feature = "mutants")]
    #[test]
    fn every_mutant_has_its_own_command_line_name_and_four_are_about_membership() {
        let names: Vec<&str> = Mutant::ALL.iter().map(|mutant| mutant.name()).collect();
        assert_eq!(
            names,
            [
                "forget-promise",
                "send-before-persist",
                "minority-quorum",
                "skip-prepare",
                "no-recovery",
                "unconfirmed-reads",
                "early-votes",
                "first-reported-value",
                "stale-promises",
                "accept-below-promise",
                "ignore-reported-slots",
                "commit-any-ballot",
                "config-on-accept",
                "two-changes",
                "swap-without-election",
                "removed-votes",
                "past-refused-change",
            ]
        );
        assert_eq!(Mutant::None.name(), "none");
        let membership: Vec<&str> =
            Mutant::ALL.iter().filter(|mutant| mutant.is_membership()).map(|mutant| mutant.name()).collect();
        assert_eq!(membership, ["config-on-accept", "two-changes", "swap-without-election", "removed-votes"]);
    }
}
