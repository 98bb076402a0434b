//! The search: Wing & Gong's algorithm as refined by Lowe ("Testing for linearizability", 2017),
//! with memoisation of (set of linearized operations, model state).
//!
//! The history is a doubly linked list of call and return entries in real-time order. The search
//! walks it from the front: at a call entry it tries to linearize that operation now (the model
//! accepts it and the pair (linearized set, state) was never seen), removing its call and return
//! from the list; at a return entry it is stuck (that operation had to take effect before its
//! return) and backtracks. Operations of unknown outcome have no return entry: they may be
//! linearized at any point after their call, or never. The history is linearizable when no return
//! entry is left.
//!
//! Unknown operations are where such searches blow up (k of them in flight give 2^k subsets), so
//! four reductions, each sound on its own (see the tests against a brute force): unknown
//! operations whose effect nothing can observe are left out ([`Model::needless`]); an unknown
//! operation is tried only when no completed one can go next; of unknown operations with the same
//! effect only the earliest not yet linearized is tried; and a configuration is skipped when one
//! with the same completed operations and state but a subset of its unknown ones was seen.

use crate::history::{Function, Operation, Status};
use crate::model::Model;
use crate::value::Value;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::time::Instant;

/// Bounds on one search.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Give up (inconclusive) after this instant.
    pub deadline: Option<Instant>,
    /// Give up (inconclusive) when the memo holds this many configurations.
    pub memo_entries_max: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { deadline: None, memo_entries_max: 20_000_000 }
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
    /// Hash -> the first entry with it; `next` chains entries with the same hash.
    heads: HashMap<u64, u32, BuildHasherDefault<Prehashed>>,
    next: Vec<u32>,
    /// Per entry: leading full words of the completed set, and where its window and its unknown
    /// operations are in `bits` (offset, then the two lengths).
    windows: Vec<(u32, u32, u32, u32)>,
    bits: Vec<u64>,
    states: Vec<S>,
}

const END: u32 = u32::MAX;

impl<S: Clone + Eq + Hash> Memo<S> {
    fn new() -> Memo<S> {
        Memo {
            heads: HashMap::default(),
            next: Vec::new(),
            windows: Vec::new(),
            bits: Vec::new(),
            states: Vec::new(),
        }
    }

    fn len(&self) -> usize {
        self.states.len()
    }

    /// Records the configuration; false if it, or one that subsumes it, was seen before.
    fn insert(&mut self, completed: &Linearized, unknown: &[u64], state: &S) -> bool {
        let mut hasher = FastHasher(completed.hash);
        state.hash(&mut hasher);
        let hash = hasher.finish();
        let (full, window) = (completed.full, completed.window());
        let index = self.states.len() as u32;
        let head = *self.heads.entry(hash).or_insert(index);
        if head != index {
            let mut entry = head;
            while entry != END {
                let at = entry as usize;
                let (seen_full, offset, len, unknown_len) = self.windows[at];
                let (offset, len, unknown_len) = (offset as usize, len as usize, unknown_len as usize);
                if seen_full as usize == full
                    && &self.bits[offset..offset + len] == window
                    && self.states[at] == *state
                    && self.bits[offset + len..offset + len + unknown_len]
                        .iter()
                        .zip(unknown.iter().chain(std::iter::repeat(&0)))
                        .all(|(seen, now)| seen & !now == 0)
                {
                    return false;
                }
                entry = self.next[at];
            }
            // A new configuration with a hash seen before: chained in after the head.
            self.next.push(self.next[head as usize]);
            self.next[head as usize] = index;
        } else {
            self.next.push(END);
        }
        let unknown_len = unknown.iter().rposition(|&word| word != 0).map_or(0, |last| last + 1);
        self.windows.push((full as u32, self.bits.len() as u32, window.len() as u32, unknown_len as u32));
        self.bits.extend_from_slice(window);
        self.bits.extend_from_slice(&unknown[..unknown_len]);
        self.states.push(state.clone());
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

    fn contains(&self, op: usize) -> bool {
        match self.slot[op] {
            (true, index) => self.completed.words[index / 64] & (1 << (index % 64)) != 0,
            (false, index) => self.unknown[index / 64] & (1 << (index % 64)) != 0,
        }
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

/// Searches for a linearization of `operations` (one partition: one key) under `model`.
pub fn search<M: Model>(model: &M, operations: &[&Operation], limits: Limits) -> Outcome {
    // Unknown operations that no linearization needs (the model says which) are never tried.
    let needless = model.needless(operations);
    // Entries in real-time order; node 0 is the head sentinel.
    let mut entries: Vec<(usize, usize, bool)> = Vec::with_capacity(operations.len() * 2);
    for (index, operation) in operations.iter().enumerate() {
        entries.push((operation.call, index, true));
        if let (Status::Ok, Some(ret)) = (operation.status, operation.ret) {
            entries.push((ret, index, false));
        }
    }
    entries.sort_unstable_by_key(|&(position, _, is_call)| (position, !is_call));
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

    let mut linearized = Configuration::new(operations);
    // Unknown operations with the same effect are interchangeable: whichever of two is linearized,
    // the same states follow, and the one invoked first can stand wherever the other can (neither
    // ever returns). So only the first not yet linearized of each kind is tried, and the unknown
    // operations linearized are always a prefix of each kind in invocation order.
    let mut twin_before = vec![NIL; operations.len()];
    {
        let mut last: HashMap<(Function, &Value, &Value), usize> = HashMap::new();
        let mut unknown: Vec<usize> =
            (0..operations.len()).filter(|&op| operations[op].status != Status::Ok).collect();
        unknown.sort_by_key(|&op| operations[op].call);
        for op in unknown {
            if let Some(before) =
                last.insert((operations[op].f, &operations[op].input, &operations[op].output), op)
            {
                twin_before[op] = before;
            }
        }
    }
    let mut memo: Memo<M::State> = Memo::new();
    let mut state = model.init();
    let mut stack: Vec<(usize, M::State)> = Vec::new();
    let mut remaining = operations.iter().filter(|operation| operation.status == Status::Ok).count();
    let mut best: Option<Stuck> = None;
    // Two passes over the entries ahead of the first return: completed operations first, then
    // operations of unknown outcome. An unknown operation is linearized only when no completed one
    // can go next, so configurations with few unknown operations are met first and the larger ones
    // are subsumed by them (see [`Memo`]); in invocation order, an early unknown operation would be
    // tried first at every step and every subset of them would be visited.
    let mut entry = nodes[0].next;
    let mut unknown_pass = false;
    let mut steps: u64 = 0;
    loop {
        if remaining == 0 {
            return Outcome::Linearizable(stack.iter().map(|&(op, _)| op).collect());
        }
        steps += 1;
        if steps.is_multiple_of(4096) {
            if limits.deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                return Outcome::Inconclusive(format!("time limit reached after {steps} search steps"));
            }
            if memo.len() >= limits.memo_entries_max {
                return Outcome::Inconclusive(format!(
                    "memory limit reached: {} configurations memoised",
                    memo.len()
                ));
            }
        }
        let at_return = entry == NIL || !nodes[entry].is_call;
        if at_return && !unknown_pass {
            // No completed operation can go next: try the unknown ones.
            unknown_pass = true;
            entry = nodes[0].next;
            continue;
        }
        if at_return {
            // Stuck: the operation of this return entry had to take effect before now. (At the end
            // of the list only calls of unknown outcome were left, and none could be linearized.)
            if entry != NIL && best.as_ref().is_none_or(|best| stack.len() > best.partial.len()) {
                best = Some(Stuck {
                    partial: stack.iter().map(|&(op, _)| op).collect(),
                    blocked: nodes[entry].op,
                });
            }
            let Some((op, previous)) = stack.pop() else {
                return Outcome::NotLinearizable(
                    best.expect("an operation that must complete has a return entry"),
                );
            };
            entry = undo(&mut nodes, op, &call_node, &return_node, &relink);
            linearized.remove(op);
            unknown_pass = operations[op].status != Status::Ok;
            if !unknown_pass {
                remaining += 1;
            }
            state = previous;
            continue;
        }
        let node = nodes[entry];
        let op = node.op;
        if (operations[op].status == Status::Ok) == unknown_pass
            || needless[op]
            || (twin_before[op] != NIL && !linearized.contains(twin_before[op]))
        {
            // Not this pass's kind, or an interchangeable operation invoked earlier comes first.
            entry = node.next;
            continue;
        }
        if let Some(next) = model.step(&state, operations[op]) {
            linearized.insert(op);
            if memo.insert(&linearized.completed, &linearized.unknown, &next) {
                stack.push((op, std::mem::replace(&mut state, next)));
                unlink(&mut nodes, call_node[op]);
                if return_node[op] != NIL {
                    unlink(&mut nodes, return_node[op]);
                }
                if operations[op].status == Status::Ok {
                    remaining -= 1;
                }
                entry = nodes[0].next;
                unknown_pass = false;
                continue;
            }
            linearized.remove(op);
        }
        entry = node.next;
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
