//! The protocol's identifiers: nodes, ballots, slots, clients, clusters, groups, and small node sets.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A replica's identity within its cluster. At most [`NodeSet::CAPACITY`] replicas per cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub struct NodeId(pub u8);

impl NodeId {
    /// The id as an index into per-node vectors.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}

/// One Paxos group of a node: an independent replica of the same core, with its own log, leader
/// and keys (a node runs groups `0..G`; see the runtime's `groups` module for which keys a group
/// holds). The core never reads it: a group is a whole core, and the runtime keeps them apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub struct GroupId(pub u16);

impl GroupId {
    /// The id as an index into per-group vectors.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "g{}", self.0)
    }
}

/// A Paxos ballot (proposal number): totally ordered by round, then by the proposing node, so two
/// nodes never use the same ballot.
///
/// Field order matters: the derived `Ord` compares `round` first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub struct Ballot {
    /// Increases with every election attempt.
    pub round: u64,
    /// The node that proposes in this ballot.
    pub node: NodeId,
}

impl Ballot {
    /// Below every real ballot: what an acceptor has promised before it promised anything.
    pub const ZERO: Ballot = Ballot { round: 0, node: NodeId(0) };

    /// The smallest ballot of `node` above `self`.
    pub const fn next_for(self, node: NodeId) -> Ballot {
        Ballot { round: self.round + 1, node }
    }
}

impl fmt::Display for Ballot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.round, self.node.0)
    }
}

/// A position in the replicated log. Slots start at 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub struct Slot(pub u64);

impl Slot {
    /// The slot after this one.
    pub const fn next(self) -> Slot {
        Slot(self.0 + 1)
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A client session. A client has at most one request outstanding; its sequence numbers increase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ClientId(pub u64);

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}", self.0)
    }
}

/// The identity of a cluster, written once by `init`. Messages from another cluster are dropped.
/// [`ClusterId::UNKNOWN`] is what a replica that lost its storage sends until it has recovered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ClusterId(pub u64);

impl ClusterId {
    /// Not yet known: only a recovering replica uses it.
    pub const UNKNOWN: ClusterId = ClusterId(0);
}

impl fmt::Display for ClusterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// A set of nodes as a bit set: cheap to copy, hash and count. Used for quorum tallies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub struct NodeSet(u64);

impl NodeSet {
    /// The largest node id plus one.
    pub const CAPACITY: usize = 64;

    /// The empty set.
    pub const fn new() -> NodeSet {
        NodeSet(0)
    }

    /// Adds `node`; returns whether it was new.
    pub fn insert(&mut self, node: NodeId) -> bool {
        assert!(node.index() < Self::CAPACITY, "node id {} is above the supported maximum", node.0);
        let bit = 1u64 << node.0;
        let fresh = self.0 & bit == 0;
        self.0 |= bit;
        fresh
    }

    /// Removes `node`.
    pub fn remove(&mut self, node: NodeId) {
        self.0 &= !(1u64 << node.0);
    }

    /// Whether `node` is in the set.
    pub const fn contains(self, node: NodeId) -> bool {
        self.0 & (1u64 << node.0) != 0
    }

    /// The number of nodes in the set.
    pub const fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The nodes in both sets.
    pub const fn intersection(self, other: NodeSet) -> NodeSet {
        NodeSet(self.0 & other.0)
    }

    /// The nodes in either set.
    pub const fn union(self, other: NodeSet) -> NodeSet {
        NodeSet(self.0 | other.0)
    }

    /// The members, in increasing id order.
    pub fn iter(self) -> impl Iterator<Item = NodeId> {
        (0..Self::CAPACITY as u8).map(NodeId).filter(move |&node| self.contains(node))
    }

    /// The size of a majority of the set.
    pub const fn majority(self) -> usize {
        self.len() / 2 + 1
    }
}

impl FromIterator<NodeId> for NodeSet {
    fn from_iter<I: IntoIterator<Item = NodeId>>(nodes: I) -> NodeSet {
        let mut set = NodeSet::new();
        for node in nodes {
            set.insert(node);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Operators read these forms in `INFO`, logs and errors: pinned.
    #[test]
    fn identifiers_display_as_operators_read_them() {
        let shown = [
            NodeId(7).to_string(),
            GroupId(3).to_string(),
            Ballot { round: 12, node: NodeId(2) }.to_string(),
            Slot(40).to_string(),
            ClientId(9).to_string(),
            ClusterId(0xab).to_string(),
        ];
        assert_eq!(shown, ["n7", "g3", "12.2", "40", "c9", "00000000000000ab"]);
        assert_eq!((NodeId(7).index(), GroupId(3).index()), (7, 3));
        assert_eq!(
            Ballot { round: 12, node: NodeId(2) }.next_for(NodeId(1)),
            Ballot { round: 13, node: NodeId(1) }
        );
        assert_eq!(Slot(40).next(), Slot(41));
    }

    #[test]
    fn a_node_set_is_a_set_of_ids_below_its_capacity() {
        let mut set = NodeSet::new();
        assert!(set.is_empty());
        assert_eq!((set.len(), set.majority()), (0, 1));
        assert!(set.insert(NodeId(1)));
        assert!(set.insert(NodeId(63)));
        assert!(!set.insert(NodeId(1)), "already in");
        assert!(set.insert(NodeId(0)));
        assert_eq!(set.iter().collect::<Vec<_>>(), [NodeId(0), NodeId(1), NodeId(63)]);
        assert!(set.contains(NodeId(63)) && !set.contains(NodeId(2)) && !set.is_empty());
        assert_eq!((set.len(), set.majority()), (3, 2));
        set.remove(NodeId(0));
        set.remove(NodeId(5));
        assert_eq!(set.iter().collect::<Vec<_>>(), [NodeId(1), NodeId(63)]);
        let other: NodeSet = [NodeId(2), NodeId(63)].into_iter().collect();
        assert_eq!(set.intersection(other).iter().collect::<Vec<_>>(), [NodeId(63)]);
        assert_eq!(set.union(other).iter().collect::<Vec<_>>(), [NodeId(1), NodeId(2), NodeId(63)]);
        set.remove(NodeId(63));
        assert_eq!(set.iter().collect::<Vec<_>>(), [NodeId(1)]);
        let four: NodeSet = (1..=4).map(NodeId).collect();
        assert_eq!((four.len(), four.majority()), (4, 3));
    }
}
