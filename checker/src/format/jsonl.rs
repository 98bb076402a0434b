//! Our history format: JSON Lines, one event per line.
//!
//! ```text
//! {"process": 0, "type": "invoke", "f": "write", "key": "x", "value": 3, "time": 1000}
//! {"process": 0, "type": "ok",     "f": "write", "key": "x", "value": 3, "time": 1800}
//! {"process": 1, "type": "invoke", "f": "read",  "key": "x", "value": null}
//! {"process": 1, "type": "info",   "f": "read",  "key": "x", "value": null}
//! ```
//!
//! - `process` (integer or string): the client; one operation at a time per process.
//! - `type`: `invoke`, `ok` (took effect), `fail` (took no effect), `info` (unknown: may or may not
//!   have taken effect; a timeout is always `info`).
//! - `f`: `read`/`get`, `write`/`put`, `cas` (value `[expected, new]`), `delete`, `append`.
//! - `key` (optional string or integer): histories over many keys are checked per key.
//! - `value`: the argument on `invoke`; on `ok`, the value a read returned (`null` = absent).
//! - `time` (optional, nanoseconds): informative; the order of lines is the real-time order.

use crate::history::{Event, EventType, HistoryError};
use crate::value::Value;

/// Parses JSON Lines (blank lines are skipped).
///
/// # Errors
///
/// A line that is not a JSON object with the fields above.
pub fn parse(text: &str) -> Result<Vec<Event>, HistoryError> {
    let mut events = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        let error = |message: String| HistoryError { line: number, message };
        let json: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| error(format!("not JSON ({e}): expected one event object per line")))?;
        let object = json.as_object().ok_or_else(|| error("expected a JSON object".into()))?;
        let process = match object.get("process") {
            Some(serde_json::Value::Number(number)) => number.to_string(),
            Some(serde_json::Value::String(name)) if name == "nemesis" => continue,
            Some(serde_json::Value::String(name)) => name.clone(),
            Some(other) => return Err(error(format!("process {other}: expected an integer or a string"))),
            None => {
                return Err(error(
                    "missing \"process\": expected the client that issued the operation".into(),
                ))
            }
        };
        let kind = object.get("type").and_then(serde_json::Value::as_str).ok_or_else(|| {
            error("missing \"type\": expected \"invoke\", \"ok\", \"fail\" or \"info\"".into())
        })?;
        let kind = EventType::parse(kind).ok_or_else(|| {
            error(format!("type {kind:?}: expected \"invoke\", \"ok\", \"fail\" or \"info\""))
        })?;
        let f = object
            .get("f")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| error("missing \"f\": expected the operation's function as a string".into()))?
            .to_string();
        let key = match object.get("key") {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(key)) => Some(key.clone()),
            Some(serde_json::Value::Number(key)) => Some(key.to_string()),
            Some(other) => return Err(error(format!("key {other}: expected a string or an integer"))),
        };
        let value = match object.get("value") {
            None => Value::Nil,
            Some(value) => Value::from_json(value).map_err(|message| error(format!("value: {message}")))?,
        };
        let time = match object.get("time") {
            None | Some(serde_json::Value::Null) => None,
            Some(time) => Some(
                time.as_u64()
                    .ok_or_else(|| error(format!("time {time}: expected a non-negative integer (ns)")))?,
            ),
        };
        events.push(Event { process, kind, f, key, value, time, line: number });
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The nemesis's events are not client operations: left out, and only they.
    #[test]
    fn the_nemesis_is_left_out_and_other_named_processes_kept() {
        let text = "{\"process\": \"nemesis\", \"type\": \"info\", \"f\": \"start\"}\n\
                    {\"process\": \"worker\", \"type\": \"invoke\", \"f\": \"read\"}\n";
        let events = parse(text).expect("parses");
        assert_eq!(events.len(), 1);
        assert_eq!((events[0].process.as_str(), events[0].line), ("worker", 2));
    }
}
