//! The durable state of a replica: what it must remember across crashes, rebuilt by replaying
//! [`Persist`] records.

use super::command::Value;
use super::io::Persist;
use super::kv::KvStore;
use super::types::{Ballot, ClusterId, NodeId, Slot};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The membership this replica joined, and as which incarnation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Joined {
    /// The cluster.
    pub cluster: ClusterId,
    /// The node this state belongs to: a data directory moved to another node is refused.
    pub node: NodeId,
    /// This replica's incarnation (0 for a replica created by `init`).
    pub incarnation: u64,
}

/// Everything a replica persisted. `Replica::new` restores from it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub struct DurableState {
    /// Set once the replica may vote; `None` means it must recover (storage loss).
    pub joined: Option<Joined>,
    /// The highest ballot promised.
    pub promised: Ballot,
    /// The latest snapshot of the state machine: (first slot not reflected, state).
    pub snapshot: Option<(Slot, Arc<KvStore>)>,
    /// The latest accepted value of each slot, with its ballot.
    pub accepted: BTreeMap<Slot, (Ballot, Value)>,
    /// Every slot below it is chosen (see [`Persist::ChosenFloor`]).
    pub chosen_floor: Slot,
    /// The highest known incarnation of each node whose incarnation is not 0.
    pub incarnations: BTreeMap<NodeId, u64>,
}

impl DurableState {
    /// The state `init` writes for a member of a new cluster.
    pub fn initial(cluster: ClusterId, node: NodeId) -> DurableState {
        DurableState { joined: Some(Joined { cluster, node, incarnation: 0 }), ..DurableState::default() }
    }

    /// The state of a replica whose storage was lost: it must recover before it votes.
    pub fn lost() -> DurableState {
        DurableState::default()
    }

    /// Replays one record.
    pub fn apply(&mut self, record: &Persist) {
        match record {
            Persist::Reset => *self = DurableState::default(),
            Persist::Promise(ballot) => self.promised = self.promised.max(*ballot),
            Persist::Accept { slot, ballot, value } => {
                self.promised = self.promised.max(*ballot);
                // A slot the snapshot covers is chosen and applied: its entry is not needed.
                if self.snapshot.as_ref().is_none_or(|(covered, _)| slot >= covered) {
                    self.accepted.insert(*slot, (*ballot, value.clone()));
                }
            }
            Persist::Snapshot { slot, state } => {
                if self.snapshot.as_ref().is_none_or(|(held, _)| held < slot) {
                    self.snapshot = Some((*slot, state.clone()));
                    self.accepted = self.accepted.split_off(slot);
                }
            }
            Persist::ChosenFloor { below } => self.chosen_floor = self.chosen_floor.max(*below),
            Persist::Incarnation { node, incarnation } => {
                let known = self.incarnations.entry(*node).or_default();
                *known = (*known).max(*incarnation);
            }
            Persist::Joined { cluster, node, incarnation } => {
                self.joined = Some(Joined { cluster: *cluster, node: *node, incarnation: *incarnation });
            }
        }
    }
}
