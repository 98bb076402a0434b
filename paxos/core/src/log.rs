//! The replicated log as one replica sees it: what it accepted and what it knows to be chosen, slot
//! by slot, and how far it has applied.

use super::command::Value;
use super::message::Report;
use super::types::{Ballot, Slot};
use std::collections::BTreeMap;

/// One slot as seen by this replica.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Entry {
    /// What this replica's acceptor accepted last in the slot (durable).
    pub accepted: Option<(Ballot, Value)>,
    /// The chosen value, once this replica knows it.
    pub chosen: Option<Value>,
}

/// The log of one replica.
///
/// Invariants: `start <= applied <= commit`; every slot below `commit` is chosen and its value is
/// known (or was compacted); entries below `start` are gone.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Log {
    entries: BTreeMap<Slot, Entry>,
    start: Slot,
    commit: Slot,
    applied: Slot,
    /// Every slot below it is known to be chosen even where the value is not known here (learned
    /// from peers during a storage-loss recovery). Reported in promises so that a candidate never
    /// fills such a slot with a no-op.
    chosen_floor: Slot,
    /// The weight ([`Value::weight`]) of the chosen values held for applied slots, `start` to
    /// `applied`: what the retained log costs in memory.
    retained_bytes: u64,
}

impl Log {
    /// The first slot whose entry is still held.
    pub fn start(&self) -> Slot {
        self.start
    }

    /// The first slot whose chosen value is not known.
    pub fn commit(&self) -> Slot {
        self.commit
    }

    /// The first slot not yet applied.
    pub fn applied(&self) -> Slot {
        self.applied
    }

    /// Every slot below it is known to be chosen (with or without its value).
    pub fn chosen_point(&self) -> Slot {
        self.commit.max(self.chosen_floor)
    }

    /// Records that every slot below `slot` is chosen.
    pub fn raise_chosen_floor(&mut self, slot: Slot) {
        self.chosen_floor = self.chosen_floor.max(slot);
    }

    /// The highest slot holding anything, plus one (or `start`).
    pub fn end(&self) -> Slot {
        self.entries.last_key_value().map_or(self.start, |(slot, _)| slot.next()).max(self.commit)
    }

    /// The entry of `slot`, if held.
    pub fn entry(&self, slot: Slot) -> Option<&Entry> {
        self.entries.get(&slot)
    }

    /// Records that the acceptor accepted `value` in `slot` at `ballot`.
    pub fn accept(&mut self, slot: Slot, ballot: Ballot, value: Value) {
        assert!(slot >= self.start, "accepting compacted slot {slot}");
        self.entries.entry(slot).or_default().accepted = Some((ballot, value));
    }

    /// Records that `value` is chosen in `slot`; returns whether this is news.
    ///
    /// # Errors
    ///
    /// The value already known to be chosen in the slot, if it differs: agreement is violated. The
    /// log keeps the first value.
    pub fn choose(&mut self, slot: Slot, value: Value) -> Result<bool, Value> {
        if slot < self.start {
            return Ok(false);
        }
        let entry = self.entries.entry(slot).or_default();
        if let Some(known) = &entry.chosen {
            return if known == &value { Ok(false) } else { Err(known.clone()) };
        }
        entry.chosen = Some(value);
        while self.entries.get(&self.commit).is_some_and(|entry| entry.chosen.is_some()) {
            self.commit = self.commit.next();
        }
        Ok(true)
    }

    /// The next chosen slot to apply, if its value is known.
    pub fn next_to_apply(&self) -> Option<(Slot, &Value)> {
        if self.applied >= self.commit {
            return None;
        }
        let value = self.entries.get(&self.applied)?.chosen.as_ref()?;
        Some((self.applied, value))
    }

    /// Marks the slot returned by [`Log::next_to_apply`] as applied.
    pub fn mark_applied(&mut self) {
        assert!(self.applied < self.commit, "applying slot {} beyond commit {}", self.applied, self.commit);
        self.retained_bytes += self.weight(self.applied);
        self.applied = self.applied.next();
    }

    /// The weight of the chosen value held for `slot` (0 if none).
    fn weight(&self, slot: Slot) -> u64 {
        self.entries.get(&slot).and_then(|entry| entry.chosen.as_ref()).map_or(0, Value::weight)
    }

    /// The weight of the values held for applied slots ([`Value::weight`]).
    pub fn retained_bytes(&self) -> u64 {
        self.retained_bytes
    }

    /// Drops entries below `slot` (which must be applied): the state machine covers them.
    pub fn compact(&mut self, slot: Slot) {
        assert!(slot <= self.applied, "compacting unapplied slot {slot} (applied {})", self.applied);
        if slot <= self.start {
            return;
        }
        let dropped: u64 = self
            .entries
            .range(..slot)
            .filter_map(|(_, entry)| entry.chosen.as_ref())
            .map(Value::weight)
            .sum();
        self.retained_bytes = self.retained_bytes.saturating_sub(dropped);
        self.entries = self.entries.split_off(&slot);
        self.start = slot;
    }

    /// Drops the oldest applied entries until at most `slots` applied slots and `bytes` of their
    /// values are held.
    pub fn compact_to(&mut self, slots: u64, bytes: u64) {
        let (mut slot, mut held) = (self.start, self.retained_bytes);
        while slot < self.applied && (self.applied.0 - slot.0 > slots || held > bytes) {
            held = held.saturating_sub(self.weight(slot));
            slot = slot.next();
        }
        self.compact(slot);
    }

    /// Replaces everything below `slot` by an installed snapshot of the state machine.
    pub fn install_snapshot(&mut self, slot: Slot) {
        assert!(slot >= self.applied, "installing snapshot {slot} below applied {}", self.applied);
        self.entries = self.entries.split_off(&slot);
        self.start = slot;
        self.applied = slot;
        self.retained_bytes = 0;
        self.commit = self.commit.max(slot);
        while self.entries.get(&self.commit).is_some_and(|entry| entry.chosen.is_some()) {
            self.commit = self.commit.next();
        }
    }

    /// What this replica holds from `from` on, for a promise or a recovery answer.
    pub fn reports(&self, from: Slot) -> Vec<Report> {
        self.entries
            .range(from.max(self.start)..)
            .filter(|(_, entry)| entry.accepted.is_some() || entry.chosen.is_some())
            .map(|(slot, entry)| Report {
                slot: *slot,
                accepted: entry.accepted.clone(),
                chosen: entry.chosen.clone(),
            })
            .collect()
    }

    /// Chosen values of consecutive slots from `from`, at most `count` of them.
    pub fn chosen_from(&self, from: Slot, count: usize) -> Vec<Value> {
        if from >= self.commit {
            return Vec::new();
        }
        self.entries
            .range(from..self.commit)
            .take(count)
            .map(|(_, entry)| entry.chosen.clone().expect("every slot below commit is chosen"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{Operation, Request};
    use crate::types::{ClientId, NodeId};
    use std::sync::Arc;

    /// A value of one put: 48 + 64 + 2 = 114 bytes ([`Value::weight`]).
    fn value(n: u64) -> Value {
        let put = Operation::Put { key: "k".into(), value: "v".into() };
        Value::Batch(Arc::new(vec![Request { client: ClientId(n), sequence: 1, operations: vec![put] }]))
    }

    /// Slots 0..4 chosen and applied, slot 4 chosen and not applied.
    fn applied_four() -> Log {
        let mut log = Log::default();
        for slot in 0..5 {
            assert_eq!(log.choose(Slot(slot), value(slot)), Ok(true));
        }
        for _ in 0..4 {
            log.mark_applied();
        }
        log
    }

    #[test]
    fn compaction_keeps_at_most_the_bytes_asked_for_and_never_an_unapplied_slot() {
        let weight = value(0).weight();
        assert_eq!(weight, 114);
        let mut log = applied_four();
        assert_eq!((log.applied(), log.commit(), log.retained_bytes()), (Slot(4), Slot(5), 4 * weight));
        // Bytes: the oldest go until what is held fits (exactly fitting is kept).
        log.compact_to(100, 2 * weight);
        assert_eq!((log.start(), log.retained_bytes()), (Slot(2), 2 * weight));
        log.compact_to(100, 2 * weight - 1);
        assert_eq!((log.start(), log.retained_bytes()), (Slot(3), weight));
        // Slots: at most one applied slot held; nothing asked for still stops at the applied point.
        let mut log = applied_four();
        log.compact_to(1, u64::MAX);
        assert_eq!((log.start(), log.retained_bytes()), (Slot(3), weight));
        log.compact_to(0, 0);
        assert_eq!((log.start(), log.retained_bytes()), (Slot(4), 0));
        assert_eq!(log.next_to_apply(), Some((Slot(4), &value(4))), "the unapplied slot stays");
    }

    #[test]
    fn a_slot_below_the_start_is_old_news_and_a_different_value_is_a_conflict() {
        let mut log = applied_four();
        log.compact_to(0, 0);
        assert_eq!(log.choose(Slot(1), value(9)), Ok(false), "compacted: nothing to check it against");
        assert_eq!(log.choose(Slot(4), value(4)), Ok(false));
        assert_eq!(log.choose(Slot(4), value(9)), Err(value(4)));
        assert_eq!(log.choose(Slot(6), value(6)), Ok(true));
        assert_eq!(log.commit(), Slot(5), "slot 5 is not chosen yet");
        log.accept(Slot(5), Ballot { round: 1, node: NodeId(1) }, value(5));
        assert_eq!(log.end(), Slot(7));
    }
}
