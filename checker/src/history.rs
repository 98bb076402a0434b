//! Events as recorded, and the operations they pair into.

use crate::value::Value;
use std::collections::BTreeMap;
use std::fmt;

/// What an event says about its operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventType {
    /// The operation began.
    Invoke,
    /// It completed and took effect.
    Ok,
    /// It completed without taking effect.
    Fail,
    /// Its outcome is unknown (a timeout, a lost connection): it may take effect at any point after
    /// its invocation, or never. Never a failure.
    Info,
}

impl EventType {
    /// Parses `invoke`, `ok`, `fail`, `info` (with or without a leading colon).
    pub fn parse(text: &str) -> Option<EventType> {
        match text.trim_start_matches(':') {
            "invoke" => Some(EventType::Invoke),
            "ok" => Some(EventType::Ok),
            "fail" => Some(EventType::Fail),
            "info" => Some(EventType::Info),
            _ => None,
        }
    }
}

/// One line of a history.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// The process (client) that issued the operation; a process has one operation at a time.
    pub process: String,
    /// Invoke or completion.
    pub kind: EventType,
    /// The function: `read`, `write`, `cas`, ...
    pub f: String,
    /// The key, for histories over many objects.
    pub key: Option<String>,
    /// The argument (on invoke) or the result (on completion).
    pub value: Value,
    /// A timestamp in nanoseconds, if recorded (informative: order is the order of events).
    pub time: Option<u64>,
    /// The line of the input the event came from (1-based).
    pub line: usize,
}

/// The operations the models understand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Function {
    /// Read (`read`, `get`): the output is the value observed.
    Read,
    /// Write (`write`, `put`, `set`): the input is the value written.
    Write,
    /// Compare-and-set (`cas`): the input is `[expected new]`.
    Cas,
    /// Delete (`delete`, `del`): the key holds nothing afterwards.
    Delete,
    /// Append (`append`): the input is appended to the string value.
    Append,
}

impl Function {
    /// Every accepted spelling, for error messages.
    pub const NAMES: &'static str = "read, get, write, put, set, cas, delete, del, append";

    /// Parses a function name (with or without a leading colon).
    pub fn parse(text: &str) -> Option<Function> {
        match text.trim_start_matches(':') {
            "read" | "get" | "r" => Some(Function::Read),
            "write" | "put" | "set" | "w" => Some(Function::Write),
            "cas" | "compare-and-set" => Some(Function::Cas),
            "delete" | "del" => Some(Function::Delete),
            "append" => Some(Function::Append),
            _ => None,
        }
    }
}

impl fmt::Display for Function {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Function::Read => "read",
            Function::Write => "write",
            Function::Cas => "cas",
            Function::Delete => "delete",
            Function::Append => "append",
        })
    }
}

/// How an operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// Completed: it took effect between its invocation and its completion.
    Ok,
    /// Unknown: it may have taken effect at any point after its invocation, or never.
    Info,
}

/// An invocation paired with its completion.
#[derive(Clone, Debug, PartialEq)]
pub struct Operation {
    /// Index in the history's list of operations (in order of invocation).
    pub id: usize,
    /// The process that issued it.
    pub process: String,
    /// What it does.
    pub f: Function,
    /// The key it concerns, if any.
    pub key: Option<String>,
    /// Its argument: the value written, `[expected new]` of a cas, the suffix appended.
    pub input: Value,
    /// Its result: the value a read returned (`Nil` for other operations).
    pub output: Value,
    /// Position of the invocation in the event order.
    pub call: usize,
    /// Position of the completion in the event order; `None` if the outcome is unknown.
    pub ret: Option<usize>,
    /// Ok or unknown.
    pub status: Status,
    /// Line of the invocation.
    pub call_line: usize,
    /// Line of the completion (if any).
    pub ret_line: Option<usize>,
    /// Time of the invocation, if recorded.
    pub call_time: Option<u64>,
    /// Time of the completion, if recorded.
    pub ret_time: Option<u64>,
}

impl Operation {
    /// A short description: `write 3`, `read -> 4`, `cas 1->2`.
    pub fn describe(&self) -> String {
        let key = self.key.as_ref().map(|key| format!(" {key}")).unwrap_or_default();
        let unknown = if self.status == Status::Info { " (outcome unknown)" } else { "" };
        let body = match self.f {
            Function::Read => {
                if self.status == Status::Info {
                    format!("read{key}")
                } else {
                    format!("read{key} -> {}", self.output)
                }
            }
            Function::Write => format!("write{key} {}", self.input),
            Function::Cas => match &self.input {
                Value::List(pair) if pair.len() == 2 => format!("cas{key} {}->{}", pair[0], pair[1]),
                other => format!("cas{key} {other}"),
            },
            Function::Delete => format!("delete{key}"),
            Function::Append => format!("append{key} {}", self.input),
        };
        format!("{body}{unknown}")
    }
}

/// A history: the operations of every process, in order of invocation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    /// Ok and unknown operations (failed ones took no effect and are left out).
    pub operations: Vec<Operation>,
    /// Events read.
    pub events: usize,
    /// Operations that failed (excluded).
    pub failed: usize,
}

/// A history that does not make sense, with the line that shows it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct HistoryError {
    /// 1-based line.
    pub line: usize,
    /// What was wrong and what was expected.
    pub message: String,
}

impl History {
    /// Pairs events into operations: each process's invocation with its next completion. An
    /// invocation never completed is an operation of unknown outcome.
    ///
    /// # Errors
    ///
    /// A completion without an invocation, a second invocation while one is pending, a completion
    /// of another function, an unknown function, a cas whose argument is not a pair.
    pub fn from_events(events: &[Event]) -> Result<History, HistoryError> {
        let mut history = History { events: events.len(), ..History::default() };
        let mut pending: BTreeMap<&str, (usize, &Event)> = BTreeMap::new();
        let mut slots: Vec<Option<Operation>> = Vec::new();
        for (position, event) in events.iter().enumerate() {
            let error = |message: String| HistoryError { line: event.line, message };
            let f = Function::parse(&event.f).ok_or_else(|| {
                error(format!("unknown function {:?}: expected one of {}", event.f, Function::NAMES))
            })?;
            match event.kind {
                EventType::Invoke => {
                    if let Some((_, earlier)) = pending.get(event.process.as_str()) {
                        return Err(error(format!(
                            "process {} invokes while its operation of line {} is pending: expected a completion first",
                            event.process, earlier.line
                        )));
                    }
                    if f == Function::Cas && !matches!(&event.value, Value::List(pair) if pair.len() == 2) {
                        return Err(error(format!("cas argument {}: expected [expected new]", event.value)));
                    }
                    pending.insert(&event.process, (slots.len(), event));
                    slots.push(Some(Operation {
                        id: 0,
                        process: event.process.clone(),
                        f,
                        key: event.key.clone(),
                        input: event.value.clone(),
                        output: Value::Nil,
                        call: position,
                        ret: None,
                        status: Status::Info,
                        call_line: event.line,
                        ret_line: None,
                        call_time: event.time,
                        ret_time: None,
                    }));
                }
                kind => {
                    let Some((slot, invoke)) = pending.remove(event.process.as_str()) else {
                        return Err(error(format!(
                            "process {} completes an operation it never invoked",
                            event.process
                        )));
                    };
                    let invoked = Function::parse(&invoke.f).unwrap_or(f);
                    if invoked != f {
                        return Err(error(format!(
                            "process {} completes {f} but invoked {invoked} on line {}",
                            event.process, invoke.line
                        )));
                    }
                    if event.key.is_some() && invoke.key.is_some() && event.key != invoke.key {
                        return Err(error(format!(
                            "process {} completes on key {:?} but invoked on key {:?} (line {})",
                            event.process, event.key, invoke.key, invoke.line
                        )));
                    }
                    let operation = slots[slot].as_mut().expect("pending operations are present");
                    match kind {
                        EventType::Fail => {
                            slots[slot] = None;
                            history.failed += 1;
                        }
                        EventType::Ok => {
                            operation.status = Status::Ok;
                            operation.ret = Some(position);
                            operation.ret_line = Some(event.line);
                            operation.ret_time = event.time;
                            if f == Function::Read {
                                operation.output = event.value.clone();
                            }
                        }
                        // Unknown: it stays an invocation without completion.
                        EventType::Info | EventType::Invoke => {}
                    }
                }
            }
        }
        history.operations = slots.into_iter().flatten().collect();
        for (id, operation) in history.operations.iter_mut().enumerate() {
            operation.id = id;
        }
        Ok(history)
    }
}
