//! The search: Wing & Gong's algorithm as refined by Lowe ("Testing for linearizability", 2017),
//! with memoisation of (set of linearized operations, model state).
//!
//! The history is a doubly linked list of call and return entries in real-time order. The search
//! walks it from the front: at a call entry it tries to linearize that operation now (the model
//! accepts it and the pair (linearized set, state) was never seen), removing its call and return
//! from the list; at a return entry it is stuck (that operation had to take effect before its
//! return) and backtracks. Operations of unknown outcome have no return entry: they may be
//! linearized at any point after their call, or never, and are kept apart from the list (in
//! invocation order), tried when the walk reaches a return entry. The history is linearizable when
//! no return entry is left.
//!
//! Unknown operations are where such searches blow up (k of them in flight give 2^k subsets), so
//! four reductions, each sound on its own (see the tests against a brute force): unknown
//! operations whose effect nothing can observe are left out ([`Model::needless`]); an unknown
//! operation is tried only when no completed one can go next; of unknown operations with the same
//! effect only the earliest not yet linearized is tried; and a configuration is skipped when one
//! with the same completed operations and state but a subset of its unknown ones was seen.
//!
//! States that no operation of the key can tell apart are one ([`Model::representative`]): with
//! appends, a string that begins no value read or expected can never be read, whatever follows
//! until a write replaces it, so every such string is the same configuration. On a key of 84
//! operations with appends, deletes and unknown outcomes this took the search from more than
//! 1,000,000 configurations to 328 (`tests/kv.rs`), and it is what makes the
//! over-approximation of the explanations end on such keys.

use crate::history::{Function, Operation, Status};
use crate::model::Model;
use crate::value::Value;
use crate::versions::Version;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

/// Search steps taken by every search of this process, for progress lines.
pub static STEPS: AtomicU64 = AtomicU64::new(0);

/// Bounds on one search.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Give up (inconclusive) after this instant.
    pub deadline: Option<Instant>,
    /// Give up (inconclusive) when the memo holds this many configurations.
    pub memo_entries_max: usize,
    /// Give up (inconclusive) when the memo and the search's stack hold this many bytes (an
    /// estimate from the sizes of what they store, states' heap data included).
    pub memory_bytes_max: usize,
    /// Over-approximate: an operation of unknown outcome may take effect any number of times. The
    /// configurations are then only (completed operations linearized, state), far fewer; every
    /// linearization of the history is still found, so `NotLinearizable` is a proof for the
    /// history as it is, while `Linearizable` is not (the order found may use an operation twice).
    pub unknown_reusable: bool,
    /// Rule out the steps that what the reads reveal forbids ([`crate::versions`]). The verdict is
    /// the same either way; without them the search gets stuck where plain Wing–Gong–Lowe does (at
    /// the read that cannot see its value rather than at the write that would hide it), which
    /// explanations prefer on small sets.
    pub infer: bool,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            deadline: None,
            memo_entries_max: 20_000_000,
            memory_bytes_max: default_memory_bytes(),
            unknown_reusable: false,
            infer: true,
        }
    }
}

/// A quarter of this machine's memory (Linux's `MemTotal`), or 2 GiB where it cannot be read:
/// the default bound on all of a check's searches together.
pub fn default_memory_bytes() -> usize {
    static DEFAULT: OnceLock<usize> = OnceLock::new();
    *DEFAULT.get_or_init(|| {
        let total = std::fs::read_to_string("/proc/meminfo").ok().and_then(|text| {
            let line = text.lines().find(|line| line.starts_with("MemTotal:"))?;
            line.split_whitespace().nth(1)?.parse::<usize>().ok()
        });
        total.map_or(2 << 30, |kilobytes| kilobytes.saturating_mul(1024) / 4)
    })
}

/// `bytes` for people: `512 KB`, `1.5 GB`.
pub fn show_bytes(bytes: usize) -> String {
    match bytes {
        0..1_000_000 => format!("{:.0} KB", bytes as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} MB", bytes as f64 / 1e6),
        _ => format!("{:.2} GB", bytes as f64 / 1e9),
    }
}

/// The result of a search over one partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A linearization exists; the operations (indices into the partition) in its order.
    Linearizable(Vec<usize>),
    /// None exists.
    NotLinearizable(Stuck),
    /// A bound was reached first: no verdict, never a guess.
    Inconclusive(String),
}

/// Where every attempt got stuck, from the deepest attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stuck {
    /// The longest partial linearization found (indices into the partition, in order).
    pub partial: Vec<usize>,
    /// The operation whose completion the partial linearization could not get past.
    pub blocked: usize,
}

/// A 64-bit multiplicative hash (FxHash's constant): the memo hashes bitsets of many words, and
/// SipHash was most of the search's time.
#[derive(Default)]
pub struct FastHasher(u64);

impl Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_usize(&mut self, word: usize) {
        self.write_u64(word as u64);
    }
}

/// A hasher for keys that are already well-mixed 64-bit hashes.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 << 8) | u64::from(byte);
        }
    }

    fn write_u64(&mut self, word: u64) {
        self.0 = word;
    }
}

/// A per-operation random key: the linearized set's hash is the XOR of its members' keys (Zobrist
/// hashing), updated in O(1) as operations are linearized and undone.
fn zobrist(op: usize) -> u64 {
    let mut z = (op as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The configurations seen: (linearized set, model state), stored exactly (no verdict rests on a
/// hash) in an arena, found through a hash of the completed operations linearized and the state.
///
/// The linearized set is kept in two parts. Operations that completed are stored as a window: the
/// number of leading words that are all ones, then the words up to the last set bit. The search
/// linearizes them roughly in invocation order, so the window spans only the operations in flight
/// and costs a few words whatever the history's length; the hash of the set is kept up to date in
/// O(1) (Zobrist). Operations of unknown outcome are stored as their own bitset, and a
/// configuration is *subsumed* by one seen before with the same completed set and state and a
/// subset of its unknown operations: an unknown operation is never required (nothing returns
/// after it, and it may never take effect), so every way to finish from the larger set also
/// finishes from the smaller one, and if the smaller failed, so does the larger. Without this, a
/// history with k unknown operations in flight costs up to 2^k configurations per state.
struct Memo<S> {
    /// Hash of (completed set, state) -> the first group with it; groups with the same hash are
    /// chained through `Group::next`.
    heads: HashMap<u64, u32, BuildHasherDefault<Prehashed>>,
    /// One per (completed set, state) seen.
    groups: Vec<Group>,
    states: Vec<S>,
    /// The unknown-operation sets seen with each group: (offset in `bits`, length, next of the
    /// group).
    unknown_sets: Vec<(u32, u32, u32)>,
    bits: Vec<u64>,
    /// Heap bytes of the states stored (their own size is in `states`' capacity).
    states_heap_bytes: usize,
}

/// A (completed set, state) seen: the set's leading full words, where its window is in
/// `Memo::bits`, the next group with the same hash, and the first of its unknown sets.
struct Group {
    full: u32,
    offset: u32,
    len: u32,
    next: u32,
    unknown_sets: u32,
}

const END: u32 = u32::MAX;

impl<S: Clone + Eq + Hash> Memo<S> {
    fn new() -> Memo<S> {
        Memo {
            heads: HashMap::default(),
            groups: Vec::new(),
            states: Vec::new(),
            unknown_sets: Vec::new(),
            bits: Vec::new(),
            states_heap_bytes: 0,
        }
    }

    /// Bytes held, from the capacities of what it stores (a hash map entry counted at twice its
    /// size, for its control bytes and empty slots), and the states' heap bytes.
    fn bytes(&self) -> usize {
        self.parts().iter().map(|&(capacity, size, _)| capacity * size).sum::<usize>()
            + self.states_heap_bytes
    }

    /// What [`Memo::bytes`] counts: per store, its capacity, the bytes of one element, and how
    /// many elements it holds.
    fn parts(&self) -> [(usize, usize, usize); 5] {
        [
            (self.heads.capacity(), 2 * std::mem::size_of::<(u64, u32)>(), self.heads.len()),
            (self.groups.capacity(), std::mem::size_of::<Group>(), self.groups.len()),
            (self.states.capacity(), std::mem::size_of::<S>(), self.states.len()),
            (self.unknown_sets.capacity(), std::mem::size_of::<(u32, u32, u32)>(), self.unknown_sets.len()),
            (self.bits.capacity(), 8, self.bits.len()),
        ]
    }

    /// Configurations recorded.
    fn len(&self) -> usize {
        self.unknown_sets.len()
    }

    /// Records the configuration; false if it, or one that subsumes it, was seen before.
    fn insert(
        &mut self,
        completed: &Linearized,
        unknown: &[u64],
        state: &S,
        state_heap_bytes: usize,
    ) -> bool {
        let mut hasher = FastHasher(completed.hash);
        state.hash(&mut hasher);
        let hash = hasher.finish();
        let (full, window) = (completed.full, completed.window());
        let new_group = self.groups.len() as u32;
        let head = *self.heads.entry(hash).or_insert(new_group);
        let mut group = if head == new_group { END } else { head };
        while group != END {
            let seen = &self.groups[group as usize];
            let (offset, len) = (seen.offset as usize, seen.len as usize);
            if seen.full as usize == full
                && &self.bits[offset..offset + len] == window
                && self.states[group as usize] == *state
            {
                break;
            }
            group = seen.next;
        }
        if group == END {
            // A (completed set, state) not seen: a new group, chained in after the head.
            let next = if head == new_group {
                END
            } else {
                std::mem::replace(&mut self.groups[head as usize].next, new_group)
            };
            self.groups.push(Group {
                full: full as u32,
                offset: self.bits.len() as u32,
                len: window.len() as u32,
                next,
                unknown_sets: END,
            });
            self.bits.extend_from_slice(window);
            self.states.push(state.clone());
            self.states_heap_bytes += state_heap_bytes;
            group = new_group;
        } else {
            // Subsumed by a set seen (a subset of this one)? Sets seen that this one subsumes are
            // dropped from the group, so that it stays an antichain and its scan short.
            let mut previous = END;
            let mut set = self.groups[group as usize].unknown_sets;
            while set != END {
                let (offset, len, next) = self.unknown_sets[set as usize];
                let seen = &self.bits[offset as usize..(offset + len) as usize];
                let (mut seen_within, mut now_within) = (true, true);
                for (index, &now) in unknown.iter().enumerate() {
                    let seen = seen.get(index).copied().unwrap_or(0);
                    seen_within &= seen & !now == 0;
                    now_within &= now & !seen == 0;
                }
                if seen_within {
                    return false;
                }
                if now_within {
                    match previous {
                        END => self.groups[group as usize].unknown_sets = next,
                        previous => self.unknown_sets[previous as usize].2 = next,
                    }
                } else {
                    previous = set;
                }
                set = next;
            }
        }
        let unknown_len = unknown.iter().rposition(|&word| word != 0).map_or(0, |last| last + 1);
        let index = self.unknown_sets.len() as u32;
        let next = std::mem::replace(&mut self.groups[group as usize].unknown_sets, index);
        self.unknown_sets.push((self.bits.len() as u32, unknown_len as u32, next));
        self.bits.extend_from_slice(&unknown[..unknown_len]);
        true
    }
}

/// A set of operations as a bitset, with its window (see [`Memo`]) kept up to date.
struct Linearized {
    words: Vec<u64>,
    /// Leading words that are all ones.
    full: usize,
    /// One past the last word with a bit set.
    top: usize,
    /// XOR of the members' Zobrist keys.
    hash: u64,
}

impl Linearized {
    fn new(operations: usize) -> Linearized {
        Linearized { words: vec![0; operations.div_ceil(64).max(1)], full: 0, top: 0, hash: 0 }
    }

    fn insert(&mut self, op: usize) {
        let word = op / 64;
        self.words[word] |= 1 << (op % 64);
        self.hash ^= zobrist(op);
        self.top = self.top.max(word + 1);
        while self.full < self.words.len() && self.words[self.full] == u64::MAX {
            self.full += 1;
        }
    }

    fn remove(&mut self, op: usize) {
        let word = op / 64;
        self.words[word] &= !(1 << (op % 64));
        self.hash ^= zobrist(op);
        self.full = self.full.min(word);
        while self.top > 0 && self.words[self.top - 1] == 0 {
            self.top -= 1;
        }
    }

    fn window(&self) -> &[u64] {
        &self.words[self.full..self.top.max(self.full)]
    }
}

/// The linearized set, split as [`Memo`] stores it: completed operations (windowed, hashed) and
/// operations of unknown outcome (a plain bitset), each numbered densely in invocation order.
struct Configuration {
    completed: Linearized,
    unknown: Vec<u64>,
    /// Per operation: whether it completed, and its number among its kind.
    slot: Vec<(bool, usize)>,
}

impl Configuration {
    fn new(operations: &[&Operation]) -> Configuration {
        let (mut completed, mut unknown) = (0, 0);
        let slot: Vec<(bool, usize)> = operations
            .iter()
            .map(|operation| {
                if operation.status == Status::Ok {
                    completed += 1;
                    (true, completed - 1)
                } else {
                    unknown += 1;
                    (false, unknown - 1)
                }
            })
            .collect();
        Configuration {
            completed: Linearized::new(completed),
            unknown: vec![0; unknown.div_ceil(64).max(1)],
            slot,
        }
    }

    fn insert(&mut self, op: usize) {
        match self.slot[op] {
            (true, index) => self.completed.insert(index),
            (false, index) => self.unknown[index / 64] |= 1 << (index % 64),
        }
    }

    /// Whether `op`, an operation of unknown outcome, is linearized. (The search asks only of
    /// those: a completed operation is linearized exactly while its entries are out of the list.)
    fn holds_unknown(&self, op: usize) -> bool {
        let (completed, index) = self.slot[op];
        debug_assert!(!completed, "asked about a completed operation");
        self.unknown[index / 64] & (1 << (index % 64)) != 0
    }

    fn remove(&mut self, op: usize) {
        match self.slot[op] {
            (true, index) => self.completed.remove(index),
            (false, index) => self.unknown[index / 64] &= !(1 << (index % 64)),
        }
    }
}

#[derive(Clone, Copy)]
struct Node {
    /// The operation (index into the partition).
    op: usize,
    is_call: bool,
    prev: usize,
    next: usize,
}

const NIL: usize = usize::MAX;

/// Where the search looks next.
#[derive(Clone, Copy)]
enum Cursor {
    /// At this entry of the list of completed operations' calls and returns.
    Completed(usize),
    /// At this index of the unknown operations in invocation order; `limit` is the position of the
    /// first return entry ahead (an unknown operation invoked after it must wait for it).
    Unknown { index: usize, limit: usize, first_return: usize },
}

/// Searches for a linearization of `operations` (one partition: one key) under `model`.
pub fn search<M: Model>(model: &M, operations: &[&Operation], limits: Limits) -> Outcome {
    // Unknown operations that no linearization needs (the model says which) are never tried.
    let needless = model.needless(operations);
    // The completed operations' calls and returns in real-time order, as a linked list; node 0 is
    // the head sentinel. Unknown operations have no return and are kept apart, in invocation order.
    let mut entries: Vec<(usize, usize, bool)> = Vec::with_capacity(operations.len() * 2);
    let mut unknown: Vec<usize> = Vec::new();
    for (index, operation) in operations.iter().enumerate() {
        match (operation.status, operation.ret) {
            (Status::Ok, Some(ret)) => {
                entries.push((operation.call, index, true));
                entries.push((ret, index, false));
            }
            _ => unknown.push(index),
        }
    }
    // Every event has its own position: a call and a return never tie.
    entries.sort_unstable_by_key(|&(position, ..)| position);
    unknown.sort_by_key(|&op| operations[op].call);
    let mut nodes = Vec::with_capacity(entries.len() + 1);
    nodes.push(Node { op: NIL, is_call: false, prev: NIL, next: if entries.is_empty() { NIL } else { 1 } });
    let mut call_node = vec![NIL; operations.len()];
    let mut return_node = vec![NIL; operations.len()];
    for (offset, &(_, op, is_call)) in entries.iter().enumerate() {
        let id = offset + 1;
        let next = if id == entries.len() { NIL } else { id + 1 };
        nodes.push(Node { op, is_call, prev: id - 1, next });
        if is_call {
            call_node[op] = id;
        } else {
            return_node[op] = id;
        }
    }
    let unlink = |nodes: &mut Vec<Node>, id: usize| {
        let Node { prev, next, .. } = nodes[id];
        nodes[prev].next = next;
        if next != NIL {
            nodes[next].prev = prev;
        }
    };
    let relink = |nodes: &mut Vec<Node>, id: usize| {
        let Node { prev, next, .. } = nodes[id];
        nodes[prev].next = id;
        if next != NIL {
            nodes[next].prev = id;
        }
    };
    // The unknown pass at `index`, bounded by the first return entry ahead (a completed operation
    // that must take effect before any operation invoked after it): that entry and its position.
    let unknown_pass = |nodes: &Vec<Node>, index: usize, first_return: usize| {
        let limit = if first_return == NIL {
            usize::MAX
        } else {
            operations[nodes[first_return].op].ret.unwrap_or(usize::MAX)
        };
        Cursor::Unknown { index, limit, first_return }
    };
    let find_first_return = |nodes: &Vec<Node>| {
        let mut entry = nodes[0].next;
        while entry != NIL && nodes[entry].is_call {
            entry = nodes[entry].next;
        }
        entry
    };

    let mut linearized = Configuration::new(operations);
    // Unknown operations with the same effect are interchangeable: whichever of two is linearized,
    // the same states follow, and the one invoked first can stand wherever the other can (neither
    // ever returns). So only the first not yet linearized of each kind is tried, and the unknown
    // operations linearized are always a prefix of each kind in invocation order.
    let mut twin_before = vec![NIL; operations.len()];
    let mut unknown_index = vec![NIL; operations.len()];
    {
        let mut last: HashMap<(Function, &Value, &Value), usize> = HashMap::new();
        for (index, &op) in unknown.iter().enumerate() {
            unknown_index[op] = index;
            if let Some(before) =
                last.insert((operations[op].f, &operations[op].input, &operations[op].output), op)
            {
                twin_before[op] = before;
            }
        }
    }
    let mut memo: Memo<M::State> = Memo::new();
    // States that nothing in the partition can tell apart are one configuration: a string that
    // no read can ever see, whatever appends follow, need not be searched from twice. (Without
    // it, over-approximating, an unknown append taken again and again makes a new configuration
    // at every step until a bound stops the search.)
    let observed = model.observations(operations);
    let mut state = model.init();
    // What the reads reveal rules out steps after which a read can never see its value
    // ([`crate::versions`]); `version` is the state's, as those rules know it.
    let mut versions = if limits.infer { model.versions(operations) } else { None };
    let mut version = versions.as_ref().and_then(|versions| versions.initial());
    let mut stack: Vec<(usize, M::State, Option<Version>)> = Vec::new();
    let mut stack_heap_bytes = 0usize;
    let mut remaining = operations.len() - unknown.len();
    let mut best: Option<Stuck> = None;
    // Two passes: the completed operations whose calls come before the first return entry, then
    // the unknown operations invoked before it. An unknown operation is linearized only when no
    // completed one can go next, so configurations with few unknown operations are met first and
    // the larger ones are subsumed by them (see [`Memo`]); in invocation order, an early unknown
    // operation would be tried first at every step and every subset of them would be visited.
    let mut cursor = Cursor::Completed(nodes[0].next);
    let mut steps: u64 = 0;
    // Steps already added to `STEPS`, and the memo's size in thousands when last checked.
    let (mut counted, mut memo_checked) = (0u64, 0usize);
    loop {
        if remaining == 0 {
            STEPS.fetch_add(steps - counted, Ordering::Relaxed);
            return Outcome::Linearizable(stack.iter().map(|&(op, ..)| op).collect());
        }
        steps += 1;
        // Every 4,096 steps, and whenever the memo has grown by 1,024 configurations.
        if steps.is_multiple_of(4096) || memo_checked != memo.len() / 1024 {
            memo_checked = memo.len() / 1024;
            STEPS.fetch_add(steps - counted, Ordering::Relaxed);
            counted = steps;
            if limits.deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                return Outcome::Inconclusive(format!("time limit reached after {steps} search steps"));
            }
            if memo.len() >= limits.memo_entries_max {
                return Outcome::Inconclusive(format!(
                    "configuration limit reached: {} configurations memoised",
                    memo.len()
                ));
            }
            let bytes = memo.bytes()
                + stack.capacity() * std::mem::size_of::<(usize, M::State, Option<Version>)>()
                + stack_heap_bytes;
            if bytes >= limits.memory_bytes_max {
                return Outcome::Inconclusive(format!(
                    "memory limit reached: {} in {} configurations (limit {})",
                    show_bytes(bytes),
                    memo.len(),
                    show_bytes(limits.memory_bytes_max)
                ));
            }
        }
        let op = match cursor {
            Cursor::Completed(entry) => {
                if entry == NIL || !nodes[entry].is_call {
                    // No completed operation can go next: try the unknown ones. (The cursor only
                    // ever passes calls, so this is the first return entry of the list.)
                    cursor = unknown_pass(&nodes, 0, entry);
                    continue;
                }
                cursor = Cursor::Completed(nodes[entry].next);
                nodes[entry].op
            }
            Cursor::Unknown { index, limit, first_return } => {
                if index == unknown.len() || operations[unknown[index]].call > limit {
                    // Stuck: the operation of the first return entry had to take effect before now.
                    if first_return != NIL
                        && best.as_ref().is_none_or(|best| stack.len() > best.partial.len())
                    {
                        best = Some(Stuck {
                            partial: stack.iter().map(|&(op, ..)| op).collect(),
                            blocked: nodes[first_return].op,
                        });
                    }
                    let Some((op, previous, previous_version)) = stack.pop() else {
                        STEPS.fetch_add(steps - counted, Ordering::Relaxed);
                        return Outcome::NotLinearizable(
                            best.expect("an operation that must complete has a return entry"),
                        );
                    };
                    stack_heap_bytes -= model.state_bytes(&previous);
                    state = previous;
                    version = previous_version;
                    if let Some(versions) = versions.as_mut() {
                        versions.mark(op, false);
                    }
                    if operations[op].status == Status::Ok {
                        cursor = Cursor::Completed(undo(&mut nodes, op, &call_node, &return_node, &relink));
                        linearized.remove(op);
                        remaining += 1;
                    } else {
                        if !limits.unknown_reusable {
                            linearized.remove(op);
                        }
                        // The completed operations are as they were when it was linearized: resume
                        // the unknown pass after it.
                        cursor = unknown_pass(&nodes, unknown_index[op] + 1, find_first_return(&nodes));
                    }
                    continue;
                }
                cursor = Cursor::Unknown { index: index + 1, limit, first_return };
                let op = unknown[index];
                if needless[op]
                    || linearized.holds_unknown(op)
                    || (twin_before[op] != NIL && !linearized.holds_unknown(twin_before[op]))
                {
                    // Left out, already linearized, or an interchangeable operation invoked earlier
                    // comes first.
                    continue;
                }
                op
            }
        };
        if versions.as_ref().is_some_and(|versions| !versions.allows(version, op)) {
            continue;
        }
        let Some(next) = model.step(&state, operations[op]) else { continue };
        let next = model.representative(&observed, next);
        let completed = operations[op].status == Status::Ok;
        // Over-approximating, an unknown operation stays available after it takes effect.
        let consumed = completed || !limits.unknown_reusable;
        if consumed {
            linearized.insert(op);
        }
        if !memo.insert(&linearized.completed, &linearized.unknown, &next, model.state_bytes(&next)) {
            if consumed {
                linearized.remove(op);
            }
            continue;
        }
        stack_heap_bytes += model.state_bytes(&state);
        let next_version = versions.as_ref().and_then(|versions| versions.after(version, op));
        if let Some(versions) = versions.as_mut() {
            versions.mark(op, true);
        }
        stack.push((op, std::mem::replace(&mut state, next), std::mem::replace(&mut version, next_version)));
        if completed {
            unlink(&mut nodes, call_node[op]);
            unlink(&mut nodes, return_node[op]);
            remaining -= 1;
        }
        cursor = Cursor::Completed(nodes[0].next);
    }
}

/// Puts operation `op` back in the list; returns the entry after its call (where the search
/// resumes).
fn undo(
    nodes: &mut Vec<Node>,
    op: usize,
    call_node: &[usize],
    return_node: &[usize],
    relink: &impl Fn(&mut Vec<Node>, usize),
) -> usize {
    if return_node[op] != NIL {
        relink(nodes, return_node[op]);
    }
    relink(nodes, call_node[op]);
    nodes[call_node[op]].next
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::HashSet;

    fn fast_hash(write: impl Fn(&mut FastHasher)) -> u64 {
        let mut hasher = FastHasher::default();
        write(&mut hasher);
        hasher.finish()
    }

    #[test]
    fn the_fast_hash_of_pairs_of_words_and_of_bytes_is_distinct_for_distinct_inputs() {
        // The memo finds a configuration by this hash (then compares exactly): collisions cost
        // time, never a verdict, so this is what the hash is for.
        let mut words = HashSet::new();
        for first in 0..100u64 {
            for second in 0..100u64 {
                words.insert(fast_hash(|hasher| {
                    hasher.write_u64(first);
                    hasher.write_usize(second as usize);
                }));
            }
        }
        assert_eq!(words.len(), 10_000);
        let bytes: HashSet<u64> = (0..1000u32)
            .map(|number| fast_hash(|hasher| hasher.write(number.to_string().as_bytes())))
            .collect();
        assert_eq!(bytes.len(), 1000);
        // Bytes go in as little-endian words of 8, the last one padded with zeros.
        assert_eq!(
            fast_hash(|hasher| hasher.write(&[1, 0, 0, 0, 0, 0, 0, 0, 2])),
            fast_hash(|hasher| {
                hasher.write_u64(1);
                hasher.write_u64(2);
            })
        );
    }

    #[test]
    fn a_prehashed_key_is_its_own_hash() {
        let mut hasher = Prehashed::default();
        hasher.write_u64(0xDEAD_BEEF_0123_4567);
        assert_eq!(hasher.finish(), 0xDEAD_BEEF_0123_4567);
        // Bytes, which the memo's map never passes, read as a big-endian number.
        let mut hasher = Prehashed::default();
        hasher.write(&[0x12, 0x34, 0x56]);
        assert_eq!(hasher.finish(), 0x12_34_56);
    }

    #[test]
    fn zobrist_keys_are_distinct_and_a_set_hash_follows_its_members() {
        let keys: HashSet<u64> = (0..100_000).map(zobrist).collect();
        assert_eq!(keys.len(), 100_000);
        // Inserting and removing update the set's hash, whatever the order.
        let mut set = Linearized::new(200);
        for op in [3, 150, 64, 0] {
            set.insert(op);
        }
        assert_eq!(set.hash, zobrist(0) ^ zobrist(3) ^ zobrist(64) ^ zobrist(150));
        set.remove(150);
        set.remove(0);
        assert_eq!(set.hash, zobrist(3) ^ zobrist(64));
        set.remove(3);
        set.remove(64);
        assert_eq!(set.hash, 0);
    }

    #[test]
    fn a_linearized_set_keeps_its_window_between_its_full_words_and_its_last_member() {
        let mut set = Linearized::new(200);
        assert_eq!((set.full, set.top, set.window()), (0, 0, &[][..]));
        for op in 0..64 {
            set.insert(op);
        }
        assert_eq!((set.full, set.top, set.window()), (1, 1, &[][..]), "one full word, nothing after it");
        set.insert(130);
        assert_eq!((set.full, set.top, set.window()), (1, 3, &[0, 1 << 2][..]));
        set.remove(5);
        assert_eq!((set.full, set.top), (0, 3));
        assert_eq!(set.window(), &[!(1 << 5), 0, 1 << 2][..]);
        set.remove(130);
        assert_eq!((set.full, set.top), (0, 1));
        set.insert(5);
        assert_eq!((set.full, set.top, set.window()), (1, 1, &[][..]));
        for op in 64..128 {
            set.insert(op);
        }
        assert_eq!((set.full, set.top, set.window()), (2, 2, &[][..]), "full words run on");
        set.remove(0);
        assert_eq!((set.full, set.top, set.window().len()), (0, 2, 2));
    }

    #[test]
    fn the_memo_knows_a_configuration_and_one_with_more_unknown_operations_beside_it() {
        let mut memo: Memo<Value> = Memo::new();
        let mut completed = Linearized::new(128);
        completed.insert(0);
        let state = Value::Int(1);
        assert!(memo.insert(&completed, &[0], &state, 0), "new");
        assert!(!memo.insert(&completed, &[0], &state, 0), "seen");
        assert!(!memo.insert(&completed, &[0b101], &state, 0), "subsumed: the same with more unknown ones");
        assert!(memo.insert(&completed, &[0], &Value::Int(2), 0), "another state");
        let mut other = Linearized::new(128);
        other.insert(1);
        assert!(memo.insert(&other, &[0], &state, 0), "another completed set");
        other.insert(100);
        assert!(memo.insert(&other, &[0], &state, 0), "another completed set, past a word");
        assert_eq!(memo.len(), 4);
        // A set with fewer unknown operations takes the place of the ones it subsumes.
        let mut memo: Memo<Value> = Memo::new();
        assert!(memo.insert(&completed, &[0b110], &state, 0));
        assert!(memo.insert(&completed, &[0b011], &state, 0), "neither holds the other");
        assert!(!memo.insert(&completed, &[0b111], &state, 0));
        assert!(memo.insert(&completed, &[0b010], &state, 0), "fewer");
        assert!(!memo.insert(&completed, &[0b110], &state, 0));
        assert!(!memo.insert(&completed, &[0b011], &state, 0));
        assert!(memo.insert(&completed, &[0b001], &state, 0), "not a superset of 010");
        assert!(memo.insert(&completed, &[0, 1], &state, 0), "not a superset of any, in a second word");
        assert!(!memo.insert(&completed, &[0b010, 1], &state, 0));
        assert_eq!(memo.len(), 5, "every insertion that returned true");
        let scan = |memo: &Memo<Value>| {
            let mut sets = Vec::new();
            let mut set = memo.groups[0].unknown_sets;
            while set != END {
                let (offset, len, next) = memo.unknown_sets[set as usize];
                sets.push(memo.bits[offset as usize..(offset + len) as usize].to_vec());
                set = next;
            }
            sets
        };
        assert_eq!(scan(&memo), [vec![0, 1], vec![0b001], vec![0b010]], "an antichain, newest first");
    }

    #[test]
    fn the_memo_counts_its_states_heap_bytes() {
        let mut memo: Memo<Value> = Memo::new();
        let completed = Linearized::new(1);
        let before = memo.bytes();
        assert!(memo.insert(&completed, &[0], &Value::Int(1), 1_000_000));
        assert!(memo.bytes() >= before + 1_000_000);
        assert!(!memo.insert(&completed, &[1], &Value::Int(1), 1_000_000), "subsumed: stores no state");
        assert!(memo.bytes() < before + 2_000_000);
    }

    #[test]
    fn configurations_whose_hashes_collide_are_still_told_apart() {
        // No verdict rests on a hash: force the second configuration onto the first one's chain,
        // as a collision would, and the memo still compares the sets and states themselves.
        let mut memo: Memo<Value> = Memo::new();
        let mut first = Linearized::new(64);
        first.insert(0);
        assert!(memo.insert(&first, &[0], &Value::Int(1), 0));
        let collide = |memo: &mut Memo<Value>, completed: &Linearized, state: &Value| {
            let mut hasher = FastHasher(completed.hash);
            state.hash(&mut hasher);
            memo.heads.insert(hasher.finish(), 0);
        };
        let mut second = Linearized::new(64);
        second.insert(1);
        collide(&mut memo, &second, &Value::Int(1));
        assert!(memo.insert(&second, &[0], &Value::Int(1), 0), "another completed set, same state");
        collide(&mut memo, &first, &Value::Int(2));
        assert!(memo.insert(&first, &[0], &Value::Int(2), 0), "the same completed set, another state");
        assert!(!memo.insert(&second, &[0], &Value::Int(1), 0), "found along the chain");
        assert!(!memo.insert(&first, &[0], &Value::Int(2), 0), "found along the chain");
        assert_eq!(memo.groups.len(), 3);
    }

    #[test]
    fn the_memos_estimate_counts_every_part_of_every_configuration() {
        let mut memo: Memo<Value> = Memo::new();
        let mut completed = Linearized::new(64);
        let configurations = 10_000;
        for index in 0..configurations {
            completed.insert(index % 64);
            assert!(memo.insert(&completed, &[1], &Value::Int(index as i64), 0));
        }
        let each = std::mem::size_of::<Group>()
            + std::mem::size_of::<Value>()
            + 2 * std::mem::size_of::<(u64, u32)>()
            + std::mem::size_of::<(u32, u32, u32)>()
            + 8;
        let bytes = memo.bytes();
        assert!(
            bytes >= configurations * each,
            "{bytes} bytes for {configurations} configurations of {each}"
        );
        assert!(bytes <= 4 * configurations * each, "{bytes} bytes: capacities at most double, maps' twice");
        // Each store counts all its elements at their size, at the least.
        let sizes = [
            2 * std::mem::size_of::<(u64, u32)>(),
            std::mem::size_of::<Group>(),
            std::mem::size_of::<Value>(),
            std::mem::size_of::<(u32, u32, u32)>(),
            8,
        ];
        for ((capacity, size, len), expected) in memo.parts().into_iter().zip(sizes) {
            assert_eq!(size, expected);
            assert!(len >= configurations && capacity >= len, "{len} elements, capacity {capacity}");
        }
        let heap = memo.bytes();
        assert!(memo.insert(&Linearized::new(64), &[0], &Value::Int(-1), 12_345));
        assert!(memo.bytes() >= heap + 12_345, "and the states' heap bytes");
    }

    #[test]
    fn the_configuration_bound_ends_a_search_with_an_inconclusive_verdict_naming_it() {
        // 600 writes, each read back: 1,200 configurations in a line.
        let operations = writes_read_back(600);
        let operations: Vec<&Operation> = operations.iter().collect();
        let model = crate::model::Register::new(crate::model::Kind::Kv);
        let bounded = search(&model, &operations, Limits { memo_entries_max: 1000, ..Limits::default() });
        assert_eq!(
            bounded,
            Outcome::Inconclusive("configuration limit reached: 1024 configurations memoised".into())
        );
        let roomy = search(&model, &operations, Limits { memo_entries_max: 2000, ..Limits::default() });
        assert_eq!(roomy, Outcome::Linearizable((0..1200).collect()));
        // The bound is looked at again each time the memo has grown by another 1,024: at 2,048,
        // not at 1,025.
        let operations = writes_read_back(1100);
        let operations: Vec<&Operation> = operations.iter().collect();
        let bounded = search(&model, &operations, Limits { memo_entries_max: 1025, ..Limits::default() });
        assert_eq!(
            bounded,
            Outcome::Inconclusive("configuration limit reached: 2048 configurations memoised".into())
        );
    }

    fn operation(
        id: usize,
        f: Function,
        input: Value,
        output: Value,
        call: usize,
        ret: Option<usize>,
    ) -> Operation {
        Operation {
            id,
            process: id.to_string(),
            f,
            key: None,
            input,
            output,
            call,
            ret,
            status: if ret.is_some() { Status::Ok } else { Status::Info },
            call_line: call + 1,
            ret_line: ret.map(|ret| ret + 1),
            call_time: None,
            ret_time: None,
        }
    }

    /// `count` writes of 0, 1, ..., each read back by another process before the next.
    /// `count` writes of one register, each read back by the next operation (shared with the
    /// crate's own tests of the bounds).
    pub(crate) fn writes_read_back(count: usize) -> Vec<Operation> {
        (0..2 * count)
            .map(|id| {
                let value = Value::Int(id as i64 / 2);
                match id % 2 {
                    0 => operation(id, Function::Write, value, Value::Nil, 2 * id, Some(2 * id + 1)),
                    _ => operation(id, Function::Read, Value::Nil, value, 2 * id, Some(2 * id + 1)),
                }
            })
            .collect()
    }

    #[test]
    fn a_violation_reports_the_first_of_the_deepest_attempts() {
        // Writes of 1 and 2 at once, then a read of 3: every attempt gets stuck at the read after
        // both writes, in either order; the first found is in invocation order.
        let operations = [
            operation(0, Function::Write, Value::Int(1), Value::Nil, 0, Some(2)),
            operation(1, Function::Write, Value::Int(2), Value::Nil, 1, Some(3)),
            operation(2, Function::Read, Value::Nil, Value::Int(3), 4, Some(5)),
        ];
        let operations: Vec<&Operation> = operations.iter().collect();
        let model = crate::model::Register::new(crate::model::Kind::Register);
        for infer in [true, false] {
            let outcome = search(&model, &operations, Limits { infer, ..Limits::default() });
            assert_eq!(
                outcome,
                Outcome::NotLinearizable(Stuck { partial: vec![0, 1], blocked: 2 }),
                "infer {infer}"
            );
        }
    }

    #[test]
    fn the_time_bound_ends_a_search_at_its_first_look_and_says_after_how_many_steps() {
        // 600 writes, each read back; the deadline has passed when the search starts. It looks at
        // the clock every 4,096 steps and whenever the memo has grown by 1,024 configurations:
        // first at step 1,025, when the memo reaches 1,024.
        let operations = writes_read_back(600);
        let operations: Vec<&Operation> = operations.iter().collect();
        let model = crate::model::Register::new(crate::model::Kind::Kv);
        let outcome =
            search(&model, &operations, Limits { deadline: Some(Instant::now()), ..Limits::default() });
        assert_eq!(outcome, Outcome::Inconclusive("time limit reached after 1025 search steps".into()));
    }

    #[test]
    fn bytes_are_shown_in_the_unit_that_fits() {
        assert_eq!(show_bytes(0), "0 KB");
        assert_eq!(show_bytes(512_000), "512 KB");
        assert_eq!(show_bytes(999_999), "1000 KB");
        assert_eq!(show_bytes(1_000_000), "1.0 MB");
        assert_eq!(show_bytes(1_500_000), "1.5 MB");
        assert_eq!(show_bytes(999_999_999), "1000.0 MB");
        assert_eq!(show_bytes(1_000_000_000), "1.00 GB");
        assert_eq!(show_bytes(6_010_000_000), "6.01 GB");
    }

    #[test]
    fn the_default_memory_bound_is_a_quarter_of_this_machines_memory() {
        let text = std::fs::read_to_string("/proc/meminfo").expect("this test runs on Linux");
        let line = text.lines().find(|line| line.starts_with("MemTotal:")).expect("MemTotal");
        let kilobytes: usize = line.split_whitespace().nth(1).expect("a number").parse().expect("kB");
        assert_eq!(default_memory_bytes(), kilobytes * 1024 / 4);
    }
}
