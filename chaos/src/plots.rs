//! What a run's history says over time: throughput per 100 ms by operation and outcome, latency of
//! each acknowledged operation, and availability around each fault (the longest time without an
//! acknowledged operation, the figure a Jepsen reader looks for). Drawn as standalone SVG (the
//! report embeds them, and writes them beside `report.html` for readers outside a browser), and
//! summarised in text for the terminal.

use crate::checks::Operation;
use crate::run::Window;
use checker::timeline::{escape, shade};
use std::fmt::Write as _;

/// The width of a throughput bucket, in seconds.
pub const BUCKET: f64 = 0.1;

/// The operation kinds plotted, with their colours (the timeline's).
pub const KINDS: [(&str, &str); 4] =
    [("read", "#4a7bd0"), ("write", "#3c9a5f"), ("cas", "#8a5cc2"), ("delete", "#c0504d")];

/// The outcomes plotted, with their line styles.
pub const OUTCOMES: [(&str, &str); 3] = [("ok", ""), ("fail", "4 3"), ("info", "1 3")];

/// Operations per [`BUCKET`], for one kind and one outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// `read`, `write`, `cas` or `delete`.
    pub f: &'static str,
    /// `ok`, `fail` or `info` (unknown).
    pub outcome: &'static str,
    /// Operations that completed (or, unknown, were given up on) in each bucket.
    pub counts: Vec<u32>,
}

/// The clients' operations, without the final reads after healing (they measure convergence, not
/// the workload).
fn workload(operations: &[Operation]) -> impl Iterator<Item = &Operation> {
    operations.iter().filter(|operation| operation.process < crate::workload::FINAL_PROCESS as u64)
}

/// When an operation ended as the plot counts it: its completion, or, never completed, its
/// invocation.
fn ended(operation: &Operation) -> f64 {
    operation.end.unwrap_or(operation.start) as f64 / 1e9
}

/// Throughput per [`BUCKET`] over `end` seconds: one series per kind the workload issued and
/// outcome, each with `ceil(end / BUCKET)` buckets (a kind it never issued, such as deletes in
/// most of the catalog, is left out rather than drawn as zeros).
pub fn throughput(operations: &[Operation], end: f64) -> Vec<Series> {
    let buckets = ((end / BUCKET).ceil() as usize).max(1);
    let mut series: Vec<Series> = KINDS
        .iter()
        .filter(|(f, _)| workload(operations).any(|operation| operation.f == *f))
        .flat_map(|(f, _)| {
            OUTCOMES.iter().map(|(outcome, _)| Series { f, outcome, counts: vec![0; buckets] })
        })
        .collect();
    for operation in workload(operations) {
        let Some(index) =
            series.iter().position(|series| series.f == operation.f && series.outcome == operation.kind)
        else {
            continue;
        };
        let bucket = ((ended(operation) / BUCKET) as usize).min(buckets - 1);
        series[index].counts[bucket] += 1;
    }
    series
}

/// How the cluster answered around one fault.
#[derive(Clone, Debug, PartialEq)]
pub struct Availability {
    /// The fault.
    pub label: String,
    /// When it was applied and undone (equal for an instant fault, such as a kill).
    pub start: f64,
    /// See `start`.
    pub end: f64,
    /// Operations acknowledged (`ok`) while it held.
    pub acknowledged: usize,
    /// Of all operations that completed while it held, the share acknowledged.
    pub acknowledged_share: f64,
    /// The longest time without an acknowledged operation from any client, among the silences
    /// that overlap the fault (one that began before it counts whole): seconds, and when.
    pub longest_silence: (f64, f64, f64),
}

/// Availability around each fault window: with every client counted, a silence means no client
/// anywhere got an answer, so the clients on the majority side (if any) got none either.
pub fn availability(operations: &[Operation], windows: &[Window], run_end: f64) -> Vec<Availability> {
    let mut acks: Vec<f64> =
        workload(operations).filter(|operation| operation.kind == "ok").map(ended).collect();
    acks.sort_by(f64::total_cmp);
    // The silences: from the start to the first acknowledgement, between two, after the last.
    let mut edges = vec![0.0];
    edges.extend(&acks);
    edges.push(run_end.max(acks.last().copied().unwrap_or(0.0)));
    windows
        .iter()
        .map(|window| {
            let end = if window.end > window.start { window.end } else { window.start + 1e-3 };
            let longest_silence = edges
                .windows(2)
                .filter(|pair| pair[1] > window.start && pair[0] < end)
                .map(|pair| (pair[1] - pair[0], pair[0], pair[1]))
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .unwrap_or((0.0, window.start, window.start));
            let during: Vec<&Operation> = workload(operations)
                .filter(|operation| {
                    operation.kind != "info" && (window.start..=end).contains(&ended(operation))
                })
                .collect();
            let acknowledged = during.iter().filter(|operation| operation.kind == "ok").count();
            Availability {
                label: window.label.clone(),
                start: window.start,
                end: window.end,
                acknowledged,
                acknowledged_share: if during.is_empty() {
                    0.0
                } else {
                    acknowledged as f64 / during.len() as f64
                },
                longest_silence,
            }
        })
        .collect()
}

/// The plots' horizontal layout: `left` pixels of axis labels, then `width` pixels for `end`
/// seconds.
#[derive(Clone, Copy, Debug)]
pub struct Frame {
    /// Pixels left of the time axis.
    pub left: f64,
    /// Pixels of the time axis.
    pub width: f64,
    /// Seconds the axis spans.
    pub end: f64,
}

impl Frame {
    fn x(&self, seconds: f64) -> f64 {
        self.left + seconds / self.end * self.width
    }
}

/// The styles the plots use, inside each SVG so that a plot reads the same in the page and alone.
const STYLE: &str =
    "<style>.fault { fill: #f0b429; opacity: 0.18; } .axis { font: 10px sans-serif; fill: #555; } \
.tick { stroke: #e4e4e4; } .series { fill: none; stroke-width: 1.4; }</style>";

fn faults(windows: &[Window], frame: Frame) -> String {
    let windows: Vec<checker::timeline::Window> = windows
        .iter()
        .map(|window| checker::timeline::Window {
            start: window.start,
            end: window.end,
            title: format!("{:.3}-{:.3} s: {}", window.start, window.end, window.label),
            label: window.kind.to_string(),
        })
        .collect();
    shade(&windows, |seconds| frame.x(seconds))
}

/// An outcome as a reader names it: the history's `info` is an unknown outcome.
fn outcome_label(outcome: &str) -> &str {
    if outcome == "info" {
        "unknown"
    } else {
        outcome
    }
}

/// The colour of operation kind `f` (grey for others).
pub fn colour(f: &str) -> &'static str {
    KINDS.iter().find(|(kind, _)| *kind == f).map_or("#777", |(_, colour)| colour)
}

/// Latency of every acknowledged operation over time (log scale, 0.1 ms to 10 s), fault windows
/// shaded: a standalone SVG with id `latency`.
pub fn latency_svg(operations: &[Operation], windows: &[Window], frame: Frame) -> String {
    let (height, top) = (220.0, 10.0);
    let y_of = |milliseconds: f64| {
        let fraction = (milliseconds.max(0.1).log10() + 1.0) / 5.0;
        top + height * (1.0 - fraction.clamp(0.0, 1.0))
    };
    let mut dots = String::new();
    for operation in operations.iter().filter(|operation| operation.kind == "ok") {
        let Some(end) = operation.end else { continue };
        let milliseconds = end.saturating_sub(operation.start) as f64 / 1e6;
        let _ = write!(
            dots,
            r#"<circle class="latency" cx="{:.1}" cy="{:.1}" r="1.6" style="fill:{}"/>"#,
            frame.x(operation.start as f64 / 1e9),
            y_of(milliseconds),
            colour(&operation.f)
        );
    }
    let mut grid = String::new();
    for (milliseconds, label) in [
        (0.1, "0.1 ms"),
        (1.0, "1 ms"),
        (10.0, "10 ms"),
        (100.0, "100 ms"),
        (1000.0, "1 s"),
        (10000.0, "10 s"),
    ] {
        let y = y_of(milliseconds);
        let _ = write!(
            grid,
            r#"<line class="tick" x1="{}" x2="{}" y1="{y:.1}" y2="{y:.1}"/><text class="axis" x="4" y="{:.1}">{label}</text>"#,
            frame.left,
            frame.left + frame.width,
            y + 4.0
        );
    }
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" id="latency" width="{}" height="{}">{STYLE}{}{grid}{dots}</svg>"#,
        frame.left + frame.width + 20.0,
        top + height + 20.0,
        faults(windows, frame)
    )
}

/// Operations per 100 ms over time: one line per kind (its colour) and outcome (solid ok, dashed
/// fail, dotted unknown), fault windows shaded, a legend: a standalone SVG with id `throughput`.
pub fn throughput_svg(series: &[Series], windows: &[Window], frame: Frame) -> String {
    let (height, top) = (200.0, 10.0);
    let peak = series.iter().flat_map(|series| series.counts.iter().copied()).max().unwrap_or(0).max(1);
    // A round top for the axis: 1, 2 or 5 times a power of ten.
    let scale = [1u32, 2, 5]
        .iter()
        .flat_map(|&step| (0..7).map(move |power| step * 10u32.pow(power)))
        .filter(|&top| top >= peak)
        .min()
        .unwrap_or(peak);
    let y_of = |count: u32| top + height * (1.0 - f64::from(count) / f64::from(scale));
    let mut grid = String::new();
    for fraction in [0.0, 0.25, 0.5, 0.75, 1.0] {
        let y = top + height * (1.0 - fraction);
        // Labelled as a rate: a bucket's count times ten.
        let rate = f64::from(scale) * fraction / BUCKET;
        let _ = write!(
            grid,
            r#"<line class="tick" x1="{}" x2="{}" y1="{y:.1}" y2="{y:.1}"/><text class="axis" x="4" y="{:.1}">{rate:.0} ops/s</text>"#,
            frame.left,
            frame.left + frame.width,
            y + 4.0
        );
    }
    let mut lines = String::new();
    for series in series.iter().filter(|series| series.counts.iter().any(|&count| count > 0)) {
        let dash =
            OUTCOMES.iter().find(|(outcome, _)| *outcome == series.outcome).map_or("", |(_, dash)| dash);
        let mut points = String::new();
        for (index, &count) in series.counts.iter().enumerate() {
            let _ = write!(points, "{:.1},{:.1} ", frame.x((index as f64 + 0.5) * BUCKET), y_of(count));
        }
        let outcome = outcome_label(series.outcome);
        let _ = write!(
            lines,
            r#"<polyline class="series" points="{}" style="stroke:{}" stroke-dasharray="{dash}"><title>{} {}</title></polyline>"#,
            points.trim_end(),
            colour(series.f),
            series.f,
            outcome
        );
    }
    let legend_y = top + height + 16.0;
    let mut legend = String::new();
    // The kinds by colour, then the outcomes by line style.
    let entries = KINDS
        .iter()
        .filter(|(f, _)| series.iter().any(|series| series.f == *f))
        .map(|&(f, colour)| (f, colour, 2.0, ""))
        .chain(OUTCOMES.iter().map(|&(outcome, dash)| (outcome_label(outcome), "#555", 1.4, dash)));
    for (index, (label, colour, width, dash)) in entries.enumerate() {
        let x = frame.left + 75.0 * index as f64;
        let _ = write!(
            legend,
            r#"<line x1="{x:.0}" x2="{:.0}" y1="{:.1}" y2="{:.1}" style="stroke:{colour};stroke-width:{width}" stroke-dasharray="{dash}"/><text class="axis" x="{:.0}" y="{legend_y:.1}">{label}</text>"#,
            x + 16.0,
            legend_y - 4.0,
            legend_y - 4.0,
            x + 20.0
        );
    }
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" id="throughput" width="{}" height="{}">{STYLE}{}{grid}{lines}{legend}</svg>"#,
        frame.left + frame.width + 20.0,
        legend_y + 8.0,
        faults(windows, frame)
    )
}

/// Throughput in text, for the terminal: per kind, acknowledged operations over time as a row of
/// bars (each character a slice of the run), then failed and unknown ones of every kind, then
/// where the faults held.
pub fn throughput_text(series: &[Series], windows: &[Window], end: f64) -> String {
    const BARS: [char; 9] = [' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let buckets = series.first().map_or(0, |series| series.counts.len());
    if buckets == 0 {
        return String::new();
    }
    // At most 100 characters: each one sums `per` buckets.
    let per = buckets.div_ceil(100).max(1);
    let columns = buckets.div_ceil(per);
    let sum = |pick: &dyn Fn(&Series) -> bool| -> Vec<u32> {
        (0..columns)
            .map(|column| {
                series
                    .iter()
                    .filter(|series| pick(series))
                    .map(|series| {
                        series.counts[column * per..((column + 1) * per).min(buckets)].iter().sum::<u32>()
                    })
                    .sum()
            })
            .collect()
    };
    let mut rows: Vec<(String, Vec<u32>)> = KINDS
        .iter()
        .filter(|(f, _)| series.iter().any(|series| series.f == *f))
        .map(|(f, _)| (format!("{f} ok"), sum(&|series: &Series| series.f == *f && series.outcome == "ok")))
        .collect();
    rows.push(("fail".to_string(), sum(&|series: &Series| series.outcome == "fail")));
    rows.push(("unknown".to_string(), sum(&|series: &Series| series.outcome == "info")));
    let peak = rows.iter().flat_map(|(_, counts)| counts.iter().copied()).max().unwrap_or(0).max(1);
    let seconds = per as f64 * BUCKET;
    let mut text = format!(
        "throughput over {end:.1} s (one character per {seconds:.1} s; full bar = {peak} operations):\n"
    );
    for (name, counts) in &rows {
        let bars: String = counts
            .iter()
            .map(
                |&count| {
                    if count == 0 {
                        ' '
                    } else {
                        BARS[(1 + (count as usize * 7) / peak as usize).min(8)]
                    }
                },
            )
            .collect();
        let total: u32 = counts.iter().sum();
        let _ = writeln!(text, "  {name:<10}|{bars}| {total}");
    }
    let marks: String = (0..columns)
        .map(|column| {
            let (from, to) = (column as f64 * seconds, (column + 1) as f64 * seconds);
            let held =
                windows.iter().any(|window| window.start < to && window.end.max(window.start + 1e-3) > from);
            if held {
                '^'
            } else {
                ' '
            }
        })
        .collect();
    let _ = writeln!(text, "  {:<10}|{marks}|", "faults");
    text
}

/// The availability table's rows, in text.
pub fn availability_rows(availability: &[Availability]) -> Vec<[String; 5]> {
    availability
        .iter()
        .map(|row| {
            let (silence, from, to) = row.longest_silence;
            [
                format!("{:.3}-{:.3}", row.start, row.end),
                row.label.clone(),
                row.acknowledged.to_string(),
                format!("{:.0}%", row.acknowledged_share * 100.0),
                format!("{silence:.3} ({from:.3}-{to:.3})"),
            ]
        })
        .collect()
}

/// The availability table in HTML.
pub fn availability_html(availability: &[Availability]) -> String {
    let mut html = String::from(
        "<table id=\"availability\"><tr><th>window s</th><th>fault</th><th>acknowledged</th><th>of completed</th><th>longest without an acknowledgement, s (from-to)</th></tr>",
    );
    for row in availability_rows(availability) {
        html.push_str("<tr>");
        for cell in row {
            let _ = write!(html, "<td>{}</td>", escape(&cell));
        }
        html.push_str("</tr>");
    }
    html.push_str("</table>");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operation(f: &str, kind: &str, start_ms: u64, end_ms: Option<u64>) -> Operation {
        Operation {
            process: 0,
            f: f.to_string(),
            key: "k".to_string(),
            input: serde_json::Value::Null,
            output: serde_json::Value::Null,
            kind: kind.to_string(),
            start: start_ms * 1_000_000,
            end: end_ms.map(|end| end * 1_000_000),
            line: 1,
        }
    }

    fn window(start: f64, end: f64) -> Window {
        Window { start, end, kind: "kill", label: "kill [n1] (leader)".to_string() }
    }

    #[test]
    fn throughput_counts_each_operation_in_the_bucket_where_it_ended_by_kind_and_outcome() {
        let operations = [
            operation("read", "ok", 0, Some(50)),
            operation("read", "ok", 60, Some(99)),
            operation("read", "ok", 100, Some(150)),
            operation("write", "fail", 120, Some(250)),
            // Never completed: counted where it was invoked.
            operation("cas", "info", 210, None),
        ];
        let series = throughput(&operations, 0.3);
        let counts = |f: &str, outcome: &str| {
            series
                .iter()
                .find(|series| series.f == f && series.outcome == outcome)
                .map(|series| series.counts.clone())
        };
        // Three kinds issued, three outcomes each; no delete was issued.
        assert_eq!(series.len(), 9);
        assert_eq!(counts("read", "ok"), Some(vec![2, 1, 0]));
        assert_eq!(counts("write", "fail"), Some(vec![0, 0, 1]));
        assert_eq!(counts("cas", "info"), Some(vec![0, 0, 1]));
        assert_eq!(counts("write", "ok"), Some(vec![0, 0, 0]));
        assert_eq!(counts("delete", "ok"), None);
        let with_a_delete = [&operations[..], &[operation("delete", "ok", 10, Some(20))]].concat();
        let series = throughput(&with_a_delete, 0.3);
        assert_eq!(series.len(), 12);
        assert_eq!(
            series.iter().find(|series| series.f == "delete" && series.outcome == "ok").map(|s| &s.counts),
            Some(&vec![1, 0, 0])
        );
    }

    #[test]
    fn the_longest_silence_around_a_fault_counts_whole_when_it_began_before() {
        let operations = [
            operation("write", "ok", 0, Some(900)),
            operation("write", "ok", 950, Some(1000)),
            // The fault at 1.2 s: nothing acknowledged until 2.5 s.
            operation("write", "fail", 1300, Some(1400)),
            operation("read", "ok", 2000, Some(2500)),
            operation("read", "ok", 2500, Some(2600)),
        ];
        let rows = availability(&operations, &[window(1.2, 1.2), window(2.55, 3.0)], 3.0);
        assert_eq!(rows[0].longest_silence, (1.5, 1.0, 2.5));
        assert_eq!((rows[0].acknowledged, rows[0].acknowledged_share), (0, 0.0));
        // After the last acknowledgement, the silence runs to the end of the run.
        let (silence, from, to) = rows[1].longest_silence;
        assert!((silence - 0.4).abs() < 1e-9 && (from, to) == (2.6, 3.0), "{:?}", rows[1]);
        assert_eq!((rows[1].acknowledged, rows[1].acknowledged_share), (1, 1.0));
        assert_eq!(
            availability_rows(&rows)[0],
            [
                "1.200-1.200".to_string(),
                "kill [n1] (leader)".to_string(),
                "0".to_string(),
                "0%".to_string(),
                "1.500 (1.000-2.500)".to_string()
            ]
        );
    }

    #[test]
    fn the_text_throughput_marks_where_faults_held() {
        let operations: Vec<Operation> =
            (0..30).map(|index| operation("read", "ok", index * 10, Some(index * 10 + 5))).collect();
        let series = throughput(&operations, 0.3);
        let text = throughput_text(&series, &[window(0.1, 0.2)], 0.3);
        assert_eq!(
            text,
            "throughput over 0.3 s (one character per 0.1 s; full bar = 10 operations):\n\
             \x20 read ok   |███| 30\n\
             \x20 fail      |   | 0\n\
             \x20 unknown   |   | 0\n\
             \x20 faults    | ^ |\n"
        );
    }
}
