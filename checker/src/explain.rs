//! Explaining a violation: a minimal set of operations that cannot be linearized, the longest
//! partial linearization, and what went wrong in words.

use crate::history::{Function, Operation, Status};
use crate::model::Model;
use crate::report::counted;
use crate::search::{search, Limits, Outcome, Stuck};
use crate::value::Value;
use crate::versions::Shown;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Why a key's history is not linearizable.
#[derive(Clone, Debug)]
pub struct Explanation {
    /// Operation ids (into the history) of a set that cannot be linearized on its own, from which
    /// no operation can be removed without it becoming linearizable (when `minimal`).
    pub core: Vec<usize>,
    /// Whether `core` is 1-minimal (false if the time budget ran out first).
    pub minimal: bool,
    /// The longest partial linearization found, as operation ids in order.
    pub partial: Vec<usize>,
    /// The operation the partial linearization could not get past.
    pub blocked: usize,
    /// The object's state after the partial linearization.
    pub state: String,
    /// What went wrong, in words.
    pub words: String,
}

/// Explains why `operations` (one key) are not linearizable; `stuck` is what the search found.
/// Its searches stop at `budget` from now and at `memory_bytes_max` each.
///
/// The minimal set is found by relaxing, not deleting: an operation left out of the set keeps its
/// invocation but its completion is forgotten (its outcome becomes unknown, so it may take effect
/// at any point after its invocation, or never; a read with an unknown outcome observes nothing).
/// Deleting would be wrong: without the write of 2, a read of 2 alone is "not linearizable", which
/// explains nothing.
///
/// The partial linearization shown is never one of that relaxed set (a relaxed operation has lost
/// its completion, so its order against later operations would not be the history's): it is the
/// search's over the shortest violating prefix, whose completions are the history's own, or else
/// over the whole key; and it is shown only once [`partial_linearization_error`] finds nothing
/// wrong with it against the history.
pub fn explain<M: Model>(
    model: &M,
    operations: &[&Operation],
    stuck: &Stuck,
    budget: Duration,
    memory_bytes_max: usize,
) -> Explanation {
    let deadline = Instant::now() + budget;
    let limits = Limits { deadline: Some(deadline), memory_bytes_max, ..Limits::default() };
    let prefix = shortest_violating_prefix(model, operations, limits);
    let prefix_refs: Vec<&Operation>;
    let whole = operations;
    let operations = match &prefix {
        Some(prefix) => {
            prefix_refs = prefix.iter().collect();
            &prefix_refs[..]
        }
        None => operations,
    };
    let (core, minimal) = minimize(model, operations, limits);
    // The prefix's own stuck point, when the exact search finds it within its bound (a bound on
    // configurations: the same output every run); else the search's over the whole key.
    let exact = Limits { memo_entries_max: 4 * EXACT_MEMO_MAX, ..limits };
    let found = [false, true].into_iter().find_map(|infer| {
        match search(model, operations, Limits { infer, ..exact }) {
            Outcome::NotLinearizable(found) => Some(found),
            _ => None,
        }
    });
    let candidates = found.iter().map(|found| (operations, found)).chain([(whole, stuck)]);
    let mut shown = None;
    for (scope, stuck) in candidates {
        let partial: Vec<usize> = stuck.partial.iter().map(|&index| scope[index].id).collect();
        let blocked = scope[stuck.blocked].id;
        if partial_linearization_error(model, whole, &partial, blocked).is_none() {
            shown = Some((scope, stuck, partial));
            break;
        }
        debug_assert!(
            false,
            "the search found a partial linearization the history does not allow: {:?}",
            partial_linearization_error(model, whole, &partial, blocked)
        );
    }
    let (scope, stuck, partial) = shown.unwrap_or((whole, stuck, Vec::new()));
    let name = &|operation: &Operation| {
        whole.iter().find(|original| original.id == operation.id).unwrap_or(&operation).describe()
    };
    // The words: what the minimal set shows, where a plain reason fits it; else why the set's own
    // search got stuck, where that reason names no partial linearization (it is the set's, not
    // the one shown); else why the one shown cannot go on.
    let specific = model
        .versions(operations)
        .and_then(|versions| core_words(operations, &core, &versions, name))
        .or_else(|| {
            let relaxed = relax(operations, &core);
            let relaxed: Vec<&Operation> = relaxed.iter().collect();
            let Outcome::NotLinearizable(found) = search(model, &relaxed, Limits { infer: false, ..exact })
            else {
                return None;
            };
            let words = words(model, &relaxed, whole, &found, name);
            (!words.contains(GENERIC)).then_some(words)
        });
    Explanation {
        core: core.iter().map(|&index| operations[index].id).collect(),
        minimal,
        words: specific.unwrap_or_else(|| words(model, scope, whole, stuck, name)),
        partial,
        blocked: scope[stuck.blocked].id,
        state: model.show(&after(model, scope, &stuck.partial)),
    }
}

/// The state after the operations of `scope` at `partial` (a partial linearization of it), in
/// that order.
fn after<M: Model>(model: &M, scope: &[&Operation], partial: &[usize]) -> M::State {
    partial.iter().fold(model.init(), |state, &index| model.step(&state, scope[index]).unwrap_or(state))
}

/// What is wrong with `partial` (operation ids, in order) as a partial linearization of
/// `operations` (one key) that `blocked` cannot follow, or `None`. Written apart from the search,
/// from the definitions alone, so that an explanation is checked by code that does not share the
/// search's bugs: no operation twice; none placed before one that completed before it was invoked
/// (real time, which also orders each process's completed operations; an operation of unknown
/// outcome may take effect after its process's later ones); every operation that completed
/// before one placed was invoked is placed too; each one legal in the state the ones before it
/// leave; and `blocked` is not among them.
pub fn partial_linearization_error<M: Model>(
    model: &M,
    operations: &[&Operation],
    partial: &[usize],
    blocked: usize,
) -> Option<String> {
    let by_id: HashMap<usize, &Operation> =
        operations.iter().map(|operation| (operation.id, *operation)).collect();
    let mut placed: HashMap<usize, usize> = HashMap::new();
    for (position, id) in partial.iter().enumerate() {
        if !by_id.contains_key(id) {
            return Some(format!("#{id} is not an operation of this key"));
        }
        if placed.insert(*id, position).is_some() {
            return Some(format!("#{id} is placed twice"));
        }
    }
    if placed.contains_key(&blocked) {
        return Some(format!("#{blocked}, which cannot follow, is already placed"));
    }
    let mut state = model.init();
    for (position, id) in partial.iter().enumerate() {
        let operation = by_id[id];
        for earlier in &partial[..position] {
            let earlier = by_id[earlier];
            if operation.ret.is_some_and(|ret| ret < earlier.call) {
                return Some(format!(
                    "#{} is placed after #{}, but completed before it was invoked",
                    operation.id, earlier.id
                ));
            }
        }
        if let Some(missing) = operations.iter().find(|other| {
            other.status == Status::Ok
                && other.ret.is_some_and(|ret| ret < operation.call)
                && !placed.contains_key(&other.id)
        }) {
            return Some(format!(
                "#{} completed before #{} was invoked, but is not placed before it",
                missing.id, operation.id
            ));
        }
        match model.step(&state, operation) {
            Some(next) => state = next,
            None => {
                return Some(format!("#{} is not legal in the state {}", operation.id, model.show(&state)))
            }
        }
    }
    None
}

/// How the words name an operation: as the history has it. The sets the words are made from are
/// the shortest violating prefix (where an operation that completed after the cut has its outcome
/// forgotten) or a relaxed set, whose operations' outcomes are not the history's.
type Namer<'a> = &'a dyn Fn(&Operation) -> String;

/// What the words that explain by the longest partial linearization say, and no others.
const GENERIC: &str = "longest partial linearization";

/// The exact search of one minimisation step gives up past this many configurations (and the
/// operation it would have relaxed stays in the set, which is then not proven minimal). A bound on
/// configurations rather than time keeps explanations the same from run to run.
const EXACT_MEMO_MAX: usize = 50_000;

/// The over-approximation's bound on configurations: it is the quick first try, and past this the
/// exact search decides.
const OVER_APPROXIMATION_MEMO_MAX: usize = 1_000_000;

/// The same bound in the first, coarse passes of the minimisation, where an undecided step only
/// leaves work for the last pass.
const QUICK_MEMO_MAX: usize = 10_000;

/// Whether an order found by the over-approximation, which may use an unknown operation more than
/// once, is realised by distinct operations: each use of an unknown operation is given its own
/// operation of the same effect (same function, argument and result), invoked before the earliest
/// completion of a completed operation placed after it. The states along the order are unchanged,
/// so the order is then a linearization. The bounds of uses of one kind are nested, so serving the
/// tightest first never fails where an assignment exists.
fn realizable(operations: &[&Operation], order: &[usize]) -> bool {
    let mut seen = vec![false; operations.len()];
    if order.iter().all(|&op| !std::mem::replace(&mut seen[op], true)) {
        return true;
    }
    // Per position: the earliest completion of a completed operation placed after it.
    let mut bound = vec![usize::MAX; order.len()];
    let mut earliest = usize::MAX;
    for (position, &op) in order.iter().enumerate().rev() {
        bound[position] = earliest;
        if let (Status::Ok, Some(ret)) = (operations[op].status, operations[op].ret) {
            earliest = earliest.min(ret);
        }
    }
    let kind = |op: usize| (operations[op].f, &operations[op].input, &operations[op].output);
    // Uses of each kind by bound, and the calls of each kind's unknown operations.
    let mut uses: HashMap<_, Vec<usize>> = HashMap::new();
    for (position, &op) in order.iter().enumerate() {
        if operations[op].status != Status::Ok {
            uses.entry(kind(op)).or_default().push(bound[position]);
        }
    }
    let mut calls: HashMap<_, Vec<usize>> = HashMap::new();
    for (op, operation) in operations.iter().enumerate() {
        if operation.status != Status::Ok {
            calls.entry(kind(op)).or_default().push(operation.call);
        }
    }
    uses.into_iter().all(|(kind, mut bounds)| {
        let mut available = calls.remove(&kind).unwrap_or_default();
        bounds.sort_unstable();
        available.sort_unstable();
        // Tightest use first, each with the earliest-invoked operation left (any eligible one
        // would do: eligibility only grows with the bound).
        bounds.len() <= available.len() && bounds.iter().zip(&available).all(|(bound, call)| call < bound)
    })
}

/// Whether `operations` are not linearizable: `None` if neither was proven within the bounds. The
/// over-approximation (unknown operations may take effect any number of times) is tried first: its
/// configurations are far fewer, and a violation it finds is a violation of the history as it is.
/// Only when the order it finds uses an unknown operation twice is the exact search needed.
fn violation<M: Model>(
    model: &M,
    operations: &[&Operation],
    limits: Limits,
    exact_memo_max: usize,
) -> Option<bool> {
    let over = Limits { unknown_reusable: true, memo_entries_max: OVER_APPROXIMATION_MEMO_MAX, ..limits };
    match search(model, operations, over) {
        Outcome::NotLinearizable(_) => return Some(true),
        Outcome::Linearizable(order) => {
            if realizable(operations, &order) {
                return Some(false);
            }
        }
        Outcome::Inconclusive(_) => {}
    }
    match search(model, operations, Limits { memo_entries_max: exact_memo_max, ..limits }) {
        Outcome::NotLinearizable(_) => Some(true),
        Outcome::Linearizable(_) => Some(false),
        Outcome::Inconclusive(_) => None,
    }
}

/// The operations of the shortest prefix of the history (cut just after a completion) that is not
/// linearizable on its own: the operations invoked before the cut, those that completed after it
/// with their outcome unknown (reads of unknown outcome dropped). A set that cannot be linearized
/// within the prefix cannot be in the whole history either (operations invoked after the cut can
/// take effect only after every completion in the prefix), and minimizing within it is cheaper.
/// `None` when no shorter prefix was proven non-linearizable before the deadline.
fn shortest_violating_prefix<M: Model>(
    model: &M,
    operations: &[&Operation],
    limits: Limits,
) -> Option<Vec<Operation>> {
    let mut cuts: Vec<usize> = operations.iter().filter_map(|operation| operation.ret).collect();
    cuts.sort_unstable();
    let prefix = |cut: usize| -> Vec<Operation> {
        operations
            .iter()
            .filter(|operation| operation.call < cut)
            .filter_map(|operation| {
                if operation.ret.is_some_and(|ret| ret <= cut) {
                    return Some((*operation).clone());
                }
                completion_forgotten(operation)
            })
            .collect()
    };
    let violated = |cut: usize| {
        let ops = prefix(cut);
        let refs: Vec<&Operation> = ops.iter().collect();
        violation(model, &refs, limits, EXACT_MEMO_MAX) == Some(true)
    };
    // Non-linearizability is monotone in the cut: find the first cut that violates.
    let (mut low, mut high) = (0, cuts.len());
    while low < high {
        let middle = (low + high) / 2;
        if violated(cuts[middle]) {
            high = middle;
        } else {
            low = middle + 1;
        }
    }
    // The last cut keeps every completion: no shorter than the history.
    (low + 1 < cuts.len()).then(|| prefix(cuts[low]))
}

/// The operations with only those in `keep` (sorted indices) completed; the others' outcomes
/// unknown. Reads of unknown outcome are dropped (they observe nothing).
fn relax(operations: &[&Operation], keep: &[usize]) -> Vec<Operation> {
    operations
        .iter()
        .enumerate()
        .filter_map(|(index, operation)| {
            if keep.binary_search(&index).is_ok() {
                return Some((*operation).clone());
            }
            completion_forgotten(operation)
        })
        .collect()
}

/// `operation` with its outcome unknown; `None` for a read, which then observes nothing.
fn completion_forgotten(operation: &Operation) -> Option<Operation> {
    if operation.f == Function::Read {
        return None;
    }
    let mut relaxed = operation.clone();
    relaxed.status = Status::Info;
    relaxed.ret = None;
    relaxed.output = Value::Nil;
    Some(relaxed)
}

/// Greedy relaxation: forget the completion of every operation whose outcome can be unknown
/// without the history becoming linearizable, latest-invoked first. First in halves, quarters, ...
/// down to one by one, with a small bound on the exact search (an undecided step keeps the
/// operations); then once more one by one with the full bound, which makes
/// the set 1-minimal (relaxing more never makes a history less linearizable, so an operation found
/// necessary stays necessary as others are relaxed). Not minimal if the deadline passed or a step
/// could not be decided.
fn minimize<M: Model>(model: &M, operations: &[&Operation], limits: Limits) -> (Vec<usize>, bool) {
    let deadline = limits.deadline.unwrap_or_else(Instant::now);
    let mut keep: Vec<usize> =
        (0..operations.len()).filter(|&index| operations[index].status == Status::Ok).collect();
    let violated = |indices: &[usize], exact: bool| {
        let relaxed = relax(operations, indices);
        let refs: Vec<&Operation> = relaxed.iter().collect();
        violation(model, &refs, limits, if exact { EXACT_MEMO_MAX } else { QUICK_MEMO_MAX })
    };
    let mut undecided = false;
    let mut chunk = keep.len() / 2;
    let mut exact = false;
    while chunk >= 1 {
        let mut start = keep.len();
        while start > 0 {
            if Instant::now() >= deadline {
                return (keep, false);
            }
            let from = start.saturating_sub(chunk);
            let candidate: Vec<usize> = keep[..from].iter().chain(&keep[start..]).copied().collect();
            match violated(&candidate, exact) {
                Some(true) => keep = candidate,
                Some(false) => {}
                None => undecided |= exact,
            }
            start = from.min(keep.len());
        }
        if chunk == 1 && !exact {
            exact = true;
        } else {
            chunk /= 2;
        }
    }
    (keep, !undecided)
}

/// The words for a key with appends, from its minimal set (`core`, indices into `operations`):
/// what one of its reads shows that real time forbids, or what one read misses that an earlier
/// one showed. `None` when neither holds.
fn core_words(
    operations: &[&Operation],
    core: &[usize],
    versions: &crate::versions::Versions,
    name: Namer<'_>,
) -> Option<String> {
    if !operations.iter().any(|operation| operation.f == Function::Append) {
        return None;
    }
    let mut reads: Vec<usize> =
        core.iter().copied().filter(|&index| operations[index].f == Function::Read).collect();
    reads.sort_by_key(|&index| operations[index].call);
    let of =
        |operation: &Operation| operation.key.as_ref().map(|key| format!(" of {key}")).unwrap_or_default();
    for &read in &reads {
        let of = of(operations[read]);
        if let Some(words) = append_read_words(operations, operations[read], &of, &versions.shown(read), name)
            .or_else(|| unreplaced_append_words(operations, operations[read], &of, name))
        {
            return Some(words);
        }
    }
    let at = |operation: &Operation| format!("process {}, line {}", operation.process, operation.call_line);
    for (position, &first) in reads.iter().enumerate() {
        for &second in &reads[position + 1..] {
            let (earlier, later) = (operations[first], operations[second]);
            if earlier.ret.is_none_or(|ret| ret >= later.call) {
                continue;
            }
            let (Shown::Built { base: base_earlier, appends: shown_earlier }, Shown::Built { base, appends }) =
                (versions.shown(first), versions.shown(second))
            else {
                continue;
            };
            if base == base_earlier {
                if let Some(&lost) = shown_earlier.iter().find(|append| !appends.contains(append)) {
                    let lost = operations[lost];
                    return Some(format!(
                        "read{} returned {} ({}), which does not show {} ({}), although read{} ({}) showed it and completed before this read was invoked",
                        of(later),
                        later.output,
                        at(later),
                        name(lost),
                        at(lost),
                        of(earlier),
                        at(earlier)
                    ));
                }
            }
        }
    }
    None
}

/// The kinds of operation that change the key's value, as `scope` has them: "writes and appends",
/// "writes, deletes and appends".
fn changers(scope: &[&Operation]) -> String {
    let kinds: Vec<&str> = [
        (Function::Write, "writes"),
        (Function::Cas, "cas operations"),
        (Function::Delete, "deletes"),
        (Function::Append, "appends"),
    ]
    .into_iter()
    .filter(|(f, _)| scope.iter().any(|operation| operation.f == *f))
    .map(|(_, name)| name)
    .collect();
    match kinds.split_last() {
        Some((last, [])) => (*last).to_string(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => "operations".to_string(),
    }
}

/// Why a completed read cannot be where it is when its value misses an append that completed
/// before it was invoked, and nothing that replaces the value could take effect between the two:
/// every write, delete and cas of `scope` completed before the append was invoked or was invoked
/// after the read completed. Then the value the read saw held the append's piece (appends only
/// add to a value), so a value without it was never there to be read. Needs no version of the
/// read, so it holds where values are written twice (a delete of every key writes the same
/// absent value).
fn unreplaced_append_words(
    scope: &[&Operation],
    read: &Operation,
    of: &str,
    name: Namer<'_>,
) -> Option<String> {
    let (Status::Ok, Some(read_ret)) = (read.status, read.ret) else { return None };
    let holds = |piece: &Value| match (&read.output, piece) {
        (Value::Str(text), Value::Str(piece)) => Some(text.contains(piece.as_str())),
        (Value::List(items), piece) => Some(items.contains(piece)),
        _ => None,
    };
    let missed = scope.iter().filter(|append| append.f == Function::Append).find(|append| {
        append.status == Status::Ok
            && append.ret.is_some_and(|ret| ret < read.call)
            && holds(&append.input) == Some(false)
            && scope.iter().all(|other| {
                !matches!(other.f, Function::Write | Function::Delete | Function::Cas)
                    || other.ret.is_some_and(|ret| ret < append.call)
                    || other.call > read_ret
            })
    })?;
    let at = |operation: &Operation| format!("process {}, line {}", operation.process, operation.call_line);
    Some(format!(
        "read{of} returned {} ({}), which does not show {} ({}), completed before the read was invoked, and \
         nothing that replaces the value could take effect between them",
        read.output,
        at(read),
        name(missed),
        at(missed)
    ))
}

/// Why a read of appended values cannot be where it is, from what its value shows (`built`: the
/// operations that built it, indices into `scope`), when one of three plain reasons holds.
fn append_read_words(
    scope: &[&Operation],
    read: &Operation,
    of: &str,
    built: &Shown,
    name: Namer<'_>,
) -> Option<String> {
    let at = |operation: &Operation| format!("process {}, line {}", operation.process, operation.call_line);
    let value = &read.output;
    let Shown::Built { base, appends } = built else {
        return (built == &Shown::Unbuildable).then(|| {
            format!(
                "read{of} returned {value} ({}), which no sequence of this key's {} builds",
                at(read),
                changers(scope)
            )
        });
    };
    // It shows an append invoked after it completed.
    if let Some(late) =
        appends.iter().map(|&op| scope[op]).find(|append| read.ret.is_some_and(|ret| append.call > ret))
    {
        return Some(format!(
            "read{of} returned {value} ({}), which shows {} ({}), invoked only after the read completed",
            at(read),
            name(late),
            at(late)
        ));
    }
    // It shows two appends in an order real time forbids.
    for (position, &first) in appends.iter().enumerate() {
        for &second in &appends[position + 1..] {
            let (first, second) = (scope[first], scope[second]);
            if second.ret.is_some_and(|ret| ret < first.call) {
                return Some(format!(
                    "read{of} returned {value} ({}), which shows {} ({}) before {} ({}), but the second completed before the first was invoked",
                    at(read),
                    name(first),
                    at(first),
                    name(second),
                    at(second)
                ));
            }
        }
    }
    // It misses an append that was invoked after its base completed, and completed before the
    // read was invoked: one that must stand between them.
    let base_ret = base.map(|base| scope[base].ret);
    let missed = scope.iter().enumerate().find(|(index, operation)| {
        operation.f == Function::Append
            && operation.status == Status::Ok
            && operation.ret.is_some_and(|ret| ret < read.call)
            && base_ret.is_none_or(|ret| ret.is_some_and(|ret| operation.call > ret))
            && !appends.contains(index)
    });
    if let Some((_, missed)) = missed {
        let since = match base {
            Some(base) => format!("since {}", name(scope[*base])),
            None => "since the start".to_string(),
        };
        return Some(format!(
            "read{of} returned {value} ({}), which does not show {} ({}), completed before the read was invoked and {since}",
            at(read),
            name(missed),
            at(missed)
        ));
    }
    None
}

/// The words for the operation `stuck` could not get past in `scope` (the key's operations, a
/// prefix of them, or a relaxed set); `whole` is every operation of the key.
fn words<M: Model>(
    model: &M,
    scope: &[&Operation],
    whole: &[&Operation],
    stuck: &Stuck,
    name: Namer<'_>,
) -> String {
    let blocked = scope[stuck.blocked];
    let state = &model.show(&after(model, scope, &stuck.partial));
    let built = model.versions(scope).map(|versions| versions.shown(stuck.blocked));
    // "read of x returned ..." with a key; "read returned ..." without.
    let (of, key) = match &blocked.key {
        Some(key) => (format!(" of {key}"), format!("{key} ")),
        None => (String::new(), "the register ".to_string()),
    };
    let at = |operation: &Operation| format!("process {}, line {}", operation.process, operation.call_line);
    // A delete writes the absent value, the one a read of a key never written returns.
    let writes_value = |operation: &Operation, value: &Value| model.leaves(operation).as_ref() == Some(value);
    let is_write = |operation: &Operation| {
        matches!(operation.f, Function::Write | Function::Cas | Function::Delete | Function::Append)
    };
    let has_appends = scope.iter().any(|operation| operation.f == Function::Append);
    match blocked.f {
        Function::Read if has_appends => {
            if let Some(words) = built.and_then(|built| append_read_words(scope, blocked, &of, &built, name))
            {
                return words;
            }
            if let Some(words) = unreplaced_append_words(scope, blocked, &of, name) {
                return words;
            }
            let value = &blocked.output;
            format!(
                "read{of} returned {value} ({}), but no order of the {} before it builds that value: after the \
                 longest partial linearization ({}) {key}holds {state}",
                at(blocked),
                changers(scope),
                counted(stuck.partial.len(), "operation")
            )
        }
        Function::Read => {
            let value = &blocked.output;
            let writers: Vec<&&Operation> =
                scope.iter().filter(|operation| writes_value(operation, value)).collect();
            if !model.is_initial(value) && writers.is_empty() {
                // Writers of it in the whole key were all invoked after the read completed (else
                // the scope would hold them).
                let later = whole
                    .iter()
                    .filter(|operation| writes_value(operation, value))
                    .min_by_key(|operation| operation.call);
                return match later {
                    None => format!("read{of} returned {value} ({}), a value no operation wrote", at(blocked)),
                    Some(later) => format!(
                        "read{of} returned {value} ({}), a value that only operations invoked after the read completed write, the first {} ({})",
                        at(blocked),
                        name(later),
                        at(later)
                    ),
                };
            }
            // The last write that completed before the read began, and whether a write of the value
            // read could still come after it. Both from the key's own operations: `scope` may be a
            // prefix or a relaxed set, where completions the history has are forgotten.
            let before = whole
                .iter()
                .filter(|operation| is_write(operation) && operation.status == Status::Ok)
                .filter(|operation| operation.ret.is_some_and(|ret| ret < blocked.call))
                .max_by_key(|operation| operation.ret);
            if let Some(last) = before {
                // A write of the value read (of any kind) that real time lets take effect after
                // `last` and before the read completes: one that completed after `last` was invoked,
                // or one of unknown outcome, invoked before the read completed. (Whether a cas could
                // find what it expects there is the search's question, not these words'.)
                let later_writer =
                    whole.iter().filter(|operation| writes_value(operation, value)).any(|writer| {
                        blocked.ret.is_none_or(|ret| writer.call < ret)
                            && match writer.status {
                                Status::Ok => writer.ret.is_some_and(|ret| ret > last.call),
                                Status::Info => true,
                            }
                    });
                if !writes_value(last, value) && !later_writer {
                    return format!(
                        "read{of} returned {value} ({}) after {} completed ({}), and no write of {value} could take effect in between",
                        at(blocked),
                        name(last),
                        at(last)
                    );
                }
            }
            format!(
                "read{of} returned {value} ({}), but no order of the operations before it leaves {value}: \
                 after the longest partial linearization ({}) {key}holds {state}",
                at(blocked),
                counted(stuck.partial.len(), "operation")
            )
        }
        Function::Cas => {
            let expected = match &blocked.input {
                Value::List(pair) if pair.len() == 2 => pair[0].to_string(),
                other => other.to_string(),
            };
            format!(
                "{} succeeded ({}), but no order of the operations before it leaves {expected} in {key}for it to find: \
                 after the longest partial linearization ({}) {key}holds {state}",
                name(blocked),
                at(blocked),
                counted(stuck.partial.len(), "operation")
            )
        }
        _ => format!(
            "{} ({}) completed, but no order of the operations before its completion is legal with it: \
             after the longest partial linearization ({}) {key}holds {state}",
            name(blocked),
            at(blocked),
            counted(stuck.partial.len(), "operation")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{self, Format};
    use crate::history::History;

    /// An EDN history of key "k", one event a line: `"2 invoke delete nil"`.
    fn history(lines: &[&str]) -> History {
        let text: String = lines
            .iter()
            .map(|line| {
                let mut words = line.splitn(4, ' ');
                let (process, kind, f) = (words.next(), words.next(), words.next());
                let value = words.next().unwrap_or("nil");
                format!(
                    "{{:process {} :type :{} :f :{} :key \"k\" :value {value}}}\n",
                    process.expect("process"),
                    kind.expect("type"),
                    f.expect("function")
                )
            })
            .collect();
        let (events, _) = format::parse(&text, Format::Auto).expect("parses");
        History::from_events(&events).expect("pairs")
    }

    #[test]
    fn an_explanation_whose_searches_have_no_memory_is_not_proven_minimal() {
        // Twelve concurrent writes, then two reads of different values after all of them: not
        // linearizable, and each search of it runs through thousands of configurations (subsets
        // of the writes), past where the bounds are looked at. The explanation's searches get the
        // memory bound they are given: with none to spend, no step of the minimisation is decided.
        let mut lines: Vec<String> = (1..=12).map(|value| format!("{value} invoke write {value}")).collect();
        lines.extend((1..=12).map(|value| format!("{value} ok write {value}")));
        lines.extend(
            ["20 invoke read nil", "21 invoke read nil", "20 ok read 1", "21 ok read 2"].map(String::from),
        );
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        let history = history(&lines);
        let operations: Vec<&Operation> = history.operations.iter().collect();
        let model = crate::model::Register::new(crate::model::Kind::Kv);
        let Outcome::NotLinearizable(stuck) = search(&model, &operations, Limits::default()) else {
            panic!("two reads after every write see different values");
        };
        let budget = Duration::from_secs(30);
        let roomy = explain(&model, &operations, &stuck, budget, 256 << 20);
        assert!(roomy.minimal, "{roomy:?}");
        let starved = explain(&model, &operations, &stuck, budget, 0);
        assert!(!starved.minimal, "{starved:?}");
    }

    #[test]
    fn an_order_that_uses_an_unknown_operation_twice_is_realised_only_by_as_many_invoked_in_time() {
        let history = history(&[
            "0 invoke write 1",
            "0 ok write 1",
            "1 invoke write 2",
            "0 invoke read nil",
            "0 ok read 2",
            "2 invoke write 2",
            "0 invoke read nil",
            "0 ok read 2",
            "3 invoke write 3",
        ]);
        // 0: write 1; 1 and 3: writes of 2 of unknown outcome; 2 and 4: reads; 5: write 3 of
        // unknown outcome.
        let operations: Vec<&Operation> = history.operations.iter().collect();
        let cases: [(&[usize], bool); 4] = [
            (&[0, 1, 2, 3, 4], true),
            // The second use of a write of 2 goes to #3, invoked before the read after it
            // completed.
            (&[0, 1, 2, 1, 4], true),
            // Both uses come before the first read completed, and #3 was invoked after it.
            (&[0, 1, 1, 2, 4], false),
            // Two uses of the one write of 3.
            (&[0, 1, 2, 4, 5, 5], false),
        ];
        for (order, expected) in cases {
            assert_eq!(realizable(&operations, order), expected, "{order:?}");
        }
    }

    #[test]
    fn a_missed_append_is_named_only_when_nothing_could_replace_the_value_between_it_and_the_read() {
        // The delete of process 1 around the append, before it, or after the read.
        let cases: [(&[&str], &[&str], bool); 4] = [
            (&["1 invoke delete nil"], &["1 ok delete nil"], false),
            (&["1 invoke delete nil", "1 ok delete nil"], &[], true),
            (&[], &["1 invoke delete nil", "1 ok delete nil"], true),
            (&["1 invoke delete nil"], &["1 info delete nil"], false),
        ];
        for (before, after, named) in cases {
            let mut lines: Vec<&str> = before.to_vec();
            lines.extend(["0 invoke append \"a.\"", "0 ok append \"a.\"", "2 invoke read nil"]);
            lines.push("2 ok read \"b.\"");
            lines.extend(after);
            let history = history(&lines);
            let operations: Vec<&Operation> = history.operations.iter().collect();
            let read = operations.iter().find(|operation| operation.f == Function::Read).expect("a read");
            let words = unreplaced_append_words(&operations, read, " of k", &Operation::describe);
            assert_eq!(words.is_some(), named, "{lines:?}: {words:?}");
        }
        // A read that shows the append, or one of a list, or of another type.
        for (appended, read, named) in
            [("\"a.\"", "\"xa.y\"", false), ("1", "[2 3]", true), ("1", "[3 1]", false), ("1", "7", false)]
        {
            let append = format!("0 invoke append {appended}");
            let appended_ok = format!("0 ok append {appended}");
            let read_ok = format!("2 ok read {read}");
            let history = history(&[&append, &appended_ok, "2 invoke read nil", &read_ok]);
            let operations: Vec<&Operation> = history.operations.iter().collect();
            let words = unreplaced_append_words(&operations, operations[1], " of k", &Operation::describe);
            assert_eq!(words.is_some(), named, "append {appended}, read {read}: {words:?}");
        }
    }
}
