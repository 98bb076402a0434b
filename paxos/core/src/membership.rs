//! Membership: which nodes vote, which only learn, and how that changes while the cluster runs.
//!
//! # The scheme
//!
//! The membership is part of the replicated state machine ([`KvStore`](super::KvStore)): a change
//! is an operation in the log ([`Operation::Member`](super::Operation::Member)), applied in slot
//! order like a write, and checked at apply time (so every replica reaches the same verdict). This
//! is Lamport's "Reconfiguring a State Machine" with α = 1, closed by a fresh phase 1 per
//! configuration (the stop-sign of Vertical Paxos and OmniPaxos, without a new log):
//!
//! 1. **One configuration per slot.** The configuration of slot `s` is the membership after
//!    applying every slot below `s`; its voters are the only acceptors whose votes count in `s`
//!    (phase 1 and phase 2). A learner receives the leader's proposals and heartbeats, accepts
//!    them and acknowledges them like a voter, but no tally counts it.
//! 2. **A leadership spans one configuration.** A candidate campaigns for the slots from its commit
//!    point `from`, all below which are chosen and applied, so it knows the configuration of
//!    `from` exactly, and needs promises from a majority of *its* voters. It settles the reported
//!    slots only up to and including the first one whose value holds a membership change (that
//!    slot is still in the configuration of `from`: nothing between `from` and it changes the
//!    membership), and proposes nothing beyond a membership change of its own until that slot is
//!    chosen (the *barrier*). So every slot a leader proposes in has the configuration it campaigned
//!    in.
//! 3. **Chosen in order.** A leader declares a slot chosen only once every slot below it is chosen
//!    (with a window of several slots in flight, a later slot's quorum waits). Without this, a slot
//!    behind one whose value a later leader could still replace by a membership change would be
//!    declared chosen by voters that are not its configuration's.
//! 4. **A new configuration starts with a new ballot.** When a slot that changes the membership is
//!    chosen, its leader campaigns again at once with a higher ballot, now among the new voters
//!    (or, if it is no longer a voter, asks one of them to campaign and steps down). Its phase 1
//!    with a majority of the new voters is what makes the slots after the change safe, though the
//!    old and new majorities need not intersect: any value accepted there was proposed by a leader
//!    of the new configuration, which a majority of the new voters reports.
//!
//! Why the two-majority problem of one-step changes does not arise: a change only ends a
//! configuration at a slot that is *chosen* (by the old voters), and the new configuration's first
//! leader runs phase 1 among the new voters before it proposes past it. A swap of one voter for
//! another (`Replace`) is therefore one change, not two. What a bad variant of each rule does is
//! shown by the model checker's mutants (`config-on-accept`, `two-changes`, `swap-without-election`,
//! `removed-votes`).
//!
//! Pipelining and batching: a batch ends with the request that holds a membership change, and the
//! leader keeps at most that one change in flight; the slots of the window before it are of the
//! same configuration, and none is proposed after it until it is chosen. A second change that
//! arrives while one is pending is refused with [`RequestError::ChangePending`](super::RequestError).
//!
//! Storage-loss recovery (`recovery.rs`) counts its majorities among the voters of the newest
//! configuration any answer reports, and crash vectors travel with catch-up, so that members that
//! joined after an incarnation was recorded learn it.

use super::bytes::Bytes;
use super::types::{NodeId, NodeSet};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The members of a cluster at one point of its log.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub struct Membership {
    /// Increases with every change applied (0: the members `init` wrote).
    pub version: u64,
    /// The members whose votes count.
    pub voters: NodeSet,
    /// Members that receive the log but do not vote (joining nodes, catching up).
    pub learners: NodeSet,
    /// Ids removed from the cluster; never reused.
    pub removed: NodeSet,
    /// Each member's addresses, as the operator gave them (opaque to the core; the runtime reads
    /// them to reach new members). The members `init` wrote have none here: their addresses are
    /// in every node's cluster file.
    pub addresses: BTreeMap<NodeId, Bytes>,
}

/// A change of the membership, proposed through the log.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Change {
    /// Adds a learner.
    Add {
        /// The new node's id.
        node: NodeId,
        /// Its addresses (opaque to the core).
        address: Bytes,
    },
    /// Makes a learner a voter.
    Promote {
        /// The learner.
        node: NodeId,
    },
    /// Removes a voter or a learner.
    Remove {
        /// The member.
        node: NodeId,
    },
    /// In one change: `new` (a learner) becomes a voter and `old` (a voter) leaves.
    Replace {
        /// The voter that leaves.
        old: NodeId,
        /// The learner that takes its place.
        new: NodeId,
    },
}

impl Change {
    /// The node the change is about (the new one for a replacement).
    pub fn node(&self) -> NodeId {
        match self {
            Change::Add { node, .. } | Change::Promote { node } | Change::Remove { node } => *node,
            Change::Replace { new, .. } => *new,
        }
    }

    /// The learner that becomes a voter, if any: it must have caught up first.
    pub fn promotes(&self) -> Option<NodeId> {
        match self {
            Change::Promote { node } | Change::Replace { new: node, .. } => Some(*node),
            Change::Add { .. } | Change::Remove { .. } => None,
        }
    }
}

/// Why a membership request was refused. Nothing changed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, thiserror::Error)]
pub enum MemberError {
    /// The id is a member already.
    #[error("ERR node {0} is already a member")]
    Exists(NodeId),
    /// The id was removed and cannot be reused.
    #[error("ERR node id {0} was removed from this cluster and cannot be reused; choose a new id")]
    Reused(NodeId),
    /// The id does not fit the quorum bit sets.
    #[error("ERR node id {0} is too large: ids must be below {max}", max = NodeSet::CAPACITY)]
    IdTooLarge(NodeId),
    /// Another member already has the address.
    #[error("ERR address {address} is already used by node {node}")]
    AddressInUse {
        /// The address.
        address: String,
        /// The member using it.
        node: NodeId,
    },
    /// The node is not a member.
    #[error("ERR node {0} is not a member")]
    NotMember(NodeId),
    /// The node is not a learner (only learners are promoted).
    #[error("ERR node {0} is not a learner: add it first, let it catch up, then promote it")]
    NotLearner(NodeId),
    /// The node is not a voter.
    #[error("ERR node {0} is not a voter")]
    NotVoter(NodeId),
    /// The change would leave no voter.
    #[error("ERR removing node {0} would leave the cluster without a voter")]
    LastVoter(NodeId),
    /// Another change is in flight.
    #[error("ERR a membership change is already in progress; retry when it is done")]
    Pending,
    /// The learner is too far behind to vote.
    #[error(
        "ERR node {node} is {behind} slots behind the leader (at most {limit}); let it catch up and retry"
    )]
    Behind {
        /// The learner.
        node: NodeId,
        /// How far behind.
        behind: u64,
        /// The bound.
        limit: u64,
    },
    /// The learner has never answered this leader: it may not even run. Promoting it could leave
    /// a configuration whose majority needs a node that cannot vote yet (and, with another voter
    /// lost, none at all); etcd likewise promotes only a learner in sync with its leader.
    #[error("ERR node {0} has not answered the leader yet: start it, let it catch up, and retry")]
    Unheard(NodeId),
    /// The node is removed from the cluster and serves no requests.
    #[error("ERR node {0} was removed from the cluster; connect to a current member")]
    Departed(NodeId),
}

impl Membership {
    /// The first membership: `voters` and `learners`, version 0.
    pub fn initial(voters: &[NodeId], learners: &[NodeId]) -> Membership {
        Membership {
            voters: voters.iter().copied().collect(),
            learners: learners.iter().copied().collect(),
            ..Membership::default()
        }
    }

    /// Every member, voters and learners.
    pub fn members(&self) -> NodeSet {
        self.voters.union(self.learners)
    }

    /// Whether `node` votes.
    pub fn is_voter(&self, node: NodeId) -> bool {
        self.voters.contains(node)
    }

    /// Votes needed for a decision: a majority of the voters.
    pub fn quorum(&self) -> usize {
        self.voters.majority()
    }

    /// Checks `change` and applies it; returns the new version.
    ///
    /// # Errors
    ///
    /// Why the change cannot be made; the membership is then unchanged.
    pub fn apply(&mut self, change: &Change) -> Result<u64, MemberError> {
        self.check(change)?;
        match change {
            Change::Add { node, address } => {
                self.learners.insert(*node);
                if !address.is_empty() {
                    self.addresses.insert(*node, address.clone());
                }
            }
            Change::Promote { node } => {
                self.learners.remove(*node);
                self.voters.insert(*node);
            }
            Change::Remove { node } => {
                self.learners.remove(*node);
                self.voters.remove(*node);
                self.removed.insert(*node);
                self.addresses.remove(node);
            }
            Change::Replace { old, new } => {
                self.learners.remove(*new);
                self.voters.insert(*new);
                self.voters.remove(*old);
                self.removed.insert(*old);
                self.addresses.remove(old);
            }
        }
        self.version += 1;
        Ok(self.version)
    }

    /// Why `change` cannot be made, if it cannot.
    ///
    /// # Errors
    ///
    /// The first problem found.
    pub fn check(&self, change: &Change) -> Result<(), MemberError> {
        let node = change.node();
        if node.index() >= NodeSet::CAPACITY {
            return Err(MemberError::IdTooLarge(node));
        }
        match change {
            Change::Add { node, address } => {
                if self.removed.contains(*node) {
                    return Err(MemberError::Reused(*node));
                }
                if self.members().contains(*node) {
                    return Err(MemberError::Exists(*node));
                }
                if let Some((&holder, _)) =
                    self.addresses.iter().find(|(_, held)| !address.is_empty() && *held == address)
                {
                    let address = String::from_utf8_lossy(address).into_owned();
                    return Err(MemberError::AddressInUse { address, node: holder });
                }
                Ok(())
            }
            Change::Promote { node } => {
                if !self.learners.contains(*node) {
                    return Err(MemberError::NotLearner(*node));
                }
                Ok(())
            }
            Change::Remove { node } => {
                if !self.members().contains(*node) {
                    return Err(MemberError::NotMember(*node));
                }
                if self.voters.contains(*node) && self.voters.len() == 1 {
                    return Err(MemberError::LastVoter(*node));
                }
                Ok(())
            }
            Change::Replace { old, new } => {
                if old.index() >= NodeSet::CAPACITY || !self.voters.contains(*old) {
                    return Err(MemberError::NotVoter(*old));
                }
                if !self.learners.contains(*new) {
                    return Err(MemberError::NotLearner(*new));
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three() -> Membership {
        Membership::initial(&[NodeId(1), NodeId(2), NodeId(3)], &[])
    }

    #[test]
    fn a_replacement_swaps_a_voter_for_a_learner_in_one_version() {
        let mut members = three();
        assert_eq!(members.apply(&Change::Add { node: NodeId(4), address: "h:4".into() }), Ok(1));
        assert_eq!(members.apply(&Change::Replace { old: NodeId(2), new: NodeId(4) }), Ok(2));
        assert_eq!(members.voters, [NodeId(1), NodeId(3), NodeId(4)].into_iter().collect());
        assert!(members.learners.is_empty());
        assert!(members.removed.contains(NodeId(2)));
    }

    #[test]
    fn bad_changes_are_refused_and_change_nothing() {
        let mut members = three();
        members.apply(&Change::Add { node: NodeId(4), address: "h:4".into() }).unwrap();
        let before = members.clone();
        let cases = [
            (Change::Add { node: NodeId(2), address: "h:9".into() }, MemberError::Exists(NodeId(2))),
            (
                Change::Add { node: NodeId(5), address: "h:4".into() },
                MemberError::AddressInUse { address: "h:4".into(), node: NodeId(4) },
            ),
            (Change::Promote { node: NodeId(2) }, MemberError::NotLearner(NodeId(2))),
            (Change::Remove { node: NodeId(7) }, MemberError::NotMember(NodeId(7))),
            (Change::Replace { old: NodeId(4), new: NodeId(4) }, MemberError::NotVoter(NodeId(4))),
            (Change::Add { node: NodeId(64), address: "".into() }, MemberError::IdTooLarge(NodeId(64))),
        ];
        for (change, error) in cases {
            assert_eq!(members.apply(&change), Err(error), "{change:?}");
            assert_eq!(members, before);
        }
    }

    #[test]
    fn the_last_voter_cannot_leave_and_removed_ids_are_not_reused() {
        let mut members = Membership::initial(&[NodeId(1), NodeId(2)], &[]);
        members.apply(&Change::Remove { node: NodeId(2) }).unwrap();
        assert_eq!(
            members.apply(&Change::Remove { node: NodeId(1) }),
            Err(MemberError::LastVoter(NodeId(1)))
        );
        assert_eq!(
            members.apply(&Change::Add { node: NodeId(2), address: "".into() }),
            Err(MemberError::Reused(NodeId(2)))
        );
        assert_eq!(members.version, 1);
    }
}
