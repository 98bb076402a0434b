//! Which Paxos group holds a key: `fmix32(crc32c(key)) mod G`, for the `G` groups the cluster was
//! created with. Every node computes it the same way (the function and `G` never change for a
//! cluster), so a request can reach any node: the node hands each operation to its key's group,
//! and the group's replica forwards it to the group's leader as a single-group node does.
//!
//! - `crc32c`: CRC-32C (Castagnoli, polynomial `0x1EDC6F41` reflected, initial and final value
//!   `0xFFFFFFFF`) of the key's bytes exactly as the client sent them; `crc32c("a") = 0xC1D04330`.
//! - `fmix32`: MurmurHash3's 32-bit finalizer: `h ^= h >> 16; h *= 0x85EBCA6B; h ^= h >> 13;
//!   h *= 0xC2B2AE35; h ^= h >> 16` (wrapping). A CRC is linear in its input: keys that differ in
//!   one character (`k1`, `k2`, ...) have CRCs whose low bits take only a few values, and with
//!   four groups `k0`..`k11` fell into two of them; the finalizer spreads them.
//!
//! A client that wants to send a key straight to its group's leader computes the same; with four
//! groups `a` is in group 0 and `k2` in group 2.
//!
//! # Membership across groups
//!
//! Every group has its own membership in its own log, and an operator's `MEMBER` change is
//! proposed to every group at once (see `clients.rs`). When that half succeeds (a group's leader
//! unreachable, a timeout, a crash), the groups disagree: [`catch_up`] is the change that carries
//! a group one step towards what the others have applied, and the node that leads the group
//! proposes it. It needs no order between the groups' logs because a node's standing only moves
//! one way (absent, learner, voter, removed; a learner may be removed directly): the furthest
//! standing any group has applied is where every group is headed, and a group that lags, or a
//! view of another group that lags, can only ask for less, never undo a change.

use crate::core::{Change, GroupId, Membership, NodeId, NodeSet};

/// The group of `key` among `groups` groups.
///
/// # Panics
///
/// `groups` is 0 (a cluster has at least one group).
pub fn group_of(key: &[u8], groups: u16) -> GroupId {
    assert!(groups > 0, "a cluster has at least one group");
    let remainder = fmix32(crc32c::crc32c(key)) % u32::from(groups);
    GroupId(u16::try_from(remainder).expect("below the number of groups, a u16"))
}

/// MurmurHash3's 32-bit finalizer: every input bit affects every output bit.
fn fmix32(mut hash: u32) -> u32 {
    hash ^= hash >> 16;
    hash = hash.wrapping_mul(0x85EB_CA6B);
    hash ^= hash >> 13;
    hash = hash.wrapping_mul(0xC2B2_AE35);
    hash ^ (hash >> 16)
}

/// Where a node stands in one group's membership; it only ever moves down this list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Standing {
    Absent,
    Learner,
    Voter,
    Removed,
}

fn standing(members: &Membership, node: NodeId) -> Standing {
    if members.removed.contains(node) {
        Standing::Removed
    } else if members.voters.contains(node) {
        Standing::Voter
    } else if members.learners.contains(node) {
        Standing::Learner
    } else {
        Standing::Absent
    }
}

/// The next change that brings `group`'s membership towards the furthest standing of each node in
/// `groups` (every group's membership as this node has applied it), or `None` if it is there.
/// Growth comes first: a node another group added is added (with the address a group knows it
/// by), then a learner promoted elsewhere is promoted (with a voter removed elsewhere, as one
/// `Replace`, so that the number of voters never drops on the way), then removals. A node removed
/// elsewhere that this group never had stays out of it (nothing to remove). One change at a time:
/// a group has at most one change in flight.
pub fn catch_up(group: &Membership, groups: &[&Membership]) -> Option<Change> {
    let known = groups.iter().fold(group.members(), |known, other| known.union(other.members()));
    let furthest =
        |node: NodeId| groups.iter().map(|other| standing(other, node)).max().unwrap_or(Standing::Absent);
    let behind: Vec<(NodeId, Standing, Standing)> = known
        .union(groups.iter().fold(NodeSet::new(), |removed, other| removed.union(other.removed)))
        .iter()
        .map(|node| (node, standing(group, node), furthest(node)))
        .filter(|(_, now, to)| now < to)
        .collect();
    if let Some(&(node, _, _)) =
        behind.iter().find(|(_, now, to)| *now == Standing::Absent && *to != Standing::Removed)
    {
        let address = std::iter::once(group)
            .chain(groups.iter().copied())
            .find_map(|members| members.addresses.get(&node))
            .cloned()
            .unwrap_or_default();
        return Some(Change::Add { node, address });
    }
    let promoted = behind.iter().find(|(_, now, to)| *now == Standing::Learner && *to == Standing::Voter);
    let removed_voter = behind.iter().find(|(_, now, _)| *now == Standing::Voter);
    match (promoted, removed_voter) {
        (Some(&(new, _, _)), Some(&(old, _, _))) => return Some(Change::Replace { old, new }),
        (Some(&(node, _, _)), None) => return Some(Change::Promote { node }),
        (None, _) => {}
    }
    behind.iter().find(|(_, now, _)| *now != Standing::Absent).map(|&(node, _, _)| Change::Remove { node })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The mapping is part of the cluster's format: pinned, so that no build moves a key to
    /// another group (its value would be lost to readers).
    #[test]
    fn keys_map_to_groups_by_their_mixed_crc32c() {
        assert_eq!(crc32c::crc32c(b"a"), 0xC1D0_4330);
        assert_eq!(fmix32(0xC1D0_4330), 0xEAD7_8E20);
        let keys: Vec<String> = (0..12).map(|n| format!("k{n}")).collect();
        let groups: Vec<u16> = keys.iter().map(|key| group_of(key.as_bytes(), 4).0).collect();
        assert_eq!(groups, [3, 3, 2, 1, 2, 2, 3, 2, 3, 2, 1, 1]);
        assert_eq!(group_of(b"a", 4), GroupId(0));
        assert_eq!(group_of(b"anything", 1), GroupId(0));
    }

    fn three() -> Membership {
        Membership::initial(&[NodeId(1), NodeId(2), NodeId(3)], &[])
    }

    fn after(changes: &[Change]) -> Membership {
        let mut members = three();
        for change in changes {
            members.apply(change).expect("applies");
        }
        members
    }

    fn add(node: u8) -> Change {
        Change::Add { node: NodeId(node), address: format!("h{node}:7000").into() }
    }

    /// Applies `catch_up` to `group` until it has nothing more to do; returns the changes.
    fn converge(group: &mut Membership, others: &[&Membership]) -> Vec<Change> {
        let mut made = Vec::new();
        while let Some(change) =
            catch_up(group, &[&*group].into_iter().chain(others.iter().copied()).collect::<Vec<_>>())
        {
            group.apply(&change).expect("the change applies");
            made.push(change);
            assert!(made.len() < 10, "no end: {made:?}");
        }
        made
    }

    #[test]
    fn a_group_that_missed_changes_is_led_through_them_one_at_a_time_growth_first() {
        let ahead =
            after(&[add(4), Change::Promote { node: NodeId(4) }, add(5), Change::Remove { node: NodeId(1) }]);
        let mut behind = three();
        let made = converge(&mut behind, &[&ahead]);
        assert_eq!(made, [add(4), add(5), Change::Replace { old: NodeId(1), new: NodeId(4) }]);
        assert_eq!((behind.voters, behind.learners), (ahead.voters, ahead.learners));
        assert!(behind.removed.contains(NodeId(1)));
    }

    #[test]
    fn each_kind_of_missed_change_is_made_as_the_other_group_made_it() {
        let cases = [
            (vec![], vec![add(4)], Some(add(4))),
            (
                vec![add(4)],
                vec![add(4), Change::Promote { node: NodeId(4) }],
                Some(Change::Promote { node: NodeId(4) }),
            ),
            (
                vec![add(4)],
                vec![add(4), Change::Replace { old: NodeId(2), new: NodeId(4) }],
                Some(Change::Replace { old: NodeId(2), new: NodeId(4) }),
            ),
            (
                vec![add(4)],
                vec![add(4), Change::Remove { node: NodeId(4) }],
                Some(Change::Remove { node: NodeId(4) }),
            ),
            (vec![], vec![Change::Remove { node: NodeId(3) }], Some(Change::Remove { node: NodeId(3) })),
            // Added and removed elsewhere, never here: nothing to undo.
            (vec![], vec![add(4), Change::Remove { node: NodeId(4) }], None),
            (vec![add(4)], vec![add(4)], None),
        ];
        for (here, there, expected) in cases {
            let (group, other) = (after(&here), after(&there));
            assert_eq!(catch_up(&group, &[&group, &other]), expected, "here {here:?}, there {there:?}");
        }
    }

    /// A view of another group that lags (this node has not applied its latest changes yet)
    /// asks for nothing: standings only move one way, so an older view is never "ahead".
    #[test]
    fn a_lagging_view_of_another_group_never_undoes_a_change() {
        let group = after(&[add(4), Change::Replace { old: NodeId(2), new: NodeId(4) }, add(5)]);
        let lagging = after(&[add(4)]);
        assert_eq!(catch_up(&group, &[&group, &lagging, &three()]), None);
    }

    #[test]
    fn an_added_node_keeps_the_address_the_other_group_knows_it_by() {
        let other = after(&[add(6)]);
        let group = three();
        assert_eq!(
            catch_up(&group, &[&group, &other]),
            Some(Change::Add { node: NodeId(6), address: "h6:7000".into() })
        );
    }
}
