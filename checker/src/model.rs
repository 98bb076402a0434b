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
    fn step(&self, state: &Self::State, operation: &Operation) -> Option<Self::State>;

    /// Whether `operation` can be left out of the search without changing the verdict (it neither
    /// changes the state nor observes anything: a read whose outcome is unknown).
    fn is_inert(&self, operation: &Operation) -> bool {
        operation.f == Function::Read && operation.status == Status::Info
    }

    /// The state in words, for explanations.
    fn show(&self, state: &Self::State) -> String;
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
}
