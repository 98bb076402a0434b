//! Sequential specifications: what one object does. The search asks a model whether an operation,
//! applied to a state, is consistent with what the operation observed.

use crate::history::{Function, Operation, Status};
use crate::value::Value;
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

    /// Which of `operations` (one partition) the search may leave out: operations of unknown
    /// outcome that no linearization needs, because nothing can observe what they do. The default
    /// leaves out none; a model overrides it only with a proof that leaving them out keeps every
    /// verdict.
    fn needless(&self, operations: &[&Operation]) -> Vec<bool> {
        vec![false; operations.len()]
    }
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

/// A register, a cas register, or one key of a key-value map: the state is the value held
/// (`Nil`: nothing).
#[derive(Clone, Copy, Debug)]
pub struct Register {
    /// Which functions it accepts.
    pub kind: Kind,
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
        Value::Nil
    }

    fn step(&self, state: &Value, operation: &Operation) -> Option<Value> {
        match operation.f {
            Function::Read => {
                (operation.status == Status::Info || operation.output == *state).then(|| state.clone())
            }
            Function::Write => Some(operation.input.clone()),
            Function::Delete => Some(Value::Nil),
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

    /// An unknown write of x (a delete: of nil; a cas [a b]: of b) is needless when no completed
    /// read returned x and no cas expects x. In a linearization that holds it, the next operation
    /// cannot be a read (it would return x) nor a cas (it would expect x), so it is a write or a
    /// delete, which accepts any state and leaves its own, or there is none: the linearization
    /// without it is as good. Leaving one out can make others needless (a cas expected their
    /// value), so this runs to a fixpoint. With appends, whose effect depends on the state, none is
    /// left out.
    fn needless(&self, operations: &[&Operation]) -> Vec<bool> {
        let mut needless = vec![false; operations.len()];
        if operations.iter().any(|operation| operation.f == Function::Append) {
            return needless;
        }
        let written = |operation: &Operation| -> Option<Value> {
            match (operation.f, &operation.input) {
                (Function::Write, value) => Some(value.clone()),
                (Function::Delete, _) => Some(Value::Nil),
                (Function::Cas, Value::List(pair)) if pair.len() == 2 => Some(pair[1].clone()),
                _ => None,
            }
        };
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
                    && written(operation).is_some_and(|value| !observed.contains(&value))
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
}
