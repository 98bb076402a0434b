//! What the reads of one key reveal, and the search steps it rules out.
//!
//! Elle's insight for list-append ("Elle: Inferring Isolation Anomalies from Experimental
//! Observations", Kingsbury & Alvaro, VLDB 2020) is that a read of an appended value shows the
//! exact order of the appends before it. The same holds for a register whose written values are
//! unique: a read shows which write it read from. Here both are one idea. The state of a key is a
//! *segment*: the value of the last write (or the initial value) followed by the appends since.
//! A completed read whose value is built in exactly one way from the key's operations, out of a
//! write (the *base*) whose value no other operation writes and appends whose values are unique,
//! has a known *version*: (base, number of appends since it); and each append it shows has a known
//! place: (base, position).
//!
//! In a linearization every completed read sees the state it returned, and a unique base takes
//! effect at most once, so a read of version (b, n) can be linearized only while the segment of b
//! holds exactly n appends. From a state of version (b, n), while a read of b is still to be
//! linearized:
//!
//! - an append shown at (b', p) may go next only if the state is at (b', p) and no read of b waits
//!   for n or fewer appends (it would never see its value again);
//! - an append that no read shows, and any write, may go next only when no read of b waits: the
//!   first would put a value into b's segment that no read of b shows, the second would end the
//!   segment.
//!
//! Each rule removes only search steps after which some read can no longer see its value (the
//! value is built in one way only, so no other sequence of operations can rebuild it), so the
//! verdict is unchanged; what is left of the search on such a key is one order of its appends and
//! writes, found without backtracking. Where the reads do not pin the order (values written twice,
//! a value built in two ways, unknown outcomes nobody observed), fewer steps are ruled out and the
//! search does the rest: the two always agree (`tests/verdicts.rs` checks it on generated
//! histories against the search without the rules and against a brute force).

use crate::history::{Function, Operation, Status};
use crate::value::Value;
use std::collections::{BTreeMap, HashMap};

/// A version: (base, appends since it). Base 0 is the initial value; base `i + 1` is the write
/// at index `i` of the partition.
pub type Version = (u32, u32);

/// Where an append takes effect, as the reads show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Placement {
    /// No read with a known version shows it.
    Free,
    /// The reads show it at this position of this base's segment.
    At(Version),
    /// Two reads show it at different places: no linearization has it, or the reads.
    Nowhere,
}

/// What an operation is to the rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// A completed read of a known version.
    Read(Version),
    /// A read the rules know nothing of (its value built in several ways, or of values written
    /// twice).
    OtherRead,
    /// A completed read whose value no sequence of the key's operations builds.
    Unbuildable,
    /// An append.
    Append(Placement),
    /// A write, delete or cas: ends the segment; starts a known base if its value is unique.
    Base(Option<u32>),
}

/// The versions of one key's completed reads, and the places of its appends.
#[derive(Clone, Debug)]
pub struct Versions {
    role: Vec<Role>,
    /// Per base: the reads of it not yet linearized, as (appends seen -> how many).
    waiting: Vec<BTreeMap<u32, u32>>,
    /// Whether any rule can apply (some read has a known version).
    active: bool,
}

/// The value a state-setting operation leaves: a write's argument, a cas's new value, a delete's
/// initial value. `None` for reads and appends.
pub(crate) fn written(operation: &Operation, absent: &Value) -> Option<Value> {
    match (operation.f, &operation.input) {
        (Function::Write, value) => Some(value.clone()),
        (Function::Cas, Value::List(pair)) if pair.len() == 2 => Some(pair[1].clone()),
        (Function::Delete, _) => Some(absent.clone()),
        _ => None,
    }
}

/// How many ways (0, 1, or 2 for "two or more") `text[from..]` splits into appended strings, per
/// start position; `lengths` are the distinct lengths of `pieces`.
fn string_ways(text: &str, pieces: &HashMap<&str, usize>, lengths: &[usize]) -> Vec<u8> {
    let bytes = text.len();
    let mut ways = vec![0u8; bytes + 1];
    ways[bytes] = 1;
    for start in (0..bytes).rev() {
        let mut count = 0u8;
        for &length in lengths {
            let end = start + length;
            if end <= bytes && text.is_char_boundary(start) && text.is_char_boundary(end) {
                if let Some(&ways_after) = ways.get(end).filter(|&&ways| ways > 0) {
                    if pieces.contains_key(&text[start..end]) {
                        count = (count + ways_after).min(2);
                    }
                }
            }
        }
        ways[start] = count;
    }
    ways
}

impl Versions {
    /// Works out the versions of `operations` (one key), whose initial value is `absent`.
    pub fn new(operations: &[&Operation], absent: &Value) -> Versions {
        let count = operations.len();
        // Bases: the initial value, then every state-setting operation. A value written twice
        // (or equal to the initial value) names no base.
        let mut writers_of: HashMap<Value, Vec<u32>> = HashMap::new();
        writers_of.entry(absent.clone()).or_default().push(0);
        let mut base_of_op = vec![None; count];
        for (index, operation) in operations.iter().enumerate() {
            if let Some(value) = written(operation, absent) {
                let base = index as u32 + 1;
                base_of_op[index] = Some(base);
                writers_of.entry(value).or_default().push(base);
            }
        }
        // Appends, by their argument; an argument appended twice names no append, and an empty
        // string would split any value in endless ways, so then no read is decoded.
        let mut appends_of: HashMap<&Value, Vec<usize>> = HashMap::new();
        for (index, operation) in operations.iter().enumerate() {
            if operation.f == Function::Append {
                appends_of.entry(&operation.input).or_default().push(index);
            }
        }
        let decodable = !appends_of.keys().any(|value| matches!(value, Value::Str(text) if text.is_empty()));
        let string_pieces: HashMap<&str, usize> = appends_of
            .iter()
            .filter_map(|(value, ops)| match value {
                Value::Str(text) => Some((text.as_str(), ops[0])),
                _ => None,
            })
            .collect();
        let mut lengths: Vec<usize> = string_pieces.keys().map(|piece| piece.len()).collect();
        lengths.sort_unstable();
        lengths.dedup();
        let unique_base = |value: &Value| -> Option<u32> {
            match writers_of.get(value).map(Vec::as_slice) {
                Some([base]) => Some(*base),
                _ => None,
            }
        };
        let unique_append = |piece: &Value| -> Option<usize> {
            match appends_of.get(piece).map(Vec::as_slice) {
                Some([op]) => Some(*op),
                _ => None,
            }
        };

        let mut role: Vec<Role> = operations
            .iter()
            .enumerate()
            .map(|(index, operation)| match operation.f {
                Function::Read => Role::OtherRead,
                Function::Append => Role::Append(Placement::Free),
                _ => Role::Base(
                    base_of_op[index]
                        .and_then(|_| written(operation, absent).and_then(|value| unique_base(&value))),
                ),
            })
            .collect();
        let mut placement: Vec<Option<Placement>> = vec![None; count];
        let mut waiting: Vec<BTreeMap<u32, u32>> = vec![BTreeMap::new(); count + 1];
        let mut active = false;
        let mut decoded: HashMap<&Value, Result<(u32, Vec<usize>), Ways>> = HashMap::new();
        for (index, operation) in operations.iter().enumerate() {
            if operation.f != Function::Read || operation.status != Status::Ok || !decodable {
                continue;
            }
            let decode = decoded.entry(&operation.output).or_insert_with(|| {
                decode(&operation.output, &writers_of, &string_pieces, &lengths, &appends_of).and_then(
                    |(base_value, pieces)| {
                        let base = unique_base(&base_value).ok_or(Ways::Several)?;
                        let ops: Option<Vec<usize>> = pieces.iter().map(&unique_append).collect();
                        Ok((base, ops.ok_or(Ways::Several)?))
                    },
                )
            });
            let (base, ops) = match decode.clone() {
                Ok(decoded) => decoded,
                Err(Ways::None) => {
                    role[index] = Role::Unbuildable;
                    continue;
                }
                Err(Ways::Several) => continue,
            };
            active = true;
            role[index] = Role::Read((base, ops.len() as u32));
            *waiting[base as usize].entry(ops.len() as u32).or_default() += 1;
            for (position, op) in ops.into_iter().enumerate() {
                let at = Placement::At((base, position as u32));
                placement[op] = Some(match placement[op] {
                    None => at,
                    Some(seen) if seen == at => at,
                    Some(_) => Placement::Nowhere,
                });
            }
        }
        for (index, place) in placement.into_iter().enumerate() {
            if let Some(place) = place {
                role[index] = Role::Append(place);
            }
        }
        Versions { role, waiting, active }
    }

    /// The version of the initial state.
    pub fn initial(&self) -> Option<Version> {
        Some((0, 0))
    }

    /// Whether `op` may be linearized next from a state of `version` (`None`: not known).
    pub fn allows(&self, version: Option<Version>, op: usize) -> bool {
        if !self.active {
            return true;
        }
        let waits = |base: u32| !self.waiting[base as usize].is_empty();
        let waits_for_at_most = |base: u32, appends: u32| {
            self.waiting[base as usize].keys().next().is_some_and(|&fewest| fewest <= appends)
        };
        match self.role[op] {
            Role::Read(_) | Role::OtherRead | Role::Unbuildable => true,
            Role::Append(Placement::At(at)) => version == Some(at) && !waits_for_at_most(at.0, at.1),
            Role::Append(Placement::Nowhere) => false,
            Role::Append(Placement::Free) | Role::Base(_) => version.is_none_or(|(base, _)| !waits(base)),
        }
    }

    /// The version after `op` is linearized from a state of `version`.
    pub fn after(&self, version: Option<Version>, op: usize) -> Option<Version> {
        match self.role[op] {
            Role::Read(_) | Role::OtherRead | Role::Unbuildable => version,
            Role::Append(_) => version.map(|(base, appends)| (base, appends + 1)),
            Role::Base(base) => base.map(|base| (base, 0)),
        }
    }

    /// Records that `op` was linearized (`done`) or undone.
    pub fn mark(&mut self, op: usize, done: bool) {
        if let Role::Read((base, appends)) = self.role[op] {
            let waiting = &mut self.waiting[base as usize];
            if done {
                let count = waiting.get_mut(&appends).expect("a read waits until it is linearized");
                *count -= 1;
                if *count == 0 {
                    waiting.remove(&appends);
                }
            } else {
                *waiting.entry(appends).or_default() += 1;
            }
        }
    }

    /// What a completed read shows: the operations (indices) that built its value, in order,
    /// the base (`None` for the initial value) then the appends.
    pub fn shown(&self, read: usize) -> Shown {
        let (base, appends) = match self.role[read] {
            Role::Read(version) => version,
            Role::Unbuildable => return Shown::Unbuildable,
            _ => return Shown::Unknown,
        };
        let mut order: Vec<(u32, usize)> = self
            .role
            .iter()
            .enumerate()
            .filter_map(|(op, role)| match role {
                Role::Append(Placement::At((at_base, position)))
                    if *at_base == base && *position < appends =>
                {
                    Some((*position, op))
                }
                _ => None,
            })
            .collect();
        order.sort_unstable();
        Shown::Built {
            base: (base > 0).then(|| base as usize - 1),
            appends: order.into_iter().map(|(_, op)| op).collect(),
        }
    }
}

/// What a read's value shows of the operations before it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Shown {
    /// Built in one way: by this base (`None`: the initial value) and then these appends, in this
    /// order (indices into the partition).
    Built {
        /// The write whose value the read's value begins with.
        base: Option<usize>,
        /// The appends after it.
        appends: Vec<usize>,
    },
    /// No sequence of the key's operations builds it.
    Unbuildable,
    /// Built in several ways, or from values written more than once.
    Unknown,
}

/// Why a value has no one way of being built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ways {
    None,
    Several,
}

/// The one way `value` is built from a written value and appended pieces, as (the written value,
/// the pieces in order), or whether there is no way or more than one.
fn decode(
    value: &Value,
    writers_of: &HashMap<Value, Vec<u32>>,
    string_pieces: &HashMap<&str, usize>,
    lengths: &[usize],
    appends_of: &HashMap<&Value, Vec<usize>>,
) -> Result<(Value, Vec<Value>), Ways> {
    let one = |total: u8| match total {
        0 => Err(Ways::None),
        1 => Ok(()),
        _ => Err(Ways::Several),
    };
    match value {
        Value::Str(text) => {
            let ways = string_ways(text, string_pieces, lengths);
            // Every written string that `text` begins with, and nil (appending a string to nothing
            // makes the string: at least one piece).
            let mut found: Option<(Value, usize)> = None;
            let mut total = 0u8;
            for written in writers_of.keys() {
                let start = match written {
                    Value::Str(prefix) if text.starts_with(prefix.as_str()) => prefix.len(),
                    Value::Nil if !text.is_empty() => 0,
                    _ => continue,
                };
                if ways[start] > 0 {
                    total = total.saturating_add(ways[start]);
                    found = Some((written.clone(), start));
                }
            }
            one(total)?;
            let (base, mut at) = found.expect("one way was found");
            let mut pieces = Vec::new();
            while at < text.len() {
                let length = lengths
                    .iter()
                    .copied()
                    .find(|&length| {
                        let end = at + length;
                        end <= text.len()
                            && text.is_char_boundary(end)
                            && ways[end] > 0
                            && string_pieces.contains_key(&text[at..end])
                    })
                    .expect("a split with one way goes on");
                pieces.push(Value::Str(text[at..at + length].to_string()));
                at += length;
            }
            Ok((base, pieces))
        }
        Value::List(items) => {
            // A list is a written list then one element per append; appending to nothing makes a
            // list only of an element that is not a string.
            let mut found = None;
            let mut total = 0u8;
            for written in writers_of.keys() {
                let start = match written {
                    Value::List(prefix) if items.starts_with(prefix) => prefix.len(),
                    Value::Nil if items.first().is_some_and(|first| !matches!(first, Value::Str(_))) => 0,
                    _ => continue,
                };
                if items[start..].iter().all(|item| appends_of.contains_key(item)) {
                    total = total.saturating_add(1);
                    found = Some((written.clone(), items[start..].to_vec()));
                }
            }
            one(total)?;
            Ok(found.expect("one way was found"))
        }
        other => match writers_of.contains_key(other) {
            true => Ok((other.clone(), Vec::new())),
            false => Err(Ways::None),
        },
    }
}
