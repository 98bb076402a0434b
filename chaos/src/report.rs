//! What a run tells its user: a text report (tables), the files of `--out DIR`, and a
//! self-contained HTML page with the operations on a timeline, the fault windows shaded, latency
//! over time, and the verdict.

use crate::checks::Checks;
use crate::error::ChaosError;
use crate::plots::{self, Frame};
use crate::run::{Outcome, Overrides};
use checker::timeline::{escape, Bar, Layout, Timeline, Window};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;
use tabled::settings::Style;
use tabled::{Table, Tabled};

/// The command that replays a run exactly.
pub fn reproduce(outcome: &Outcome, source: &str, overrides: &Overrides) -> String {
    let mut command = if let Some(target) = outcome.real {
        let target = match target {
            crate::real::Target::Paxos => String::new(),
            other => format!(" --target {}", other.name()),
        };
        format!("cargo run -p chaos -- real{target} --scenario {source} --seed {}", outcome.seed)
    } else {
        format!("cargo run -p chaos -- scenario {source} --seed {}", outcome.seed)
    };
    if let Some(duration) = overrides.duration {
        let _ = write!(command, " --duration {duration}");
    }
    if let Some(nodes) = overrides.nodes {
        let _ = write!(command, " --nodes {nodes}");
    }
    if let Some(clients) = overrides.clients {
        let _ = write!(command, " --clients {clients}");
    }
    if let Some(mix) = overrides.mix {
        let _ = write!(command, " --mix {mix}");
    }
    command
}

#[derive(Tabled)]
struct FaultRow {
    #[tabled(rename = "start s")]
    start: String,
    #[tabled(rename = "end s")]
    end: String,
    fault: String,
}

#[derive(Tabled)]
struct OperationRow {
    f: String,
    ok: usize,
    fail: usize,
    unknown: usize,
    #[tabled(rename = "p50 ms")]
    p50: String,
    #[tabled(rename = "p90 ms")]
    p90: String,
    #[tabled(rename = "p99 ms")]
    p99: String,
    #[tabled(rename = "p99.9 ms")]
    p999: String,
    #[tabled(rename = "max ms")]
    max: String,
}

#[derive(Tabled)]
struct CheckRow {
    check: &'static str,
    result: String,
}

fn operation_rows(checks: &Checks) -> Vec<OperationRow> {
    let mut rows = Vec::new();
    for latency in &checks.latencies {
        let count = |kind: &str| {
            checks
                .operations
                .iter()
                .filter(|operation| {
                    (latency.f == "all" || operation.f == latency.f) && operation.kind == kind
                })
                .count()
        };
        let [p50, p90, p99, p999, max] = latency.milliseconds.map(|value| format!("{value:.2}"));
        rows.push(OperationRow {
            f: latency.f.clone(),
            ok: count("ok"),
            fail: count("fail"),
            unknown: count("info"),
            p50,
            p90,
            p99,
            p999,
            max,
        });
    }
    rows
}

fn check_rows(checks: &Checks) -> Vec<CheckRow> {
    let mut rows = Vec::new();
    if let Some(error) = &checks.run_error {
        rows.push(CheckRow { check: "run", result: format!("broken: {error}") });
    }
    rows.push(CheckRow { check: "linearizable", result: checks.linearizability.detail.clone() });
    let lost = &checks.lost;
    rows.push(CheckRow {
        check: "acknowledged writes",
        result: match (&lost.unchecked, lost.lost.len()) {
            (Some(why), _) => format!("unchecked: {why}"),
            (None, 0) => format!("{} acknowledged, none lost", lost.acknowledged),
            (None, count) => format!("{} acknowledged, {count} LOST: {}", lost.acknowledged, lost.lost[0]),
        },
    });
    rows.push(CheckRow {
        check: "convergence",
        result: match &checks.converged {
            Ok(Some(after)) => format!(
                "every replica applied the same log {:.2} s after the clients stopped",
                after.as_secs_f64()
            ),
            Ok(None) => "not observable: the system does not report its log".to_string(),
            Err(error) => error.clone(),
        },
    });
    rows.push(CheckRow {
        check: "every node serving",
        result: match &checks.served {
            Ok(()) => "every node answered a final read of every key; all agree".to_string(),
            Err(error) => error.clone(),
        },
    });
    rows
}

#[derive(Tabled)]
struct AvailabilityRow {
    #[tabled(rename = "window s")]
    window: String,
    fault: String,
    acknowledged: String,
    #[tabled(rename = "of completed")]
    share: String,
    #[tabled(rename = "longest without an ack, s (from-to)")]
    silence: String,
}

/// The report in text: the run's shape, the faults, the operations with latency percentiles, the
/// checks, the verdict, and the command that reproduces the run.
pub fn text(outcome: &Outcome, reproduce: &str) -> String {
    let scenario = &outcome.scenario;
    let workload = &scenario.workload;
    let mut text = String::new();
    let _ = writeln!(text, "scenario {} (seed {}): {}", scenario.name, outcome.seed, scenario.description);
    let _ = writeln!(
        text,
        "{} nodes, {} clients on {} keys (read {} : write {} : cas {} : delete {}, {}), read mode {}, build {}",
        scenario.nodes,
        workload.clients,
        workload.keys,
        workload.mix.read,
        workload.mix.write,
        workload.mix.cas,
        workload.mix.delete,
        if workload.rate > 0.0 {
            format!("up to {} ops/s each", workload.rate)
        } else {
            "no wait".to_string()
        },
        scenario.read_mode.as_str(),
        scenario.build
    );
    let simulated = outcome.elapsed.as_secs_f64();
    let wall = outcome.wall.as_secs_f64();
    if outcome.real.is_some() {
        let _ = writeln!(
            text,
            "real processes; fault phase {:.2}-{:.2} s; {simulated:.1} s in all (the seed fixes the schedule \
             and the clients' choices; the operating system's timing is not replayable)\n",
            outcome.fault_phase.0, outcome.fault_phase.1
        );
    } else {
        let _ = writeln!(
            text,
            "fault phase {:.2}-{:.2} s; {simulated:.1} s simulated in {wall:.1} s ({:.0}x)\n",
            outcome.fault_phase.0,
            outcome.fault_phase.1,
            simulated / wall.max(1e-9)
        );
    }
    let faults: Vec<FaultRow> = outcome
        .windows
        .iter()
        .map(|window| FaultRow {
            start: format!("{:.3}", window.start),
            end: format!("{:.3}", window.end),
            fault: window.label.clone(),
        })
        .collect();
    if faults.is_empty() {
        let _ = writeln!(text, "no faults applied\n");
    } else {
        let clock = if outcome.real.is_some() { "real time" } else { "simulated time" };
        let _ = writeln!(text, "faults ({clock}):\n{}\n", Table::new(faults).with(Style::sharp()));
    }
    if let Some(contention) = outcome.contention {
        let _ = writeln!(
            text,
            "contention (the replicas' counters, every node and boot): {} elections started, {} slots \
             accepted again in another ballot, {} of them with a different value\n",
            contention.elections, contention.reaccepted, contention.overwritten
        );
    }
    let _ =
        writeln!(text, "operations:\n{}\n", Table::new(operation_rows(&outcome.checks)).with(Style::sharp()));
    let end = frame(outcome).end;
    let series = plots::throughput(&outcome.checks.operations, end);
    let _ = writeln!(text, "{}", plots::throughput_text(&series, &outcome.windows, end));
    let availability = plots::availability(&outcome.checks.operations, &outcome.windows, end);
    if !availability.is_empty() {
        let rows = plots::availability_rows(&availability).into_iter().map(|row| AvailabilityRow {
            window: row[0].clone(),
            fault: row[1].clone(),
            acknowledged: row[2].clone(),
            share: row[3].clone(),
            silence: row[4].clone(),
        });
        let _ = writeln!(
            text,
            "availability per fault (every client counted; a silence overlapping the fault counts whole):\n{}\n",
            Table::new(rows).with(Style::sharp())
        );
    }
    let _ = writeln!(text, "checks:\n{}", Table::new(check_rows(&outcome.checks)).with(Style::sharp()));
    for lost in outcome.checks.lost.lost.iter().take(5) {
        let _ = writeln!(text, "  lost: {lost}");
    }
    if outcome.checks.lost.lost.len() > 5 {
        let _ = writeln!(text, "  ... and {} more", outcome.checks.lost.lost.len() - 5);
    }
    let _ = writeln!(text, "\n{}", outcome.checks.verdict(scenario.expect));
    let _ = writeln!(text, "reproduce: {reproduce}");
    text
}

/// Writes `history.jsonl` and `history.edn` (Jepsen's format), `check.txt` and `check.json` (the
/// checker's output), `trace.txt`,
/// `scenario.json`, `report.txt`, `report.html`, the plots as `latency.svg` and
/// `throughput.svg`, and in simulation the nodes' logs (`nodes.log`, `node-N.log`) into `dir`
/// (created if needed).
///
/// # Errors
///
/// The file that could not be written, and why.
pub fn write(dir: &Path, outcome: &Outcome, reproduce: &str) -> Result<(), ChaosError> {
    std::fs::create_dir_all(dir).map_err(ChaosError::io(dir))?;
    let (check_text, check_json) = match &outcome.checks.linearizability.checked {
        Some((history, report)) => (
            checker::report::table(history, report),
            serde_json::to_string_pretty(&checker::report::json(history, report)).expect("json"),
        ),
        None => {
            let detail = &outcome.checks.linearizability.detail;
            (format!("{detail}\n"), serde_json::json!({"verdict": "unchecked", "detail": detail}).to_string())
        }
    };
    // The same history as Jepsen writes it, for tools that read EDN (this checker reads both).
    let edn = checker::format::jsonl::parse(&outcome.history)
        .map(|events| checker::format::edn::write(&events))
        .unwrap_or_else(|error| format!(";; the history did not parse: {error}\n"));
    // Each plot drawn once: in the page and in a file of its own.
    let (latency, throughput) = (latency(outcome), throughput(outcome));
    let files = [
        ("history.jsonl", outcome.history.clone()),
        ("history.edn", edn),
        ("check.txt", check_text),
        ("check.json", check_json),
        ("trace.txt", outcome.trace.clone()),
        ("scenario.json", serde_json::to_string_pretty(&outcome.scenario).expect("json")),
        ("report.txt", text(outcome, reproduce)),
        ("report.html", page(outcome, reproduce, &latency, &throughput)),
        ("latency.svg", latency),
        ("throughput.svg", throughput),
    ];
    for (name, contents) in files {
        let path = dir.join(name);
        std::fs::write(&path, contents).map_err(ChaosError::io(&path))?;
    }
    // A simulated run's node logs: all of them in time order, and each node's alone (a real
    // run's are its processes' own files, under `run/`).
    if outcome.real.is_none() {
        let mut files: Vec<(String, String)> = vec![("nodes.log".to_string(), outcome.node_log.clone())];
        let mut by_node: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
        for line in outcome.node_log.lines() {
            if let Some(node) = line.split_whitespace().find_map(|field| field.strip_prefix("node=n")) {
                let log = by_node.entry(format!("node-{node}.log")).or_default();
                log.push_str(line);
                log.push('\n');
            }
        }
        files.extend(by_node);
        for (name, contents) in files {
            let path = dir.join(name);
            std::fs::write(&path, contents).map_err(ChaosError::io(&path))?;
        }
    }
    Ok(())
}

/// The plots' frame: the timeline's.
fn frame(outcome: &Outcome) -> Frame {
    Frame { left: 70.0, width: 1100.0, end: outcome.elapsed.as_secs_f64().max(1.0) }
}

/// The latency plot (SVG).
fn latency(outcome: &Outcome) -> String {
    plots::latency_svg(&outcome.checks.operations, &outcome.windows, frame(outcome))
}

/// The throughput plot (SVG).
fn throughput(outcome: &Outcome) -> String {
    let frame = frame(outcome);
    let series = plots::throughput(&outcome.checks.operations, frame.end);
    plots::throughput_svg(&series, &outcome.windows, frame)
}

/// The page: verdict, tables, a timeline with one lane per client (operations as bars, fault
/// windows shaded, the checker's minimal violating set outlined), and latency over time.
pub fn html(outcome: &Outcome, reproduce: &str) -> String {
    page(outcome, reproduce, &latency(outcome), &throughput(outcome))
}

/// [`html`] with its two plots already drawn.
fn page(outcome: &Outcome, reproduce: &str, latency: &str, throughput: &str) -> String {
    let checks = &outcome.checks;
    let scenario = &outcome.scenario;
    let clients = scenario.workload.clients.max(1) as u64;
    let end_seconds = outcome.elapsed.as_secs_f64().max(1.0);
    let (left, width) = (70.0, 1100.0);
    let core: BTreeSet<usize> =
        checks
            .linearizability
            .checked
            .iter()
            .flat_map(|(history, report)| {
                report.keys.iter().filter_map(|key| key.explanation.as_ref()).flat_map(|explanation| {
                    explanation.core.iter().map(|&id| history.operations[id].call_line)
                })
            })
            .collect();
    let lane_of = |process: u64| {
        if process >= crate::workload::FINAL_PROCESS as u64 {
            clients
        } else {
            process % clients
        }
    };
    let windows: Vec<Window> = outcome
        .windows
        .iter()
        .map(|window| Window {
            start: window.start,
            end: window.end,
            title: format!("{:.3}-{:.3} s: {}", window.start, window.end, window.label),
            label: window.kind.to_string(),
        })
        .collect();
    let bars = checks
        .operations
        .iter()
        .map(|operation| {
            let start = operation.start as f64 / 1e9;
            let stop = operation.end.map_or(start + 0.05, |end| end as f64 / 1e9);
            let class = match operation.kind.as_str() {
                "ok" => "",
                "fail" => "fail",
                _ => "info",
            };
            let classes = if core.contains(&operation.line) {
                format!("{class} core").trim().to_string()
            } else {
                class.to_string()
            };
            let title = format!(
                "process {} {} {} {} -> {} ({}) {:.3}-{} s",
                operation.process,
                operation.f,
                operation.key,
                operation.input,
                operation.output,
                operation.kind,
                start,
                operation.end.map_or("?".to_string(), |end| format!("{:.3}", end as f64 / 1e9))
            );
            Bar {
                lane: lane_of(operation.process) as usize,
                start,
                end: stop,
                classes,
                fill: Some(plots::colour(&operation.f)),
                title,
                label: None,
                id: None,
            }
        })
        .collect();
    let step = if end_seconds > 60.0 {
        10.0
    } else if end_seconds > 20.0 {
        5.0
    } else {
        2.0
    };
    let lanes =
        (0..=clients)
            .map(|lane| if lane == clients { "final".to_string() } else { format!("client {lane}") });
    let timeline = Timeline {
        lanes: lanes.collect(),
        end: end_seconds,
        bars,
        windows,
        ticks: Some((step, "s")),
        layout: Layout { left, top: 24.0, lane_height: 16.0, bar_height: 12.0, scale: width / end_seconds },
    };
    let timeline = timeline.svg();
    let availability = plots::availability(&outcome.checks.operations, &outcome.windows, end_seconds);
    let availability_table = plots::availability_html(&availability);
    let table = |rows: String| format!("<table>{rows}</table>");
    let mut check_html = String::from("<tr><th>check</th><th>result</th></tr>");
    for row in check_rows(checks) {
        let _ = write!(check_html, "<tr><td>{}</td><td>{}</td></tr>", row.check, escape(&row.result));
    }
    let mut operation_html = String::from(
        "<tr><th>f</th><th>ok</th><th>fail</th><th>unknown</th><th>p50 ms</th><th>p90 ms</th><th>p99 ms</th><th>p99.9 ms</th><th>max ms</th></tr>",
    );
    for row in operation_rows(checks) {
        let _ = write!(
            operation_html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            row.f, row.ok, row.fail, row.unknown, row.p50, row.p90, row.p99, row.p999, row.max
        );
    }
    let mut fault_html = String::from("<tr><th>start s</th><th>end s</th><th>fault</th></tr>");
    for window in &outcome.windows {
        let _ = write!(
            fault_html,
            "<tr><td>{:.3}</td><td>{:.3}</td><td>{}</td></tr>",
            window.start,
            window.end,
            escape(&window.label)
        );
    }
    let mut lost_html = String::new();
    for lost in checks.lost.lost.iter().take(20) {
        let _ = write!(lost_html, "<li>{}</li>", escape(lost));
    }
    let verdict = checks.verdict(scenario.expect);
    let class = if outcome.passed() { "pass" } else { "fail" };
    format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>chaos {name} seed {seed}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }}
h1 {{ font-size: 1.3em; }} h2 {{ font-size: 1.05em; margin-top: 1.4em; }}
table {{ border-collapse: collapse; margin-bottom: 0.8em; }} td, th {{ border: 1px solid #ccc; padding: 3px 8px; text-align: left; }}
.verdict {{ padding: 0.6em 1em; font-weight: 600; }} .verdict.pass {{ background: #e3f6e3; }} .verdict.fail {{ background: #fde2e2; }}
code {{ background: #f3f3f3; padding: 2px 4px; }}
.scroll {{ overflow-x: auto; border: 1px solid #ddd; }}
.fault {{ fill: #f0b429; opacity: 0.18; }} .fault-label {{ font-size: 10px; fill: #8a6100; }}
.lane, .axis {{ font-size: 10px; fill: #555; }} .tick {{ stroke: #e4e4e4; }}
.op {{ opacity: 0.85; }} .op.fail {{ opacity: 0.3; }} .op.info {{ opacity: 0.45; }} .op.info rect {{ stroke: #d9822b; stroke-dasharray: 2 1; }}
.op.core {{ opacity: 1; }} .op.core rect {{ stroke: #c0392b; stroke-width: 2; }} .op:hover rect {{ stroke: #000; stroke-width: 1; }}
.legend span {{ display: inline-block; padding: 0 6px; margin-right: 6px; color: #fff; border-radius: 3px; }}
</style></head><body>
<h1>chaos scenario {name}, seed {seed}</h1>
<div class="verdict {class}" id="verdict">{verdict}</div>
<p>{description}</p>
<p>Reproduce: <code>{reproduce}</code></p>
<h2>Checks</h2>{checks_table}
<ul>{lost_html}</ul>
<h2>Operations and latency</h2>{operations_table}
<h2>Timeline</h2>
<p class="legend"><span style="background:#4a7bd0">read</span><span style="background:#3c9a5f">write</span><span style="background:#8a5cc2">cas</span>
faded: failed (no effect); dashed outline: unknown outcome; red outline: operations that cannot be linearized together; shaded: fault windows (hover for details).</p>
<div class="scroll">{timeline}</div>
<h2>Latency over time (ok operations, log scale)</h2>
<div class="scroll">{latency}</div>
<h2>Throughput over time (operations per 100 ms, by kind and outcome)</h2>
<div class="scroll">{throughput}</div>
<h2>Availability per fault</h2>
<p>Acknowledged operations while each fault held, and the longest time no client got an acknowledgement among the silences that overlap it (one that began before the fault counts whole).</p>
{availability_table}
<h2>Faults</h2>{faults_table}
<script>
// Marks the page rendered, with what the browser laid out: the tests read it back.
window.addEventListener('load', function () {{
  var timeline = document.getElementById('timeline').getBBox();
  var latency = document.getElementById('latency').getBBox();
  var throughput = document.getElementById('throughput').getBBox();
  document.body.dataset.rendered = [document.querySelectorAll('#timeline g.op').length,
    document.querySelectorAll('#timeline rect.fault').length, Math.round(timeline.width),
    Math.round(latency.width), Math.round(throughput.width),
    document.querySelectorAll('#throughput polyline').length,
    document.querySelectorAll('#throughput rect.fault').length,
    document.querySelectorAll('#availability tr').length - 1].join(':');
}});
</script>
</body></html>
"#,
        name = escape(&scenario.name),
        seed = outcome.seed,
        verdict = escape(&verdict),
        description = escape(&scenario.description),
        reproduce = escape(reproduce),
        checks_table = table(check_html),
        operations_table = table(operation_html),
        faults_table = table(fault_html),
    )
}
