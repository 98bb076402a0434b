//! Reports: a table for people, JSON for programs, and a self-contained HTML timeline.

use crate::history::{History, Operation, Status};
use crate::timeline::{escape, Bar, Layout, Timeline};
use crate::{KeyResult, Report, Verdict};
use std::fmt::Write;
use tabled::settings::Style;
use tabled::{Table, Tabled};

#[derive(Tabled)]
struct Row {
    key: String,
    operations: usize,
    verdict: String,
    #[tabled(rename = "ms")]
    milliseconds: String,
    detail: String,
}

fn key_name(key: &Option<String>) -> String {
    key.clone().unwrap_or_else(|| "(all)".into())
}

/// The per-key table, then the explanation of each violation.
pub fn table(history: &History, report: &Report) -> String {
    let mut text = verdicts(history, report);
    text.push_str(&explanations(history, report));
    text
}

/// The per-key table of verdicts and the summary line.
pub fn verdicts(_history: &History, report: &Report) -> String {
    let rows: Vec<Row> = report
        .keys
        .iter()
        .map(|key| Row {
            key: key_name(&key.key),
            operations: key.operations,
            verdict: key.verdict.as_str().into(),
            milliseconds: format!("{:.2}", key.elapsed.as_secs_f64() * 1000.0),
            detail: match (&key.reason, &key.explanation) {
                (Some(reason), _) => reason.clone(),
                (None, Some(explanation)) => explanation.words.clone(),
                (None, None) if key.verdict == Verdict::NotLinearizable => "explained below".into(),
                (None, None) => String::new(),
            },
        })
        .collect();
    let mut text = Table::new(rows).with(Style::sharp()).to_string();
    let _ = writeln!(
        text,
        "\n{}: {} ({} failed, left out), {}, {:.2} ms",
        report.verdict.as_str().to_uppercase(),
        counted(report.operations, "operation"),
        report.failed,
        counted(report.keys.len(), "key"),
        report.elapsed.as_secs_f64() * 1000.0
    );
    text
}

/// The explanation of each violation: its words, a minimal set of operations, the longest
/// partial linearization and what cannot follow it.
pub fn explanations(history: &History, report: &Report) -> String {
    let mut text = String::new();
    for key in &report.keys {
        if let Some(explanation) = &key.explanation {
            let _ = writeln!(text, "\nkey {}: {}", key_name(&key.key), explanation.words);
            let minimal = if explanation.minimal {
                "minimal"
            } else {
                "not proven minimal: a time or search bound stopped it"
            };
            let _ = writeln!(text, "  operations that cannot be linearized together ({minimal}):");
            for &id in &explanation.core {
                let _ = writeln!(text, "    {}", line(&history.operations[id]));
            }
            let _ = writeln!(
                text,
                "  longest partial linearization ({}):",
                counted(explanation.partial.len(), "operation")
            );
            for (step, &id) in explanation.partial.iter().enumerate() {
                let _ = writeln!(text, "    {:>3}. {}", step + 1, line(&history.operations[id]));
            }
            let _ = writeln!(text, "  then the state is {}, and this cannot follow:", explanation.state);
            let _ = writeln!(text, "    {}", line(&history.operations[explanation.blocked]));
        }
    }
    text
}

/// `1 key`, `2 keys`.
pub(crate) fn counted(count: usize, noun: &str) -> String {
    format!("{count} {noun}{}", if count == 1 { "" } else { "s" })
}

fn line(operation: &Operation) -> String {
    let span = match operation.ret_line {
        Some(ret) => format!("lines {}-{}", operation.call_line, ret),
        None => format!("line {}-", operation.call_line),
    };
    format!("#{} process {}: {} ({span})", operation.id, operation.process, operation.describe())
}

fn operation_json(operation: &Operation) -> serde_json::Value {
    serde_json::json!({
        "id": operation.id,
        "process": operation.process,
        "f": operation.f.to_string(),
        "key": operation.key,
        "input": operation.input.to_json(),
        "output": operation.output.to_json(),
        "status": if operation.status == Status::Ok { "ok" } else { "info" },
        "call_line": operation.call_line,
        "ret_line": operation.ret_line,
    })
}

fn key_json(history: &History, key: &KeyResult) -> serde_json::Value {
    let explanation = key.explanation.as_ref().map(|explanation| {
        serde_json::json!({
            "words": explanation.words,
            "minimal": explanation.minimal,
            "core": explanation.core.iter().map(|&id| operation_json(&history.operations[id])).collect::<Vec<_>>(),
            "partial_linearization": explanation.partial.iter().map(|&id| operation_json(&history.operations[id])).collect::<Vec<_>>(),
            "state": explanation.state,
            "blocked": operation_json(&history.operations[explanation.blocked]),
        })
    });
    serde_json::json!({
        "key": key.key,
        "operations": key.operations,
        "verdict": key.verdict.as_str(),
        "reason": key.reason,
        "seconds": key.elapsed.as_secs_f64(),
        "explanation": explanation,
    })
}

/// The report as JSON.
pub fn json(history: &History, report: &Report) -> serde_json::Value {
    serde_json::json!({
        "verdict": report.verdict.as_str(),
        "operations": report.operations,
        "failed": report.failed,
        "seconds": report.elapsed.as_secs_f64(),
        "keys": report.keys.iter().map(|key| key_json(history, key)).collect::<Vec<_>>(),
    })
}

/// A self-contained HTML page: one lane per process, operations as bars over event order, the
/// operations of each violation's minimal set highlighted, details on hover.
pub fn html(history: &History, report: &Report, title: &str) -> String {
    let mut processes: Vec<&str> =
        history.operations.iter().map(|operation| operation.process.as_str()).collect();
    processes.sort_by_key(|process| (process.parse::<i64>().unwrap_or(i64::MAX), process.to_string()));
    processes.dedup();
    let end = history
        .operations
        .iter()
        .map(|operation| operation.ret.unwrap_or(operation.call) + 1)
        .max()
        .unwrap_or(1);
    let highlighted: std::collections::BTreeSet<usize> = report
        .keys
        .iter()
        .filter_map(|key| key.explanation.as_ref())
        .flat_map(|explanation| explanation.core.iter().copied())
        .collect();
    let blocked: std::collections::BTreeSet<usize> = report
        .keys
        .iter()
        .filter_map(|key| key.explanation.as_ref())
        .map(|explanation| explanation.blocked)
        .collect();
    let bars = history
        .operations
        .iter()
        .map(|operation| {
            let classes = if blocked.contains(&operation.id) {
                "blocked"
            } else if highlighted.contains(&operation.id) {
                "core"
            } else if operation.status == Status::Info {
                "info"
            } else {
                ""
            };
            Bar {
                lane: processes.iter().position(|process| *process == operation.process).unwrap_or(0),
                start: operation.call as f64,
                // To just before the next event (the end of the history for an unknown outcome).
                end: operation.ret.map_or(end, |ret| ret + 1) as f64 - 0.15,
                classes: classes.to_string(),
                fill: None,
                title: line(operation),
                label: Some(operation.describe()),
                id: Some(operation.id),
            }
        })
        .collect();
    let timeline = Timeline {
        lanes: processes.iter().map(|process| format!("process {process}")).collect(),
        end: end as f64,
        bars,
        windows: Vec::new(),
        ticks: None,
        layout: Layout { left: 90.0, top: 20.0, lane_height: 28.0, bar_height: 20.0, scale: 14.0 },
    };
    let svg = timeline.svg();
    let mut summary = String::new();
    for key in &report.keys {
        let class = match key.verdict {
            Verdict::Linearizable => "ok",
            Verdict::NotLinearizable => "bad",
            Verdict::Inconclusive => "unknown",
        };
        let detail = key
            .explanation
            .as_ref()
            .map(|e| e.words.clone())
            .or_else(|| key.reason.clone())
            .unwrap_or_default();
        let _ = write!(
            summary,
            r#"<tr class="{class}"><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            escape(&key_name(&key.key)),
            key.operations,
            key.verdict.as_str(),
            escape(&detail)
        );
    }
    format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }}
h1 {{ font-size: 1.3em; }} table {{ border-collapse: collapse; margin-bottom: 1em; }}
td, th {{ border: 1px solid #ccc; padding: 4px 8px; text-align: left; }}
tr.bad td {{ background: #fde2e2; }} tr.ok td {{ background: #e3f6e3; }} tr.unknown td {{ background: #fff4d6; }}
.scroll {{ overflow-x: auto; border: 1px solid #ddd; }}
.lane {{ font-size: 12px; fill: #555; }}
.op rect {{ fill: #cfe0f5; stroke: #6b8fbf; }} .op text {{ font-size: 11px; pointer-events: none; }}
.op.info rect {{ fill: #eee; stroke: #999; stroke-dasharray: 4 2; }}
.op.core rect {{ fill: #ffd3a8; stroke: #d9822b; }} .op.blocked rect {{ fill: #f4a3a3; stroke: #c0392b; stroke-width: 2; }}
.op:hover rect {{ stroke: #000; stroke-width: 2; }}
</style></head><body>
<h1>{title}: {verdict}</h1>
<p>{operations} operations, {failed} failed (left out). Bars span invocation to completion in event order; dashed bars have unknown outcomes;
orange bars are a minimal set that cannot be linearized, the red one is where the longest partial linearization got stuck. Hover a bar for details.</p>
<table><tr><th>key</th><th>operations</th><th>verdict</th><th>what went wrong</th></tr>{summary}</table>
<div class="scroll">{svg}</div>
<script>
// Marks the page rendered, with what the browser laid out: the tests read it back.
window.addEventListener('load', function () {{
  var box = document.getElementById('timeline').getBBox();
  document.body.dataset.rendered = [document.querySelectorAll('#timeline g.op').length,
    document.querySelectorAll('#timeline g.core, #timeline g.blocked').length, Math.round(box.width)].join(':');
}});
</script>
</body></html>
"#,
        title = escape(title),
        verdict = report.verdict.as_str(),
        operations = report.operations,
        failed = report.failed,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Kind, Register};
    use crate::{check, Options};

    /// A write of 1 that completed, a read of nil after it (stale), and a write of 2 of unknown
    /// outcome.
    fn stale() -> (History, Report) {
        let text = r#"{"process": 0, "type": "invoke", "f": "write", "value": 1}
{"process": 0, "type": "ok", "f": "write", "value": 1}
{"process": 1, "type": "invoke", "f": "read", "value": null}
{"process": 1, "type": "ok", "f": "read", "value": null}
{"process": 2, "type": "invoke", "f": "write", "value": 2}
"#;
        let events = crate::format::jsonl::parse(text).expect("parses");
        let history = History::from_events(&events).expect("pairs");
        let report = check(&Register::new(Kind::Register), &history, Options::default());
        (history, report)
    }

    #[test]
    fn the_table_is_the_verdicts_then_the_explanations() {
        let (history, report) = stale();
        let table = table(&history, &report);
        assert_eq!(table, verdicts(&history, &report) + &explanations(&history, &report));
        assert!(table.contains("NOT LINEARIZABLE: 3 operations (0 failed, left out), 1 key"), "{table}");
        assert!(
            table.contains("  then the state is 1, and this cannot follow:\n    #1 process 1: read -> nil"),
            "{table}"
        );
    }

    /// Each operation's bar: its process's lane, from its invocation to just before the event
    /// after its completion (an unknown outcome: to the end), marked by its part in the violation.
    #[test]
    fn each_bar_spans_its_operation_in_its_lane_marked_by_its_part_in_the_violation() {
        let (history, report) = stale();
        let page = html(&history, &report, "stale <read>");
        let bars: Vec<&str> =
            page.split("<g class=").skip(1).map(|bar| bar.split("rx=").next().unwrap_or_default()).collect();
        let expected = [
            r#""op core" data-id="0"><title>#0 process 0: write 1 (lines 1-2)</title><rect x="90.00" y="20.0" width="25.90" height="20" "#,
            r#""op blocked" data-id="1"><title>#1 process 1: read -&gt; nil (lines 3-4)</title><rect x="118.00" y="48.0" width="25.90" height="20" "#,
            r#""op info" data-id="2"><title>#2 process 2: write 2 (outcome unknown) (line 5-)</title><rect x="146.00" y="76.0" width="11.90" height="20" "#,
        ];
        assert_eq!(bars, expected, "{page}");
        assert!(page.contains("<title>stale &lt;read&gt;</title>"), "{page}");
        assert!(
            page.contains(r#"<tr class="bad"><td>(all)</td><td>3</td><td>not linearizable</td>"#),
            "{page}"
        );
    }
}
