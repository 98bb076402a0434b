//! The values a history carries: what Jepsen's histories hold (nil, integers, strings, keywords,
//! vectors), in one small type.

use std::fmt;

/// A value read, written or compared.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Value {
    /// Nothing: Jepsen's `nil`, JSON's `null`; a register or key that holds nothing.
    #[default]
    Nil,
    /// An integer.
    Int(i64),
    /// A string (also EDN keywords and symbols, without their colon).
    Str(String),
    /// A vector: a cas's `[expected new]`, a list of elements.
    List(Vec<Value>),
}

impl Value {
    /// Whether this is `Nil`.
    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Nil)
    }

    /// Bytes it holds on the heap.
    pub fn heap_bytes(&self) -> usize {
        match self {
            Value::Nil | Value::Int(_) => 0,
            Value::Str(text) => text.capacity(),
            Value::List(items) => {
                items.capacity() * std::mem::size_of::<Value>()
                    + items.iter().map(Value::heap_bytes).sum::<usize>()
            }
        }
    }

    /// Converts from JSON: null, integers, strings, arrays (anything else is refused).
    ///
    /// # Errors
    ///
    /// What was found instead.
    pub fn from_json(json: &serde_json::Value) -> Result<Value, String> {
        Ok(match json {
            serde_json::Value::Null => Value::Nil,
            serde_json::Value::Number(number) => {
                Value::Int(number.as_i64().ok_or_else(|| format!("expected an integer, found {number}"))?)
            }
            serde_json::Value::String(text) => Value::Str(text.clone()),
            serde_json::Value::Bool(flag) => Value::Str(flag.to_string()),
            serde_json::Value::Array(items) => {
                Value::List(items.iter().map(Value::from_json).collect::<Result<_, _>>()?)
            }
            serde_json::Value::Object(_) => {
                return Err("expected null, an integer, a string or an array, found an object".into())
            }
        })
    }

    /// Converts to JSON.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Nil => serde_json::Value::Null,
            Value::Int(number) => serde_json::Value::from(*number),
            Value::Str(text) => serde_json::Value::from(text.clone()),
            Value::List(items) => serde_json::Value::Array(items.iter().map(Value::to_json).collect()),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Nil => write!(f, "nil"),
            Value::Int(number) => write!(f, "{number}"),
            Value::Str(text) => write!(f, "{text:?}"),
            Value::List(items) => {
                write!(f, "[")?;
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        write!(f, " ")?;
                    }
                    write!(f, "{item}")?;
                }
                write!(f, "]")
            }
        }
    }
}
