//! What the corpus and scale benchmarks share: writing a history in the checker's JSON Lines,
//! running Porcupine on it through `porcupine-driver` (built by
//! `scripts/bench-checker-vs-porcupine.sh`), and this process's peak memory. Each benchmark uses
//! some of it, hence `dead_code` is allowed.
#![allow(dead_code)]

use checker::history::{Event, EventType};
use checker::Verdict;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One history as Porcupine judged it.
pub struct Porcupine {
    /// `Ok`, `Illegal` or `Unknown` (its time limit).
    pub verdict: String,
    /// Its checking time, as the driver measured it.
    pub seconds: f64,
    /// The driver process's peak resident memory after it.
    pub peak_bytes: u64,
}

impl Porcupine {
    /// Whether it agrees with `ours`: `None` when either is undecided.
    pub fn agrees(&self, ours: Verdict) -> Option<bool> {
        match (self.verdict.as_str(), ours) {
            (_, Verdict::Inconclusive) | ("Unknown", _) => None,
            ("Ok", verdict) => Some(verdict == Verdict::Linearizable),
            (_, verdict) => Some(verdict == Verdict::NotLinearizable),
        }
    }
}

/// `events` as the checker's JSON Lines.
pub fn jsonl(events: &[Event]) -> String {
    let mut text = String::new();
    for event in events {
        let kind = match event.kind {
            EventType::Invoke => "invoke",
            EventType::Ok => "ok",
            EventType::Fail => "fail",
            EventType::Info => "info",
        };
        let line = serde_json::json!({
            "process": event.process, "type": kind, "f": event.f, "key": event.key, "value": event.value.to_json(),
        });
        text.push_str(&line.to_string());
        text.push('\n');
    }
    text
}

/// Runs the driver on `files` in one process (with `timeout_seconds` per history); one result per
/// file, in order.
pub fn run(driver: &Path, files: &[PathBuf], absent_empty: bool, timeout_seconds: f64) -> Vec<Porcupine> {
    let mut command = Command::new(driver);
    command.arg("-timeout").arg(timeout_seconds.to_string());
    if absent_empty {
        command.arg("-absent-empty");
    }
    let output = command
        .args(files)
        .output()
        .unwrap_or_else(|error| fail(&format!("--porcupine {}: {error}", driver.display())));
    if !output.status.success() {
        fail(&format!(
            "--porcupine {}: exit {:?}: {}",
            driver.display(),
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let results: Vec<Porcupine> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| {
            let json: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|error| fail(&format!("porcupine-driver printed {line:?}: {error}")));
            Porcupine {
                verdict: json["verdict"].as_str().unwrap_or_default().to_string(),
                seconds: json["seconds"].as_f64().unwrap_or_default(),
                peak_bytes: json["peak_bytes"].as_u64().unwrap_or_default(),
            }
        })
        .collect();
    if results.len() != files.len() {
        fail(&format!("porcupine-driver judged {} of {} histories", results.len(), files.len()));
    }
    results
}

/// Peak resident memory of this process since the last [`reset_peak_memory`] (Linux), in bytes.
pub fn peak_memory() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kilobytes: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kilobytes * 1024)
}

/// Starts the peak resident memory again from what the process holds now (Linux's
/// `clear_refs` 5), so that each history's peak is its own.
pub fn reset_peak_memory() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

pub fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(2);
}
