//! The corpus benchmark: every Jepsen etcd history of `checker/tests/data/jepsen-etcd/`, checked as the
//! CLI checks it (parse, pair, split per key, search), on one thread; per file, the median of
//! several runs. Two figures: the verdict alone (what Porcupine computes) and the verdict with the
//! minimal explanation of each violation (what `checker check` prints by default).
//!
//! `cargo bench -p checker --bench corpus` (`-- --runs N`, `-- --dir DIR` for another corpus,
//! `-- --all` for every file rather than the slowest eight, `-- --porcupine DRIVER` to check every
//! file with Porcupine too, in one process as it is usually measured, and compare verdicts and
//! times side by side: `scripts/bench-checker-vs-porcupine.sh PORCUPINE_CHECKOUT` builds the driver
//! and passes it). A verdict that differs from Porcupine's fails the benchmark.
//! On one thread and with nothing else to wait for, wall time is CPU time.

mod common;

use checker::format::{self, Format};
use checker::history::History;
use checker::model::{Kind, Register};
use checker::{check, Options, Verdict};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Porcupine v1.3.0 as published for this class of machine: all files, and `etcd_002`; shown when
/// no driver is given to measure it in the same run.
const PORCUPINE_TOTAL: f64 = 0.62;
const PORCUPINE_002: f64 = 0.26;
const TARGET_TOTAL: f64 = 0.065;
const TARGET_002: f64 = 0.025;

fn time(text: &str, explain: bool) -> (Duration, Verdict) {
    let started = Instant::now();
    let (events, _) = format::parse(text, Format::Auto).expect("corpus files parse");
    let history = History::from_events(&events).expect("corpus files pair");
    let report =
        check(&Register::new(Kind::CasRegister), &history, Options { explain, ..Options::default() });
    (started.elapsed(), report.verdict)
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    let mut runs = 5usize;
    let mut all = false;
    let mut porcupine: Option<PathBuf> = None;
    let mut directory = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/jepsen-etcd");
    let mut arguments = std::env::args().skip(1);
    while let Some(argument) = arguments.next() {
        match argument.as_str() {
            "--runs" => {
                let text = arguments.next().unwrap_or_default();
                runs = match text.parse() {
                    Ok(runs) if runs > 0 => runs,
                    _ => fail(&format!("--runs {text:?}: expected a positive number")),
                };
            }
            "--dir" => directory = PathBuf::from(arguments.next().unwrap_or_default()),
            "--porcupine" => {
                let path = PathBuf::from(arguments.next().unwrap_or_default());
                if !path.is_file() {
                    fail(&format!("--porcupine {}: no such file: expected porcupine-driver", path.display()));
                }
                porcupine = Some(path);
            }
            "--all" => all = true,
            "--bench" => {}
            other => fail(&format!("{other}: expected --runs N, --dir DIR, --all or --porcupine DRIVER")),
        }
    }
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&directory) {
        Ok(entries) => entries
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| path.extension().is_some_and(|extension| extension == "log"))
            .collect(),
        Err(error) => fail(&format!("{}: {error}: expected the Jepsen etcd corpus", directory.display())),
    };
    files.sort();
    let mut rows = Vec::new();
    let mut texts = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|error| fail(&format!("{}: {error}", path.display())));
        let mut verdict_only = Vec::new();
        let mut explained = Vec::new();
        let mut verdict = Verdict::Linearizable;
        for _ in 0..runs {
            let (elapsed, found) = time(&text, false);
            verdict_only.push(elapsed);
            verdict = found;
            explained.push(time(&text, true).0);
        }
        let name = path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
        rows.push((name, verdict, median(verdict_only), median(explained)));
        texts.push(text);
    }
    let total: Duration = rows.iter().map(|row| row.2).sum();
    let total_explained: Duration = rows.iter().map(|row| row.3).sum();
    let mut slowest = rows.clone();
    slowest.sort_by_key(|row| std::cmp::Reverse(row.2));
    println!("{} files, median of {runs} runs each, one thread", rows.len());
    println!("{:<14} {:>18} {:>12} {:>16}", "file", "verdict", "verdict ms", "+ explained ms");
    let shown = if all { slowest.len() } else { 8 };
    for (name, verdict, alone, with) in slowest.iter().take(shown) {
        println!("{name:<14} {:>18} {:>12.3} {:>16.3}", format!("{verdict:?}"), ms(*alone), ms(*with));
    }
    let etcd_002 = rows.iter().find(|row| row.0 == "etcd_002.log");
    // Porcupine in this run, or its published figures.
    let (porcupine_total, porcupine_002, measured) = match &porcupine {
        Some(driver) => {
            let (total, file_002) = porcupine_side_by_side(driver, &rows, &texts);
            (total, file_002, "Porcupine in this run")
        }
        None => (PORCUPINE_TOTAL, PORCUPINE_002, "Porcupine v1.3.0 as published"),
    };
    println!();
    println!(
        "total, verdicts:            {:>9.1} ms   (target ≤ {:.0} ms; {measured} {:.0} ms: {:.1}× faster)",
        ms(total),
        TARGET_TOTAL * 1e3,
        porcupine_total * 1e3,
        porcupine_total / total.as_secs_f64()
    );
    println!("total, with explanations:   {:>9.1} ms", ms(total_explained));
    if let Some((_, _, alone, with)) = etcd_002 {
        println!(
            "etcd_002, verdict:          {:>9.3} ms   (target ≤ {:.0} ms; {measured} {:.0} ms: {:.0}× faster); with explanation {:.3} ms",
            ms(*alone),
            TARGET_002 * 1e3,
            porcupine_002 * 1e3,
            porcupine_002 / alone.as_secs_f64(),
            ms(*with)
        );
    }
    if let Some(peak) = common::peak_memory() {
        println!("peak memory of this process: {:.1} MB", peak as f64 / 1e6);
    }
}

/// Checks every file with Porcupine in one process (the files written as JSON Lines beside the
/// build), prints any verdict that differs and exits if one does; returns Porcupine's total time
/// and its time for `etcd_002`.
fn porcupine_side_by_side(
    driver: &std::path::Path,
    rows: &[(String, Verdict, Duration, Duration)],
    texts: &[String],
) -> (f64, f64) {
    let folder = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/checker-corpus");
    std::fs::create_dir_all(&folder).unwrap_or_else(|error| fail(&format!("{}: {error}", folder.display())));
    let mut paths = Vec::new();
    for ((name, ..), text) in rows.iter().zip(texts) {
        let (events, _) = format::parse(text, Format::Auto).expect("corpus files parse");
        let path = folder.join(name.replace(".log", ".jsonl"));
        std::fs::write(&path, common::jsonl(&events))
            .unwrap_or_else(|error| fail(&format!("{}: {error}", path.display())));
        paths.push(path);
    }
    let results = common::run(driver, &paths, false, 60.0);
    let mut differ = Vec::new();
    let mut undecided = 0;
    for ((name, verdict, ..), result) in rows.iter().zip(&results) {
        match result.agrees(*verdict) {
            Some(true) => {}
            Some(false) => differ.push(format!("{name}: ours {verdict:?}, Porcupine {}", result.verdict)),
            None => undecided += 1,
        }
    }
    let total: f64 = results.iter().map(|result| result.seconds).sum();
    let file_002 = rows
        .iter()
        .zip(&results)
        .find(|((name, ..), _)| name == "etcd_002.log")
        .map_or(0.0, |(_, result)| result.seconds);
    let peak = results.iter().map(|result| result.peak_bytes).max().unwrap_or(0);
    println!();
    println!(
        "Porcupine ({}): {} files in one process, total {:.1} ms, etcd_002 {:.1} ms, peak memory {:.1} MB; verdicts: {} agree, {} differ, {undecided} undecided by either",
        driver.display(),
        results.len(),
        total * 1e3,
        file_002 * 1e3,
        peak as f64 / 1e6,
        results.len() - differ.len() - undecided,
        differ.len()
    );
    if !differ.is_empty() {
        eprintln!("error: verdicts differ from Porcupine's:\n{}", differ.join("\n"));
        std::process::exit(1);
    }
    (total, file_002)
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

fn fail(message: &str) -> ! {
    common::fail(message)
}
