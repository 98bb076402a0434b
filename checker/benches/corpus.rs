//! The corpus benchmark: every Jepsen etcd history of `checker/tests/data/jepsen-etcd/`, checked as the
//! CLI checks it (parse, pair, split per key, search), on one thread; per file, the median of
//! several runs. Two figures: the verdict alone (what Porcupine computes) and the verdict with the
//! minimal explanation of each violation (what `checker check` prints by default).
//!
//! `cargo bench -p checker --bench corpus` (`-- --runs N`, `-- --dir DIR` for another corpus,
//! `-- --all` for every file rather than the slowest eight).
//! On one thread and with nothing else to wait for, wall time is CPU time.

use checker::format::{self, Format};
use checker::history::History;
use checker::model::{Kind, Register};
use checker::{check, Options, Verdict};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Porcupine v1.3.0 on this class of machine (the corpus README): all files, and `etcd_002`.
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
            "--all" => all = true,
            "--bench" => {}
            other => fail(&format!("{other}: expected --runs N, --dir DIR or --all")),
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
    println!();
    println!(
        "total, verdicts:            {:>9.1} ms   (target ≤ {:.0} ms; Porcupine v1.3.0 ≈ {:.0} ms: {:.1}× faster)",
        ms(total),
        TARGET_TOTAL * 1e3,
        PORCUPINE_TOTAL * 1e3,
        PORCUPINE_TOTAL / total.as_secs_f64()
    );
    println!("total, with explanations:   {:>9.1} ms", ms(total_explained));
    if let Some((_, _, alone, with)) = etcd_002 {
        println!(
            "etcd_002, verdict:          {:>9.3} ms   (target ≤ {:.0} ms; Porcupine ≈ {:.0} ms: {:.0}× faster); with explanation {:.3} ms",
            ms(*alone),
            TARGET_002 * 1e3,
            PORCUPINE_002 * 1e3,
            PORCUPINE_002 / alone.as_secs_f64(),
            ms(*with)
        );
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(2);
}
