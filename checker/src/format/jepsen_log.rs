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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;

    #[test]
    fn an_operation_line_is_told_from_other_log_lines() {
        let operations = [
            "INFO  jepsen.util - 4\t:invoke\t:read\tnil",
            "2017-03-01 INFO jepsen.util - :nemesis :info :start nil",
            "3 :ok :write 5",
            "  :nemesis :info :stop nil",
        ];
        for line in operations {
            assert!(looks_like(line), "{line:?}");
        }
        let others = [
            "INFO  jepsen.core - Run complete",
            "3 ok :write 5",
            "3 :done :write 5",
            "3",
            "x :ok :write 5",
            "",
            "INFO  jepsen.util - 4",
        ];
        for line in others {
            assert!(!looks_like(line), "{line:?}");
        }
    }

    #[test]
    fn a_log_reads_as_its_clients_operations_with_their_lines() {
        let text = "2017-03-01 12:00:00,001 INFO  jepsen.core - Running\n\
                    INFO  jepsen.util - 4\t:invoke\t:cas\t[1 2]\n\
                    INFO  jepsen.util - :nemesis\t:info\t:start\tnil\n\
                    \n\
                    4 :fail :cas [1 2]\n\
                    INFO  jepsen.util - :worker :info :read\n";
        let events = parse(text).expect("parses");
        let seen: Vec<(String, EventType, String, Value, usize)> = events
            .into_iter()
            .map(|event| (event.process, event.kind, event.f, event.value, event.line))
            .collect();
        let pair = Value::List(vec![Value::Int(1), Value::Int(2)]);
        assert_eq!(
            seen,
            [
                ("4".to_string(), EventType::Invoke, "cas".to_string(), pair.clone(), 2),
                ("4".to_string(), EventType::Fail, "cas".to_string(), pair, 5),
                ("worker".to_string(), EventType::Info, "read".to_string(), Value::Nil, 6),
            ]
        );
    }

    #[test]
    fn a_malformed_operation_line_is_refused_with_its_line() {
        let cases = [
            ("INFO  jepsen.util - [1] :ok :read 1", "process Seq([Int(1)]): expected an integer"),
            (
                "INFO  jepsen.util - 1 :done :read 1",
                "type Keyword(\"done\"): expected :invoke, :ok, :fail or :info",
            ),
            ("INFO  jepsen.util - 1 :ok 5 1", "function Int(5): expected a keyword such as :read"),
            ("INFO  jepsen.util - 1 :ok", "expected a function in \"INFO  jepsen.util - 1 :ok\""),
        ];
        for (line, message) in cases {
            let text = format!("INFO  jepsen.core - start\n{line}\n");
            assert_eq!(parse(&text), Err(HistoryError { line: 2, message: message.to_string() }), "{line}");
        }
    }
}
