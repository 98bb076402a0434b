//! Helpers shared by the checker's tests: a brute-force oracle, and the relaxed history an
//! explanation's set stands for.

use checker::history::{Operation, Status};
use checker::model::{Model, Register};

/// Every order of the operations that respects real time, with each unknown-outcome operation
/// either placed or left out.
pub fn brute_force(model: &Register, operations: &[Operation]) -> bool {
    fn extend(
        model: &Register,
        operations: &[Operation],
        used: &mut Vec<bool>,
        state: &checker::value::Value,
    ) -> bool {
        if operations
            .iter()
            .zip(used.iter())
            .all(|(operation, &used)| used || operation.status == Status::Info)
        {
            return true;
        }
        for index in 0..operations.len() {
            if used[index] {
                continue;
            }
            // It may go next only if no unused completed operation returned before it was called.
            let blocked = operations.iter().enumerate().any(|(other, earlier)| {
                !used[other]
                    && earlier.status == Status::Ok
                    && earlier.ret.is_some_and(|ret| ret < operations[index].call)
            });
            if blocked {
                continue;
            }
            if let Some(next) = model.step(state, &operations[index]) {
                used[index] = true;
                let found = extend(model, operations, used, &next);
                used[index] = false;
                if found {
                    return true;
                }
            }
        }
        false
    }
    let relevant: Vec<Operation> =
        operations.iter().filter(|operation| !model.is_inert(operation)).cloned().collect();
    let mut used = vec![false; relevant.len()];
    extend(model, &relevant, &mut used, &model.init())
}

/// An EDN history, one event per line written `process type f value` (the value may hold
/// spaces; `nil` if left out), of `key` or of a register (`None`).
pub fn edn(lines: &[&str], key: Option<&str>) -> String {
    let key = key.map(|key| format!(" :key {key:?}")).unwrap_or_default();
    lines
        .iter()
        .map(|line| {
            let mut parts = line.splitn(4, ' ');
            let mut next = || parts.next().unwrap_or("nil");
            let (process, kind, f, value) = (next(), next(), next(), next());
            format!("{{:process {process} :type :{kind} :f :{f}{key} :value {value}}}\n")
        })
        .collect()
}

/// The operations with only those of `core` (ids) completed, as an explanation relaxes them: the
/// others' outcomes unknown, and reads not in `core` left out (they observe nothing).
pub fn relaxed(operations: &[Operation], core: &[usize]) -> Vec<Operation> {
    operations
        .iter()
        .filter(|operation| core.contains(&operation.id) || operation.f != checker::history::Function::Read)
        .map(|operation| {
            let mut operation = operation.clone();
            if !core.contains(&operation.id) {
                operation.status = Status::Info;
                operation.ret = None;
                operation.output = checker::value::Value::Nil;
            }
            operation
        })
        .collect()
}

/// Whether what the words of `explanation` (of one key, `operations`) say is true of the history,
/// checked from the history alone, without the explanation's own code: its order facts against
/// the invocations and completions, what a value shows against the value, and, on keys of
/// `exhaustive_max` operations or fewer, its "no write could" and "no sequence builds" by
/// enumeration. Sentences that say only that no order leaves a value (the partial linearization
/// is checked elsewhere) must give its length and the state after it. `Err` says what is false.
pub fn words_hold(
    model: &Register,
    operations: &[Operation],
    explanation: &checker::explain::Explanation,
    exhaustive_max: usize,
) -> Result<(), String> {
    use checker::history::Function;
    use checker::value::Value;
    let words = explanation.words.as_str();
    if let Some((_, after)) = words.split_once("after the longest partial linearization (") {
        let count = after.split(' ').next().unwrap_or("");
        let shown = explanation.partial.len();
        if count != shown.to_string() {
            return Err(format!(
                "false: the partial linearization shown has {shown} operations, not {count}"
            ));
        }
        if !words.ends_with(&format!(" holds {}", explanation.state)) {
            return Err(format!("false: the state after it is {}", explanation.state));
        }
    }
    // The operations the words name, in the order they name them, by "(process P, line L)".
    let mut named: Vec<&Operation> = Vec::new();
    let mut rest = words;
    while let Some(start) = rest.find("(process ") {
        let after = &rest[start + "(process ".len()..];
        let end = after.find(')').ok_or("an unclosed \"(process\"")?;
        let (process, line) = after[..end].split_once(", line ").ok_or("a position without a line")?;
        let line: usize = line.parse().map_err(|_| format!("line {line:?} is no number"))?;
        let operation = operations
            .iter()
            .find(|operation| operation.process == process && operation.call_line == line)
            .ok_or_else(|| format!("no operation of process {process} at line {line}"))?;
        named.push(operation);
        rest = &after[end..];
    }
    let Some(&read) = named.first() else { return Ok(()) };
    let writes = |operation: &Operation, value: &Value| match operation.f {
        Function::Write => operation.input == *value,
        Function::Cas => {
            matches!(&operation.input, Value::List(pair) if pair.len() == 2 && pair[1] == *value)
        }
        Function::Delete => model.is_initial(value),
        Function::Read | Function::Append => false,
    };
    let shows = |value: &Value, piece: &Value| match (value, piece) {
        (Value::Str(text), Value::Str(piece)) => text.find(piece.as_str()),
        (Value::List(items), piece) => items.iter().position(|item| item == piece),
        _ => None,
    };
    let check = |holds: bool, what: &str| if holds { Ok(()) } else { Err(format!("false: {what}")) };
    let exhaustive = operations.len() <= exhaustive_max;
    let completed_before =
        |earlier: &Operation, later: &Operation| earlier.ret.is_some_and(|ret| ret < later.call);
    if read.f != Function::Read || !words.starts_with("read") {
        return Ok(());
    }
    let value = &read.output;
    if words.ends_with(", a value no operation wrote") {
        check(!model.is_initial(value), "the value read is not the initial one")?;
        return check(!operations.iter().any(|operation| writes(operation, value)), "no operation wrote it");
    }
    if words.contains(", a value that only operations invoked after the read completed write, the first ") {
        let [_, first] = named[..] else { return Err("a value written late names two operations".into()) };
        check(!model.is_initial(value), "the value read is not the initial one")?;
        let writers: Vec<&Operation> =
            operations.iter().filter(|operation| writes(operation, value)).collect();
        check(
            writers.iter().all(|writer| read.ret.is_some_and(|ret| writer.call > ret)),
            "every write of the value read was invoked after the read completed",
        )?;
        return check(
            writers.iter().map(|writer| writer.call).min() == Some(first.call),
            "the one named is the first of them",
        );
    }
    if words.ends_with("could take effect in between") {
        let [_, last] = named[..] else { return Err("a stale read names two operations".into()) };
        check(completed_before(last, read), "the write named completed before the read was invoked")?;
        check(!writes(last, value), "the write named does not write the value read")?;
        return check(
            !exhaustive
                || !writer_between(model, operations, last, read, &|operation| writes(operation, value)),
            "no order of the writes puts a write of the value read between the two",
        );
    }
    if words.ends_with("invoked only after the read completed") {
        let [_, append] = named[..] else { return Err("a late append names two operations".into()) };
        check(append.f == Function::Append, "it names an append")?;
        check(
            read.ret.is_some_and(|ret| append.call > ret),
            "the append was invoked after the read completed",
        )?;
        return check(shows(value, &append.input).is_some(), "the value read shows the append");
    }
    if words.ends_with("but the second completed before the first was invoked") {
        let [_, first, second] = named[..] else {
            return Err("an order of appends names three operations".into());
        };
        check(completed_before(second, first), "the second completed before the first was invoked")?;
        let (Some(at_first), Some(at_second)) = (shows(value, &first.input), shows(value, &second.input))
        else {
            return Err("false: the value read shows both appends".into());
        };
        return check(at_first < at_second, "the value read shows the first before the second");
    }
    if words.contains(", which does not show ") {
        let missed = *named.get(1).ok_or("a missed append is named")?;
        check(missed.f == Function::Append, "it names an append")?;
        check(shows(value, &missed.input).is_none(), "the value read does not show the append")?;
        if words.ends_with("completed before this read was invoked") {
            let earlier = *named.get(2).ok_or("the earlier read is named")?;
            check(completed_before(earlier, read), "the earlier read completed before this one was invoked")?;
            return check(
                shows(&earlier.output, &missed.input).is_some(),
                "the earlier read showed the append",
            );
        }
        check(missed.status == Status::Ok, "the append completed")?;
        if words.ends_with("and nothing that replaces the value could take effect between them") {
            check(completed_before(missed, read), "the append completed before the read was invoked")?;
            return check(
                operations
                    .iter()
                    .filter(|other| matches!(other.f, Function::Write | Function::Delete | Function::Cas))
                    .all(|other| {
                        completed_before(other, missed) || read.ret.is_some_and(|ret| other.call > ret)
                    }),
                "every write, delete and cas completed before the append or began after the read",
            );
        }
        check(completed_before(missed, read), "the append completed before the read was invoked")?;
        // Only what was invoked before the read completed can take effect before it.
        let before_read: Vec<&Operation> =
            operations.iter().filter(|operation| read.ret.is_some_and(|ret| operation.call < ret)).collect();
        if words.ends_with("and since the start") {
            return check(
                !before_read.iter().any(|operation| writes(operation, &model.init())),
                "nothing invoked before the read completed writes the initial value again",
            );
        }
        // "... and since write k 3": the base by its description, which must name one operation.
        let (_, since) = words.rsplit_once(" and since ").ok_or("the base is named")?;
        let bases: Vec<&&Operation> =
            before_read.iter().filter(|operation| operation.describe() == since).collect();
        let [base] = bases[..] else { return Err(format!("false: {since:?} names one operation")) };
        check(completed_before(base, missed), "the append was invoked after the base completed")?;
        let written = match (base.f, &base.input) {
            (Function::Write, value) => value.clone(),
            (Function::Cas, Value::List(pair)) => pair[1].clone(),
            _ => model.init(),
        };
        check(
            before_read.iter().filter(|operation| writes(operation, &written)).count() == 1
                && !model.is_initial(&written),
            "nothing else invoked before the read completed writes the base's value",
        )?;
        return check(
            match (value, &written) {
                (Value::Str(text), Value::Str(prefix)) => text.starts_with(prefix.as_str()),
                (Value::List(items), Value::List(prefix)) => items.starts_with(prefix),
                (value, written) => value == written,
            },
            "the value read begins with the base's",
        );
    }
    if words.contains("builds") && words.contains(", which no sequence of this key's ") {
        return check(
            !exhaustive || !buildable(model, operations, value),
            "no sequence of the key's operations builds the value read",
        );
    }
    if words.contains("but no order of the") {
        return Ok(());
    }
    Err(format!("a sentence this check does not know: {words}"))
}

/// Whether some order of `operations` that respects real time (reads other than `read` left out,
/// each unknown outcome placed or not) puts an operation `writer` accepts after `after` and
/// before `read`.
fn writer_between(
    model: &Register,
    operations: &[Operation],
    after: &Operation,
    read: &Operation,
    writer: &dyn Fn(&Operation) -> bool,
) -> bool {
    use checker::history::Function;
    use checker::value::Value;
    use std::collections::HashSet;
    let ops: Vec<&Operation> = operations
        .iter()
        .filter(|operation| operation.f != Function::Read || operation.id == read.id)
        .collect();
    // (used, state, phase): phase 0 before `after`, 1 after it, 2 once a writer followed it.
    struct Search<'a> {
        model: &'a Register,
        ops: Vec<&'a Operation>,
        after: usize,
        read: usize,
        writer: &'a dyn Fn(&Operation) -> bool,
        seen: HashSet<(u64, Value, u8)>,
    }
    impl Search<'_> {
        fn extend(&mut self, used: u64, state: &Value, phase: u8) -> bool {
            if !self.seen.insert((used, state.clone(), phase)) {
                return false;
            }
            for index in 0..self.ops.len() {
                if used & (1 << index) != 0 {
                    continue;
                }
                let blocked = self.ops.iter().enumerate().any(|(other, earlier)| {
                    used & (1 << other) == 0
                        && earlier.status == Status::Ok
                        && earlier.ret.is_some_and(|ret| ret < self.ops[index].call)
                });
                if blocked {
                    continue;
                }
                if index == self.read {
                    if phase == 2 {
                        return true;
                    }
                    continue;
                }
                let Some(next) = self.model.step(state, self.ops[index]) else { continue };
                let phase = match phase {
                    0 if index == self.after => 1,
                    1 if (self.writer)(self.ops[index]) => 2,
                    phase => phase,
                };
                if self.extend(used | (1 << index), &next, phase) {
                    return true;
                }
            }
            false
        }
    }
    let position = |target: &Operation| ops.iter().position(|operation| operation.id == target.id);
    let (Some(after), Some(read)) = (position(after), position(read)) else { return false };
    assert!(ops.len() < 64, "an enumeration of at most 63 operations");
    Search { model, ops, after, read, writer, seen: HashSet::new() }.extend(0, &model.init(), 0)
}

/// Whether some sequence of `operations`' writes, deletes, cas operations and appends (each at
/// most once, in any order) leaves `value`.
fn buildable(model: &Register, operations: &[Operation], value: &checker::value::Value) -> bool {
    use checker::history::Function;
    use std::collections::HashSet;
    let ops: Vec<&Operation> = operations.iter().filter(|operation| operation.f != Function::Read).collect();
    assert!(ops.len() < 64, "an enumeration of at most 63 operations");
    let mut seen = HashSet::new();
    let mut stack = vec![(0u64, model.init())];
    while let Some((used, state)) = stack.pop() {
        if state == *value {
            return true;
        }
        if !seen.insert((used, state.clone())) {
            continue;
        }
        for (index, operation) in ops.iter().enumerate() {
            if used & (1 << index) == 0 {
                if let Some(next) = model.step(&state, operation) {
                    stack.push((used | (1 << index), next));
                }
            }
        }
    }
    false
}
