//! What a replica counts as it runs, for operators (`INFO`, metrics) and for the harnesses that
//! measure what their faults achieved (how often competing proposers made a slot accepted in
//! several ballots).

use std::cmp::Ordering;
use std::hash::{Hash, Hasher};

/// Event counters of one replica since it started (volatile: a restart starts them at zero).
///
/// They observe and never decide, so they take no part in a replica's identity: every two
/// `Counters` are equal, equally ordered and hash alike. The model checker's states are replicas,
/// and a count in them would split every state into one per history that reaches it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counters {
    /// Elections this replica started (phase 1 campaigns).
    pub elections: u64,
    /// Accepts of a slot this replica had already accepted in another ballot: a later leader
    /// settling a slot an earlier one proposed in (Paxos Made Simple's phase 1 at work).
    pub reaccepted: u64,
    /// Of those, the ones that replaced the accepted value with a different one: a value accepted
    /// but never chosen, superseded by a competing proposer's.
    pub overwritten: u64,
    /// Snapshots of the state machine this replica sent to a peer too far behind for the log.
    pub snapshots_sent: u64,
    /// Snapshots from peers this replica installed.
    pub snapshots_installed: u64,
}

impl PartialEq for Counters {
    fn eq(&self, _other: &Counters) -> bool {
        true
    }
}

impl Eq for Counters {}

impl PartialOrd for Counters {
    fn partial_cmp(&self, other: &Counters) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Counters {
    fn cmp(&self, _other: &Counters) -> Ordering {
        Ordering::Equal
    }
}

impl Hash for Counters {
    fn hash<H: Hasher>(&self, _state: &mut H) {}
}

#[cfg(test)]
mod tests {
    use super::Counters;
    use std::collections::hash_map::DefaultHasher;
    use std::hash::{Hash, Hasher};

    fn hashed(counters: &Counters) -> u64 {
        let mut hasher = DefaultHasher::new();
        counters.hash(&mut hasher);
        hasher.finish()
    }

    #[test]
    fn counters_never_tell_two_replicas_apart() {
        let zero = Counters::default();
        let busy = Counters {
            elections: 3,
            reaccepted: 2,
            overwritten: 1,
            snapshots_sent: 4,
            snapshots_installed: 5,
        };
        assert_eq!(zero, busy);
        assert_eq!(zero.cmp(&busy), std::cmp::Ordering::Equal);
        assert_eq!(zero.partial_cmp(&busy), Some(std::cmp::Ordering::Equal));
        assert_eq!(hashed(&zero), hashed(&busy));
        assert_eq!(busy.reaccepted, 2);
    }
}
