//! Sequential specifications: what one object does. The search asks a model whether an operation,
//! applied to a state, is consistent with what the operation observed.

use crate::history::{Function, Operation, Status};
use crate::value::Value;
use crate::versions::Versions;
use std::fmt::Debug;
use std::hash::Hash;

/// A sequential specification of one object (one key: histories over many keys are split per key
/// before the search, so a model never sees two keys).
pub trait Model: Sync {
    /// The object's state.
    type State: Clone + Eq + Hash + Debug;

    /// The model's name on the command line.
    fn name(&self) -> &'static str;

    /// Whether the model defines `f`.
    fn supports(&self, f: Function) -> bool;

    /// The state before any operation.
    fn init(&self) -> Self::State;

    /// The state after `operation` if it is consistent with `state`: a completed read must have
    /// observed the state, a cas must have found its expected value. `None` if it is not.
    ///
    /// It may depend only on the operation's `f`, `input`, `output` and `status` (the search treats
    /// two unknown-outcome operations that agree on these as interchangeable).
    fn step(&self, state: &Self::State, operation: &Operation) -> Option<Self::State>;

    /// Whether `operation` can be left out of the search without changing the verdict (it neither
    /// changes the state nor observes anything: a read whose outcome is unknown).
    fn is_inert(&self, operation: &Operation) -> bool {
        operation.f == Function::Read && operation.status == Status::Info
    }

    /// The state in words, for explanations.
    fn show(&self, state: &Self::State) -> String;

    /// Whether a read that returned `value` may have read the state before any operation (a key
    /// never written), for explanations: they call a read of it a read of the initial state, not
    /// of "a value no operation wrote".
    fn is_initial(&self, value: &Value) -> bool;

    /// The value `operation` leaves whatever state it finds (a write's value, a cas's new value, a
    /// delete's absent value), or `None` if what it leaves depends on the state or it leaves none
    /// (a read, an append). The one rule for "does this operation write v", which the search's
    /// pruning and the explanations' words share.
    fn leaves(&self, operation: &Operation) -> Option<Value>;

    /// Bytes a state holds on the heap (beyond its own size), for the search's memory bound: the
    /// memo keeps a state per configuration, and a state of long values is most of its memory.
    fn state_bytes(&self, state: &Self::State) -> usize;

    /// What the reads of `operations` (one partition) reveal of the order of its operations, for
    /// the search to rule out steps with ([`crate::versions`]); `None` if nothing. Each step it
    /// rules out must be one that no linearization takes: the verdicts are the same with it or
    /// without it.
    fn versions(&self, operations: &[&Operation]) -> Option<Versions>;

    /// Which of `operations` (one partition) the search may leave out: operations of unknown
    /// outcome that no linearization needs, because nothing can observe what they do. A model
    /// leaves one out only with a proof that this keeps every verdict (`vec![false; n]` is
    /// always sound). The search reads it for unknown operations only.
    ///
    /// These four have no default: the one model there is defines each, and defaults that no
    /// model used were code that no test ran (the checker's mutation run found them). A new
    /// model states each choice.
    fn needless(&self, operations: &[&Operation]) -> Vec<bool>;

    /// What the operations of one partition can observe of a state, for
    /// [`Model::representative`].
    type Observations;

    /// What `operations` (one partition) can observe of a state.
    fn observations(&self, operations: &[&Operation]) -> Self::Observations;

    /// One state for all the states that every operation of the partition treats alike, from
    /// `state` on (each step legal from one is legal from the others, and leads to states that
    /// are alike again). The search puts it in place of `state`: every order of operations is
    /// then legal exactly when it was, and configurations that differ only by such states are
    /// searched from once. Without it, in the over-approximation (where an unknown operation may
    /// take effect any number of times) an unknown append taken again and again builds ever longer
    /// strings, each a new configuration, until a bound stops the search. `state` itself is
    /// always a sound answer.
    fn representative(&self, observations: &Self::Observations, state: Self::State) -> Self::State;
}

/// What a [`Register`]'s partition can observe: the values its completed reads returned and its
/// cas operations expected (sorted, without repeats), and the states that stand for the ones none
/// of them can be built from.
#[derive(Clone, Debug)]
pub struct Observed {
    /// The strings observed.
    strings: Vec<String>,
    /// The lists observed.
    lists: Vec<Vec<Value>>,
    /// A string longer than every string observed.
    dead_string: Value,
    /// A list longer than every list observed.
    dead_list: Value,
}

/// Which functions a [`Register`] accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// read, write.
    Register,
    /// read, write, cas.
    CasRegister,
    /// A map checked per key: get, put, delete, cas, append.
    Kv,
}

/// A register, a cas register, or one key of a key-value map: the state is the value held.
#[derive(Clone, Debug)]
pub struct Register {
    /// Which functions it accepts.
    pub kind: Kind,
    /// What a key never written (or deleted) holds, and a read of it returns: `Nil` by default.
    /// Many key-value services return the empty string instead (`--absent ""`).
    pub absent: Value,
}

impl Register {
    /// A register of `kind` whose absent value is `Nil`.
    pub fn new(kind: Kind) -> Register {
        Register { kind, absent: Value::Nil }
    }

    /// The same register with another absent value.
    pub fn with_absent(self, absent: Value) -> Register {
        Register { absent, ..self }
    }
}

impl Model for Register {
    type State = Value;

    fn name(&self) -> &'static str {
        match self.kind {
            Kind::Register => "register",
            Kind::CasRegister => "cas-register",
            Kind::Kv => "kv",
        }
    }

    fn supports(&self, f: Function) -> bool {
        match self.kind {
            Kind::Register => matches!(f, Function::Read | Function::Write),
            Kind::CasRegister => matches!(f, Function::Read | Function::Write | Function::Cas),
            Kind::Kv => true,
        }
    }

    fn init(&self) -> Value {
        self.absent.clone()
    }

    fn step(&self, state: &Value, operation: &Operation) -> Option<Value> {
        match operation.f {
            Function::Read => {
                (operation.status == Status::Info || operation.output == *state).then(|| state.clone())
            }
            Function::Write => Some(operation.input.clone()),
            Function::Delete => Some(self.absent.clone()),
            Function::Cas => match &operation.input {
                Value::List(pair) if pair.len() == 2 && pair[0] == *state => Some(pair[1].clone()),
                _ => None,
            },
            Function::Append => Some(match (state, &operation.input) {
                (Value::Nil, Value::Str(suffix)) => Value::Str(suffix.clone()),
                (Value::Str(text), Value::Str(suffix)) => Value::Str(format!("{text}{suffix}")),
                (Value::Nil, element) => Value::List(vec![element.clone()]),
                (Value::List(items), element) => {
                    let mut items = items.clone();
                    items.push(element.clone());
                    Value::List(items)
                }
                // Appending to an integer is undefined: no linearization can include it.
                (Value::Int(_) | Value::Str(_), _) => return None,
            }),
        }
    }

    fn show(&self, state: &Value) -> String {
        state.to_string()
    }

    fn is_initial(&self, value: &Value) -> bool {
        *value == self.absent
    }

    fn leaves(&self, operation: &Operation) -> Option<Value> {
        crate::versions::written(operation, &self.absent)
    }

    fn state_bytes(&self, state: &Value) -> usize {
        state.heap_bytes()
    }

    fn versions(&self, operations: &[&Operation]) -> Option<Versions> {
        Some(Versions::new(operations, &self.absent))
    }

    /// An unknown write of x (a delete: of nil; a cas [a b]: of b) is needless when no completed
    /// read returned x and no cas expects x. In a linearization that holds it, the next operation
    /// cannot be a read (it would return x) nor a cas (it would expect x), so it is a write or a
    /// delete, which accepts any state and leaves its own, or there is none: the linearization
    /// without it is as good. Leaving one out can make others needless (a cas expected their
    /// value), so this runs to a fixpoint.
    ///
    /// With appends, whose effect depends on the state, no write is left out, but an unknown
    /// append of x is needless when x is part of no completed read's value and of no cas's
    /// expected value (and the key's appends are all of strings, or none is): in a linearization
    /// that holds it, every state after it until the next write or cas holds x, so nothing there
    /// observes the state but further appends, which are as legal without it, and the next write
    /// does not depend on what it replaces.
    fn needless(&self, operations: &[&Operation]) -> Vec<bool> {
        let mut needless = vec![false; operations.len()];
        if operations.iter().any(|operation| operation.f == Function::Append) {
            let is_string = |operation: &&&Operation| matches!(operation.input, Value::Str(_));
            let appends = operations.iter().filter(|operation| operation.f == Function::Append);
            let strings = appends.clone().filter(is_string).count();
            if strings != 0 && strings != appends.count() {
                return needless;
            }
            let contains = |whole: &Value, piece: &Value| match (whole, piece) {
                (Value::Str(text), Value::Str(piece)) => text.contains(piece.as_str()),
                (Value::List(items), piece) => items.contains(piece),
                _ => false,
            };
            let observers: Vec<&Value> = operations
                .iter()
                .filter_map(|operation| match (operation.f, &operation.input) {
                    (Function::Read, _) if operation.status == Status::Ok => Some(&operation.output),
                    (Function::Cas, Value::List(pair)) if pair.len() == 2 => Some(&pair[0]),
                    _ => None,
                })
                .collect();
            for (index, operation) in operations.iter().enumerate() {
                needless[index] = operation.f == Function::Append
                    && operation.status == Status::Info
                    && !observers.iter().any(|observer| contains(observer, &operation.input));
            }
            return needless;
        }
        loop {
            let mut observed: std::collections::HashSet<&Value> = std::collections::HashSet::new();
            for (index, operation) in operations.iter().enumerate() {
                match (operation.f, &operation.input) {
                    (Function::Read, _) if operation.status == Status::Ok => {
                        observed.insert(&operation.output);
                    }
                    (Function::Cas, Value::List(pair)) if pair.len() == 2 && !needless[index] => {
                        observed.insert(&pair[0]);
                    }
                    _ => {}
                }
            }
            let mut changed = false;
            for (index, operation) in operations.iter().enumerate() {
                if operation.status == Status::Info
                    && !needless[index]
                    && self.leaves(operation).is_some_and(|value| !observed.contains(&value))
                {
                    needless[index] = true;
                    changed = true;
                }
            }
            if !changed {
                return needless;
            }
        }
    }

    type Observations = Observed;

    fn observations(&self, operations: &[&Operation]) -> Observed {
        let mut strings = Vec::new();
        let mut lists = Vec::new();
        for operation in operations {
            let observed = match (operation.f, &operation.input) {
                (Function::Read, _) if operation.status == Status::Ok => &operation.output,
                (Function::Cas, Value::List(pair)) if pair.len() == 2 => &pair[0],
                _ => continue,
            };
            match observed {
                Value::Str(text) => strings.push(text.clone()),
                Value::List(items) => lists.push(items.clone()),
                Value::Nil | Value::Int(_) => {}
            }
        }
        strings.sort_unstable();
        strings.dedup();
        lists.sort_unstable();
        lists.dedup();
        let longest_string = strings.iter().map(String::len).max().unwrap_or(0);
        let longest_list = lists.iter().map(Vec::len).max().unwrap_or(0);
        Observed {
            strings,
            lists,
            dead_string: Value::Str("-".repeat(longest_string + 1)),
            dead_list: Value::List(vec![Value::Nil; longest_list + 1]),
        }
    }

    /// A string that is not the beginning of any string observed can never be observed: an append
    /// only lengthens it (so it stays so, and appending anything but a string is illegal on it,
    /// as on every string), a completed read or a cas would need it equal to a value observed,
    /// and a write or a delete replaces it whatever it is. All such strings are alike, and
    /// `dead_string` (longer than every string observed) stands for them; the same for lists.
    ///
    /// Whether a state begins a value observed is one binary search: in sorted order, the values
    /// that begin with it come right after it.
    fn representative(&self, observed: &Observed, state: Value) -> Value {
        fn begins<T: Ord + ?Sized, U: std::borrow::Borrow<T>>(
            sorted: &[U],
            part: &T,
            starts_with: impl Fn(&U) -> bool,
        ) -> bool {
            let at = sorted.partition_point(|seen| seen.borrow() < part);
            sorted.get(at).is_some_and(starts_with)
        }
        let dead = match &state {
            Value::Str(text) => {
                !begins::<str, String>(&observed.strings, text, |seen| seen.starts_with(text.as_str()))
            }
            Value::List(items) => {
                !begins::<[Value], Vec<Value>>(&observed.lists, items, |seen| seen.starts_with(items))
            }
            Value::Nil | Value::Int(_) => false,
        };
        match (dead, &state) {
            (true, Value::Str(_)) => observed.dead_string.clone(),
            (true, _) => observed.dead_list.clone(),
            (false, _) => state,
        }
    }
}
