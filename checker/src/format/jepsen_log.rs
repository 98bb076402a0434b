//! Jepsen's older console logs: `INFO  jepsen.util - <process> <type> <f> <value>`, fields
//! separated by tabs or spaces; the value is EDN (`nil`, `3`, `[1 2]`, `:timed-out`). Lines that are
//! not `jepsen.util` operation lines (other loggers, blank lines) are skipped.

use super::edn::{Edn, Reader};
use crate::history::{Event, EventType, HistoryError};

/// Whether `line` looks like an operation line of this format.
pub fn looks_like(line: &str) -> bool {
    operation_part(line).is_some_and(|rest| {
        let mut fields = rest.split_whitespace();
        fields.next().is_some()
            && fields.next().is_some_and(|kind| EventType::parse(kind).is_some() && kind.starts_with(':'))
    })
}

fn operation_part(line: &str) -> Option<&str> {
    match line.find("jepsen.util - ") {
        Some(index) => Some(&line[index + "jepsen.util - ".len()..]),
        None => {
            let trimmed = line.trim_start();
            trimmed.starts_with(|c: char| c.is_ascii_digit() || c == ':').then_some(trimmed)
        }
    }
}

/// Parses a console log.
///
/// # Errors
///
/// An operation line that does not have a process, a type, a function and a value.
pub fn parse(text: &str) -> Result<Vec<Event>, HistoryError> {
    let mut events = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let Some(rest) = operation_part(line) else { continue };
        if !line.contains("jepsen.util - ") && !looks_like(line) {
            continue;
        }
        let error = |message: String| HistoryError { line: number, message };
        let mut reader = Reader::new(rest, number);
        let next = |reader: &mut Reader, what: &str| -> Result<Edn, HistoryError> {
            reader.read().map_err(|_| error(format!("expected {what} in {:?}", line.trim())))
        };
        let process = next(&mut reader, "a process")?;
        let process = match process {
            Edn::Int(number) => number.to_string(),
            Edn::Keyword(name) if name == "nemesis" => continue,
            other => other
                .name()
                .ok_or_else(|| error(format!("process {other:?}: expected an integer")))?
                .to_string(),
        };
        let kind = next(&mut reader, "a type")?;
        let kind = kind
            .name()
            .and_then(EventType::parse)
            .ok_or_else(|| error(format!("type {kind:?}: expected :invoke, :ok, :fail or :info")))?;
        let f = next(&mut reader, "a function")?;
        let f = f
            .name()
            .ok_or_else(|| error(format!("function {f:?}: expected a keyword such as :read")))?
            .to_string();
        let value =
            if reader.skip() { next(&mut reader, "a value")?.to_value() } else { crate::value::Value::Nil };
        events.push(Event { process, kind, f, key: None, value, time: None, line: number });
    }
    Ok(events)
}
