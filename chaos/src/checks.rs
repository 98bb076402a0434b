//! What every run is judged by: the history is linearizable (the `checker` crate, per key, unknown
//! outcomes allowed to have happened or not), no acknowledged write is lost (against the final
//! reads of every key through every node), the replicas converged, every node served after
//! healing, and enough operations completed for all of this to mean something.

use crate::error::ChaosError;
use crate::workload::FinalValues;
use checker::history::History;
use checker::model::{Kind, Register};
use checker::Verdict;
use scenarios::Expect;
use std::collections::BTreeMap;
use std::time::Duration;

/// Seconds the checker may spend deciding a key (past them: inconclusive, never a guess).
const CHECK_SECONDS: u64 = 10;

/// Seconds it may spend minimising a violation into a short explanation (past them the
/// explanation is kept, marked not minimal).
const EXPLAIN_SECONDS: u64 = 2;

/// Fewer completed operations than this and a run checks nothing.
const OPERATIONS_MIN: usize = 20;

/// One operation of the history: an invocation and its completion.
#[derive(Clone, Debug)]
pub struct Operation {
    /// The client process.
    pub process: u64,
    /// `read`, `write` or `cas`.
    pub f: String,
    /// The key.
    pub key: String,
    /// The invocation's value (written value, `[expected, new]`).
    pub input: serde_json::Value,
    /// The completion's value (what a read returned).
    pub output: serde_json::Value,
    /// `ok`, `fail` or `info` (unknown outcome, also when never completed).
    pub kind: String,
    /// Nanoseconds of simulated (or monotonic) time of the invocation.
    pub start: u64,
    /// Of the completion, if it completed.
    pub end: Option<u64>,
    /// The invocation's line in the history (1-based).
    pub line: usize,
}

impl Operation {
    /// The value it writes, if it writes one.
    pub fn writes(&self) -> Option<&str> {
        match self.f.as_str() {
            "write" => self.input.as_str(),
            "cas" => self.input.get(1).and_then(serde_json::Value::as_str),
            _ => None,
        }
    }
}

/// Pairs the history's events per process.
///
/// # Errors
///
/// A line that is not a history event.
pub fn operations(history: &str) -> Result<Vec<Operation>, ChaosError> {
    let mut pending: BTreeMap<u64, usize> = BTreeMap::new();
    let mut operations: Vec<Operation> = Vec::new();
    for (number, line) in history.lines().enumerate() {
        let event: serde_json::Value = serde_json::from_str(line)
            .map_err(|error| ChaosError::History { line: number + 1, reason: error.to_string() })?;
        let field = |name: &str| event.get(name).cloned().unwrap_or(serde_json::Value::Null);
        let (Some(process), Some(kind), Some(time)) =
            (field("process").as_u64(), field("type").as_str().map(str::to_string), field("time").as_u64())
        else {
            return Err(ChaosError::History {
                line: number + 1,
                reason: "expected process, type and time".to_string(),
            });
        };
        if kind == "invoke" {
            pending.insert(process, operations.len());
            operations.push(Operation {
                process,
                f: field("f").as_str().unwrap_or_default().to_string(),
                key: field("key").as_str().unwrap_or_default().to_string(),
                input: field("value"),
                output: serde_json::Value::Null,
                kind: "info".to_string(),
                start: time,
                end: None,
                line: number + 1,
            });
        } else if let Some(index) = pending.remove(&process) {
            let operation = &mut operations[index];
            operation.kind = kind;
            operation.output = field("value");
            operation.end = (operation.kind != "info").then_some(time);
        }
    }
    Ok(operations)
}

/// Latency percentiles of the completed operations of one function, in milliseconds.
#[derive(Clone, Debug, PartialEq)]
pub struct Latency {
    /// `read`, `write`, `cas`, or `all`.
    pub f: String,
    /// Completed `ok` operations.
    pub count: usize,
    /// Percentiles 50, 90, 99, 99.9 and the maximum.
    pub milliseconds: [f64; 5],
}

/// Per function, then for all: percentiles of the `ok` operations' latency.
pub fn latencies(operations: &[Operation]) -> Vec<Latency> {
    let mut by_f: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for operation in operations {
        if let (Some(end), "ok") = (operation.end, operation.kind.as_str()) {
            let latency = end.saturating_sub(operation.start);
            by_f.entry(operation.f.clone()).or_default().push(latency);
            by_f.entry("all".to_string()).or_default().push(latency);
        }
    }
    let mut rows: Vec<Latency> = by_f
        .into_iter()
        .map(|(f, mut latencies)| {
            latencies.sort_unstable();
            let at = |q: f64| {
                let index = ((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1;
                latencies[index] as f64 / 1e6
            };
            Latency {
                count: latencies.len(),
                milliseconds: [at(0.5), at(0.9), at(0.99), at(0.999), at(1.0)],
                f,
            }
        })
        .collect();
    rows.sort_by_key(|row| row.f == "all");
    rows
}

/// The checker's result.
#[derive(Debug)]
pub struct Linearizability {
    /// The verdict (`None`: the history could not be checked, see `detail`).
    pub verdict: Option<Verdict>,
    /// One line: what was wrong, or what was checked.
    pub detail: String,
    /// The checker's history and report, for its table, JSON and timeline.
    pub checked: Option<(History, checker::Report)>,
}

/// Lost acknowledged writes.
#[derive(Debug, Default)]
pub struct LostWrites {
    /// Writes (and successful compare-and-sets) acknowledged `ok`.
    pub acknowledged: usize,
    /// Each lost one, in words.
    pub lost: Vec<String>,
    /// Why nothing could be checked (no final reads), if so.
    pub unchecked: Option<String>,
}

/// Everything judged of one run.
#[derive(Debug)]
pub struct Checks {
    /// The run itself broke (a node failed, no leader was ever elected, ...).
    pub run_error: Option<String>,
    /// The paired operations.
    pub operations: Vec<Operation>,
    /// Operations `ok`, `fail`, unknown.
    pub counts: (usize, usize, usize),
    /// Latency percentiles.
    pub latencies: Vec<Latency>,
    /// The checker's verdict.
    pub linearizability: Linearizability,
    /// The lost writes.
    pub lost: LostWrites,
    /// How long after the clients stopped every replica had applied the same log (`None`: the
    /// system does not report its log), or why not.
    pub converged: Result<Option<Duration>, String>,
    /// Whether every node answered a read of every key after healing, and they agree.
    pub served: Result<(), String>,
}

impl Checks {
    /// Whether the run found a violation of the store's promises.
    pub fn violation(&self) -> bool {
        self.linearizability.verdict == Some(Verdict::NotLinearizable) || !self.lost.lost.is_empty()
    }

    /// Whether the run showed what `expect` asks.
    pub fn passed(&self, expect: Expect) -> bool {
        match expect {
            Expect::Violation => self.violation(),
            Expect::Linearizable => {
                !self.violation()
                    && self.run_error.is_none()
                    && self.linearizability.verdict == Some(Verdict::Linearizable)
                    && self.lost.unchecked.is_none()
                    && self.converged.is_ok()
                    && self.served.is_ok()
                    && self.counts.0 >= OPERATIONS_MIN
            }
        }
    }

    /// The verdict in one line.
    pub fn verdict(&self, expect: Expect) -> String {
        let pass = if self.passed(expect) { "PASS" } else { "FAIL" };
        let found = || {
            let mut found = Vec::new();
            if self.linearizability.verdict == Some(Verdict::NotLinearizable) {
                found.push(format!("not linearizable: {}", self.linearizability.detail));
            }
            if !self.lost.lost.is_empty() {
                found.push(format!("{} acknowledged writes lost", self.lost.lost.len()));
            }
            found.join("; ")
        };
        match expect {
            Expect::Violation if self.violation() => {
                format!("{pass}: negative control, violation found as expected: {}", found())
            }
            Expect::Violation => format!("{pass}: negative control, but no violation was found"),
            Expect::Linearizable if self.violation() => format!("{pass}: {}", found()),
            Expect::Linearizable => {
                let mut problems = Vec::new();
                if let Some(error) = &self.run_error {
                    problems.push(error.clone());
                }
                if self.linearizability.verdict != Some(Verdict::Linearizable) {
                    problems.push(self.linearizability.detail.clone());
                }
                if let Some(why) = &self.lost.unchecked {
                    problems.push(format!("lost writes unchecked: {why}"));
                }
                if let Err(error) = &self.converged {
                    problems.push(error.clone());
                }
                if let Err(error) = &self.served {
                    problems.push(error.clone());
                }
                if self.counts.0 < OPERATIONS_MIN {
                    problems
                        .push(format!("only {} operations completed: the run checks nothing", self.counts.0));
                }
                if problems.is_empty() {
                    let converged = match self.converged {
                        Ok(Some(_)) => "converged",
                        _ => "convergence not observable",
                    };
                    format!(
                        "{pass}: linearizable, no acknowledged write lost, {converged}, every node serving"
                    )
                } else {
                    format!("{pass}: {}", problems.join("; "))
                }
            }
        }
    }
}

/// Judges a run from its history, what broke it (if anything), and its liveness phase.
pub fn run(
    history: &str,
    run_error: Option<String>,
    converged: Option<Result<Option<Duration>, String>>,
    final_values: Option<Result<FinalValues, String>>,
) -> Checks {
    let operations = match operations(history) {
        Ok(operations) => operations,
        Err(error) => {
            let error = error.to_string();
            return Checks {
                run_error: Some(format!("the recorded history does not parse: {error}")),
                operations: Vec::new(),
                counts: (0, 0, 0),
                latencies: Vec::new(),
                linearizability: Linearizability { verdict: None, detail: error, checked: None },
                lost: LostWrites::default(),
                converged: Err("not checked".to_string()),
                served: Err("not checked".to_string()),
            };
        }
    };
    let count = |kind: &str| operations.iter().filter(|operation| operation.kind == kind).count();
    let counts = (count("ok"), count("fail"), count("info"));
    const NOT_REACHED: &str = "not reached: the run stopped before";
    let (served, lost) = match final_values {
        Some(Ok(values)) => (agree(&values), lost_writes(&operations, &values)),
        Some(Err(error)) => (
            Err(error.clone()),
            LostWrites { unchecked: Some(format!("no final values: {error}")), ..LostWrites::default() },
        ),
        None => (
            Err(NOT_REACHED.to_string()),
            LostWrites {
                unchecked: Some("no final values: the run stopped before".to_string()),
                ..LostWrites::default()
            },
        ),
    };
    Checks {
        run_error,
        latencies: latencies(&operations),
        counts,
        linearizability: linearizability(history),
        lost,
        converged: converged.unwrap_or_else(|| Err(NOT_REACHED.to_string())),
        served,
        operations,
    }
}

fn agree(values: &[(u8, String, Option<String>)]) -> Result<(), String> {
    let mut first: BTreeMap<&str, (u8, &Option<String>)> = BTreeMap::new();
    for (node, key, value) in values {
        let (seen_at, seen) = *first.entry(key).or_insert((*node, value));
        if seen != value {
            return Err(format!(
                "final reads disagree on {key}: n{seen_at} read {seen:?}, n{node} read {value:?}"
            ));
        }
    }
    Ok(())
}

/// An acknowledged write (or delete) is lost when the key's final value was written by an
/// operation that completed before the acknowledged one was even invoked: the acknowledged one
/// must be ordered after it, so the final value should be its own or a later one. A key read as
/// absent at the end has lost an acknowledged write unless a delete of it could be ordered after
/// that write (one not acknowledged before the write was invoked).
fn lost_writes(operations: &[Operation], values: &[(u8, String, Option<String>)]) -> LostWrites {
    let mut result = LostWrites::default();
    let writers: BTreeMap<&str, &Operation> = operations
        .iter()
        .filter(|operation| operation.kind != "fail")
        .filter_map(|operation| operation.writes().map(|value| (value, operation)))
        .collect();
    let mut deletes: BTreeMap<&str, Vec<&Operation>> = BTreeMap::new();
    for operation in operations.iter().filter(|operation| operation.f == "delete" && operation.kind != "fail")
    {
        deletes.entry(operation.key.as_str()).or_default().push(operation);
    }
    let mut finals: BTreeMap<&str, &Option<String>> = BTreeMap::new();
    for (_, key, value) in values {
        finals.entry(key).or_insert(value);
    }
    let seconds = |nanos: u64| nanos as f64 / 1e9;
    for operation in operations {
        let written = operation.writes();
        let deleted = operation.f == "delete";
        if operation.kind != "ok" || (written.is_none() && !deleted) {
            continue;
        }
        result.acknowledged += 1;
        let Some(&last) = finals.get(operation.key.as_str()) else { continue };
        let lost = match last {
            None if deleted => None,
            None => {
                let deletes = deletes.get(operation.key.as_str()).map_or(&[][..], Vec::as_slice);
                let acknowledged_before: Option<Vec<u64>> =
                    deletes.iter().map(|delete| delete.end.filter(|&end| end < operation.start)).collect();
                match acknowledged_before.map(|ends| ends.into_iter().max()) {
                    None => None,
                    Some(None) => Some("the key is absent at the end, and nothing deleted it".to_string()),
                    Some(Some(end)) => Some(format!(
                        "the key is absent at the end, and its last delete was acknowledged at {:.3} s",
                        seconds(end)
                    )),
                }
            }
            Some(value) => match writers.get(value.as_str()) {
                None => Some(format!("the final value {value:?} was never written")),
                Some(writer) => writer.end.filter(|&end| end < operation.start).map(|end| {
                    format!(
                        "the final value {value:?} was written by an operation acknowledged at {:.3} s",
                        seconds(end)
                    )
                }),
            },
        };
        if let Some(why) = lost {
            let what = match written {
                Some(written) => format!("{} {}={written:?}", operation.f, operation.key),
                None => format!("delete {}", operation.key),
            };
            result.lost.push(format!(
                "{what} acknowledged at {:.3} s (process {}) is lost: {why}",
                seconds(operation.end.unwrap_or(operation.start)),
                operation.process
            ));
        }
    }
    result
}

fn linearizability(history: &str) -> Linearizability {
    let fail = |detail: String| Linearizability { verdict: None, detail, checked: None };
    let events = match checker::format::jsonl::parse(history) {
        Ok(events) => events,
        Err(error) => return fail(format!("the recorded history does not parse: {error}")),
    };
    let history = match History::from_events(&events) {
        Ok(history) => history,
        Err(error) => return fail(format!("the recorded history does not pair: {error}")),
    };
    let report = checker::check(
        &Register::new(Kind::Kv),
        &history,
        checker::Options {
            explain: true,
            timeout: Some(Duration::from_secs(CHECK_SECONDS)),
            explain_timeout: Some(Duration::from_secs(EXPLAIN_SECONDS)),
            ..checker::Options::default()
        },
    );
    let detail = match report.verdict {
        Verdict::Linearizable => format!(
            "{} operations on {} keys checked in {:.0} ms",
            report.operations,
            report.keys.len(),
            report.elapsed.as_secs_f64() * 1000.0
        ),
        _ => {
            let reasons: Vec<String> = report
                .keys
                .iter()
                .filter(|key| key.verdict != Verdict::Linearizable)
                .map(|key| {
                    let why = match (&key.explanation, &key.reason) {
                        (Some(explanation), _) => explanation.words.clone(),
                        (None, Some(reason)) => reason.clone(),
                        (None, None) => "no order of its operations is legal".to_string(),
                    };
                    format!("key {}: {why}", key.key.as_deref().unwrap_or("-"))
                })
                .collect();
            let reasons = reasons.join("; ");
            if report.verdict == Verdict::Inconclusive {
                format!("inconclusive: {reasons}")
            } else {
                reasons
            }
        }
    };
    Linearizability { verdict: Some(report.verdict), detail, checked: Some((history, report)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(process: u64, kind: &str, f: &str, value: serde_json::Value, time: u64) -> String {
        serde_json::json!({"process": process, "type": kind, "f": f, "key": "k0", "value": value, "time": time})
            .to_string()
    }

    #[test]
    fn a_write_acknowledged_after_the_final_value_was_written_is_lost() {
        let history = [
            event(0, "invoke", "write", "a".into(), 0),
            event(0, "ok", "write", "a".into(), 10),
            event(1, "invoke", "write", "b".into(), 20),
            event(1, "ok", "write", "b".into(), 30),
        ]
        .join("\n");
        let operations = operations(&history).expect("parses");
        let lost = lost_writes(&operations, &[(1, "k0".to_string(), Some("a".to_string()))]);
        assert_eq!(lost.acknowledged, 2);
        assert_eq!(lost.lost.len(), 1, "{:?}", lost.lost);
        assert!(lost.lost[0].starts_with("write k0=\"b\""), "{:?}", lost.lost);
        let kept = lost_writes(&operations, &[(1, "k0".to_string(), Some("b".to_string()))]);
        assert!(kept.lost.is_empty(), "{:?}", kept.lost);
    }

    #[test]
    fn concurrent_writes_and_unknown_outcomes_lose_nothing() {
        let history = [
            event(0, "invoke", "write", "a".into(), 0),
            event(1, "invoke", "write", "b".into(), 5),
            event(0, "ok", "write", "a".into(), 10),
            event(1, "info", "write", "b".into(), 30),
            event(2, "invoke", "write", "c".into(), 40),
            event(2, "ok", "write", "c".into(), 50),
        ]
        .join("\n");
        let operations = operations(&history).expect("parses");
        // b's outcome is unknown: it may have taken effect after c.
        let lost = lost_writes(&operations, &[(1, "k0".to_string(), Some("b".to_string()))]);
        assert!(lost.lost.is_empty(), "{:?}", lost.lost);
        let absent = lost_writes(&operations, &[(1, "k0".to_string(), None)]);
        assert_eq!(absent.lost.len(), 2, "{:?}", absent.lost);
    }

    #[test]
    fn a_key_absent_at_the_end_lost_only_the_writes_no_delete_could_follow() {
        let null = serde_json::Value::Null;
        let history = [
            event(0, "invoke", "write", "a".into(), 0),
            event(0, "ok", "write", "a".into(), 10),
            event(1, "invoke", "delete", null.clone(), 20),
            event(1, "ok", "delete", null.clone(), 30),
            event(2, "invoke", "write", "b".into(), 40),
            event(2, "ok", "write", "b".into(), 50),
            event(3, "invoke", "delete", null.clone(), 45),
            event(3, "fail", "delete", null.clone(), 55),
        ]
        .join("\n");
        let operations = operations(&history).expect("parses");
        let absent = lost_writes(&operations, &[(1, "k0".to_string(), None)]);
        // The writes and the acknowledged delete; the refused delete took no effect.
        assert_eq!(absent.acknowledged, 3);
        // "a" was deleted after it; nothing could delete "b" (the delete after it was refused).
        assert_eq!(
            absent.lost,
            ["write k0=\"b\" acknowledged at 0.000 s (process 2) is lost: the key is absent at the end, and \
              its last delete was acknowledged at 0.000 s"]
        );
        // A delete whose outcome is unknown may have taken effect after "b"; one acknowledged
        // after "b" was invoked, too.
        for (kind, time) in [("info", 60), ("ok", 60)] {
            let later = format!(
                "{history}\n{}\n{}",
                event(4, "invoke", "delete", null.clone(), 42),
                event(4, kind, "delete", null.clone(), time)
            );
            let operations = self::operations(&later).expect("parses");
            let absent = lost_writes(&operations, &[(1, "k0".to_string(), None)]);
            assert!(absent.lost.is_empty(), "{kind}: {:?}", absent.lost);
        }
        // A delete acknowledged after the final value was written is lost like a write.
        let value = lost_writes(&operations, &[(1, "k0".to_string(), Some("a".to_string()))]);
        assert_eq!(
            value.lost,
            [
                "delete k0 acknowledged at 0.000 s (process 1) is lost: the final value \"a\" was written by an \
                 operation acknowledged at 0.000 s",
                "write k0=\"b\" acknowledged at 0.000 s (process 2) is lost: the final value \"a\" was written by \
                 an operation acknowledged at 0.000 s"
            ]
        );
        // With no delete at all, the message says so.
        let writes =
            operations.iter().filter(|operation| operation.f == "write").cloned().collect::<Vec<_>>();
        let absent = lost_writes(&writes, &[(1, "k0".to_string(), None)]);
        assert_eq!(absent.lost.len(), 2);
        assert!(
            absent.lost[0].ends_with("the key is absent at the end, and nothing deleted it"),
            "{:?}",
            absent.lost
        );
    }

    #[test]
    fn latency_percentiles_use_ok_operations_only() {
        let history = [
            event(0, "invoke", "read", serde_json::Value::Null, 0),
            event(0, "ok", "read", serde_json::Value::Null, 2_000_000),
            event(1, "invoke", "write", "x".into(), 0),
            event(1, "info", "write", "x".into(), 9_000_000_000),
        ]
        .join("\n");
        let rows = latencies(&operations(&history).expect("parses"));
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].f, "read");
        assert_eq!(rows[1].f, "all");
        assert_eq!(rows[1].count, 1);
        assert!((rows[1].milliseconds[4] - 2.0).abs() < 1e-9);
    }
}
