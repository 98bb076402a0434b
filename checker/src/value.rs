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

#[cfg(test)]
mod tests {
    use super::*;

    fn text(text: &str) -> Value {
        Value::Str(text.to_string())
    }

    /// What the memory bound counts: a string's buffer, a list's slots and what its items hold.
    #[test]
    fn a_value_counts_the_bytes_it_holds_on_the_heap() {
        let slot = std::mem::size_of::<Value>();
        assert_eq!(Value::Nil.heap_bytes(), 0);
        assert_eq!(Value::Int(7).heap_bytes(), 0);
        assert_eq!(Value::Str(String::with_capacity(10)).heap_bytes(), 10);
        let mut items = Vec::with_capacity(3);
        items.extend([text("abcd"), Value::Int(1)]);
        let list = Value::List(items);
        assert_eq!(list.heap_bytes(), 3 * slot + 4);
        let nested = Value::List(vec![list, Value::List(vec![])]);
        assert_eq!(nested.heap_bytes(), 2 * slot + 3 * slot + 4);
    }

    #[test]
    fn json_converts_both_ways_and_what_has_no_value_is_refused_naming_it() {
        let json: serde_json::Value = serde_json::json!([null, 3, -4, "s", true, [1, [2]]]);
        let value = Value::from_json(&json).expect("converts");
        let expected = Value::List(vec![
            Value::Nil,
            Value::Int(3),
            Value::Int(-4),
            text("s"),
            text("true"),
            Value::List(vec![Value::Int(1), Value::List(vec![Value::Int(2)])]),
        ]);
        assert_eq!(value, expected);
        assert_eq!(value.to_json(), serde_json::json!([null, 3, -4, "s", "true", [1, [2]]]));
        assert_eq!(
            Value::from_json(&serde_json::json!(1.5)),
            Err("expected an integer, found 1.5".to_string())
        );
        assert_eq!(
            Value::from_json(&serde_json::json!([1, {"a": 1}])),
            Err("expected null, an integer, a string or an array, found an object".to_string())
        );
        assert!(Value::Nil.is_nil() && !Value::Int(0).is_nil() && !text("").is_nil());
    }

    #[test]
    fn a_value_is_shown_as_an_explanation_names_it() {
        let value = Value::List(vec![Value::Nil, Value::Int(2), text("a \"b\""), Value::List(vec![])]);
        assert_eq!(value.to_string(), r#"[nil 2 "a \"b\"" []]"#);
        assert_eq!(Value::List(vec![Value::Int(1)]).to_string(), "[1]");
    }
}
