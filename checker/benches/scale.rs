//! The scale benchmark: histories of 50 clients over 10 keys, about 2,000 operations each, with
//! timeouts (unknown outcomes, the client replaced by a new process as Jepsen does), linearizable
//! (an atomic store) and not (a store whose reads are sometimes served from a stale replica):
//! registers with cas (unique values, and values from 0..5) and key-value appends (get, put,
//! append of unique values, a key never written reading as ""). Every key must be decided, with an
//! explanation for each violation, within 1 s and 100 MB per history (each history's own peak).
//!
//! `cargo bench -p checker --bench scale` (`-- --seeds N` for more histories of each kind, `--
//! --porcupine DRIVER` to check each history with Porcupine too, in a process of its own with 60 s,
//! and print both side by side: `scripts/bench-checker-vs-porcupine.sh PORCUPINE_CHECKOUT`). The
//! histories are written to `target/checker-scale/` for `cargo run -p checker -- check FILE` (add
//! `--absent ""` for the append ones). A verdict that differs from Porcupine's fails the benchmark.

mod common;

use checker::format::{self, Format};
use checker::history::History;
use checker::model::{Kind, Register};
use checker::value::Value;
use checker::{check, Options, Verdict};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

const CLIENTS: usize = 50;
const KEYS: usize = 10;
const OPERATIONS: usize = 2_000;
/// Probability that a client times out waiting (the operation took effect or not, at random).
const TIMEOUT: f64 = 0.05;
/// In the buggy store, probability that a read is served from a replica one write behind.
const STALE: f64 = 0.02;

struct Planned {
    process: usize,
    key: usize,
    f: &'static str,
    input: serde_json::Value,
    invoke: u64,
    complete: u64,
    /// When it takes effect, if it does.
    effect: Option<u64>,
    timed_out: bool,
}

/// One history as JSON Lines, from a simulation of `CLIENTS` closed-loop clients against a store
/// that applies each operation atomically at a random instant between its invocation and its
/// completion; `stale` reads of the buggy store return the value before the latest write.
fn generate(seed: u64, buggy: bool, values: Option<i64>, append: bool) -> String {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut planned: Vec<Planned> = Vec::with_capacity(OPERATIONS);
    let mut clock = vec![0u64; CLIENTS];
    let mut process: Vec<usize> = (0..CLIENTS).collect();
    let mut next_process = CLIENTS;
    let mut next_value = [1i64; KEYS];
    while planned.len() < OPERATIONS {
        let client = rng.random_range(0..CLIENTS);
        let key = rng.random_range(0..KEYS);
        let invoke = clock[client] + 1 + rng.random_range(0..50);
        let latency = rng.random_range(10..400);
        let timed_out = rng.random_bool(TIMEOUT);
        let effect = (!timed_out || rng.random_bool(0.5)).then(|| invoke + rng.random_range(0..latency));
        let (f, input) = match rng.random_range(0..10) {
            0..5 => ("read", serde_json::Value::Null),
            number if append => {
                next_value[key] += 1;
                let unique = format!("{}.{};", next_value[key], planned.len());
                (if number < 6 { "write" } else { "append" }, serde_json::json!(unique))
            }
            5..8 => {
                next_value[key] += 1;
                let value = values.map_or(next_value[key], |values| rng.random_range(0..values));
                ("write", serde_json::json!(value))
            }
            _ => {
                next_value[key] += 1;
                let bound = values.unwrap_or(next_value[key]);
                let expected = rng.random_range(0..bound);
                let value = values.map_or(next_value[key], |values| rng.random_range(0..values));
                ("cas", serde_json::json!([expected, value]))
            }
        };
        // A timed-out client gives up after a long wait.
        let complete = if timed_out { invoke + 1_000 } else { invoke + latency };
        planned.push(Planned {
            process: process[client],
            key,
            f,
            input,
            invoke,
            complete,
            effect,
            timed_out,
        });
        clock[client] = complete;
        if timed_out {
            process[client] = next_process;
            next_process += 1;
        }
    }
    // Apply the effects in time order to find what each operation returned.
    let mut order: Vec<usize> = (0..planned.len()).filter(|&index| planned[index].effect.is_some()).collect();
    order.sort_by_key(|&index| planned[index].effect);
    let initial = if append { serde_json::json!("") } else { serde_json::Value::Null };
    let mut values: Vec<serde_json::Value> = vec![initial.clone(); KEYS];
    let mut previous: Vec<serde_json::Value> = vec![initial; KEYS];
    let mut outcome: BTreeMap<usize, (bool, serde_json::Value)> = BTreeMap::new();
    for index in order {
        let operation = &planned[index];
        let key = operation.key;
        let result = match operation.f {
            "read" => {
                let seen = if buggy && rng.random_bool(STALE) { &previous[key] } else { &values[key] };
                (true, seen.clone())
            }
            "write" => {
                previous[key] = std::mem::replace(&mut values[key], operation.input.clone());
                (true, operation.input.clone())
            }
            "append" => {
                let text = format!(
                    "{}{}",
                    values[key].as_str().unwrap_or_default(),
                    operation.input.as_str().unwrap_or_default()
                );
                previous[key] = std::mem::replace(&mut values[key], serde_json::json!(text));
                (true, operation.input.clone())
            }
            _ => {
                let expected = &operation.input[0];
                if values[key] == *expected {
                    previous[key] = std::mem::replace(&mut values[key], operation.input[1].clone());
                    (true, operation.input.clone())
                } else {
                    (false, operation.input.clone())
                }
            }
        };
        outcome.insert(index, result);
    }
    // Events in time order (an invocation before a completion at the same instant).
    let mut events: Vec<(u64, bool, usize)> = Vec::with_capacity(planned.len() * 2);
    for (index, operation) in planned.iter().enumerate() {
        events.push((operation.invoke, false, index));
        events.push((operation.complete, true, index));
    }
    events.sort();
    let mut text = String::new();
    for (time, is_completion, index) in events {
        let operation = &planned[index];
        let (kind, value) = if !is_completion {
            ("invoke", operation.input.clone())
        } else if operation.timed_out {
            ("info", operation.input.clone())
        } else {
            match outcome.get(&index) {
                Some((true, value)) => ("ok", value.clone()),
                Some((false, value)) => ("fail", value.clone()),
                None => unreachable!("a completed operation took effect"),
            }
        };
        let line = serde_json::json!({
            "process": operation.process, "type": kind, "f": operation.f,
            "key": format!("k{}", operation.key), "value": value, "time": time * 1_000,
        });
        let _ = writeln!(text, "{line}");
    }
    text
}

fn main() {
    let mut seeds = 3u64;
    let mut porcupine: Option<std::path::PathBuf> = None;
    let mut arguments = std::env::args().skip(1);
    let fail = |message: String| -> ! { common::fail(&message) };
    while let Some(argument) = arguments.next() {
        match argument.as_str() {
            "--seeds" => {
                let text = arguments.next().unwrap_or_default();
                seeds = match text.parse() {
                    Ok(seeds) if seeds > 0 => seeds,
                    _ => fail(format!(
                        "--seeds {text:?}: expected a positive number of histories of each kind"
                    )),
                };
            }
            "--porcupine" => {
                let path = std::path::PathBuf::from(arguments.next().unwrap_or_default());
                if !path.is_file() {
                    fail(format!("--porcupine {}: no such file: expected porcupine-driver", path.display()));
                }
                porcupine = Some(path);
            }
            // Passed by `cargo bench`.
            "--bench" => {}
            other => fail(format!("{other}: expected --seeds N or --porcupine DRIVER")),
        }
    }
    let directory = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/checker-scale");
    let _ = std::fs::create_dir_all(&directory);
    println!(
        "{CLIENTS} clients, {KEYS} keys, {OPERATIONS} operations per history, {:.0}% timeouts; buggy store: {:.0}% of reads stale; \
         cas registers with values unique or from 0..5, and key-value appends; seconds and peak memory per history, explanations included",
        TIMEOUT * 100.0,
        STALE * 100.0
    );
    let porcupine_columns = if porcupine.is_some() {
        format!(" {:>10} {:>9} {:>8}", "Porcupine", "seconds", "MB")
    } else {
        String::new()
    };
    println!(
        "{:<30} {:>5} {:>8} {:>16} {:>9} {:>9} {:>8} {:>6}{porcupine_columns}",
        "history", "keys", "unknown", "verdict", "violating", "explained", "seconds", "MB"
    );
    let (mut worst, mut worst_peak) = (Duration::ZERO, 0u64);
    let mut all_decided = true;
    let mut violating_histories = 0;
    let mut differ = Vec::new();
    let kinds = [
        ("atomic", None, false, false),
        ("stale-reads", None, true, false),
        ("atomic-values5", Some(5), false, false),
        ("stale-reads-values5", Some(5), true, false),
        ("append-atomic", None, false, true),
        ("append-stale-reads", None, true, true),
    ];
    for (label, values, buggy, append) in kinds {
        let model = if append {
            Register::new(Kind::Kv).with_absent(Value::Str(String::new()))
        } else {
            Register::new(Kind::Kv)
        };
        for seed in 1..=seeds {
            let text = generate(seed, buggy, values, append);
            let name = format!("{label}-{seed}.jsonl");
            let path = directory.join(&name);
            let _ = std::fs::write(&path, &text);
            common::reset_peak_memory();
            let started = Instant::now();
            let (events, _) = format::parse(&text, Format::Jsonl).expect("generated histories parse");
            let history = History::from_events(&events).expect("generated histories pair");
            let report = check(&model, &history, Options::default());
            let elapsed = started.elapsed();
            let peak = common::peak_memory().unwrap_or(0);
            worst = worst.max(elapsed);
            worst_peak = worst_peak.max(peak);
            let unknown = history.operations.iter().filter(|operation| operation.ret.is_none()).count();
            let violating = report.keys.iter().filter(|key| key.verdict == Verdict::NotLinearizable).count();
            let explained = report.keys.iter().filter(|key| key.explanation.is_some()).count();
            let decided = report.keys.iter().all(|key| key.verdict != Verdict::Inconclusive);
            // The atomic store's histories are linearizable by construction; a stale read of the
            // buggy store may go unnoticed (its read overlapped the write it missed).
            all_decided &=
                decided && explained == violating && (buggy || report.verdict == Verdict::Linearizable);
            violating_histories += usize::from(report.verdict == Verdict::NotLinearizable);
            let theirs = match &porcupine {
                Some(driver) => {
                    let result = common::run(driver, std::slice::from_ref(&path), append, 60.0).remove(0);
                    if result.agrees(report.verdict) == Some(false) {
                        differ
                            .push(format!("{name}: ours {:?}, Porcupine {}", report.verdict, result.verdict));
                    }
                    format!(
                        " {:>10} {:>9.3} {:>8.1}",
                        result.verdict,
                        result.seconds,
                        result.peak_bytes as f64 / 1e6
                    )
                }
                None => String::new(),
            };
            println!(
                "{name:<30} {:>5} {unknown:>8} {:>16} {violating:>9} {explained:>9} {:>8.3} {:>6.1}{theirs}",
                report.keys.len(),
                format!("{:?}", report.verdict),
                elapsed.as_secs_f64(),
                peak as f64 / 1e6
            );
        }
    }
    println!();
    println!(
        "{violating_histories} of {} buggy-store histories not linearizable, every violation explained",
        3 * seeds
    );
    println!("slowest history: {:.3} s (target ≤ 1 s)", worst.as_secs_f64());
    println!("largest peak memory of one history: {:.1} MB (target ≤ 100 MB)", worst_peak as f64 / 1e6);
    println!("histories written to {}", directory.display());
    if !differ.is_empty() {
        eprintln!("error: verdicts differ from Porcupine's:\n{}", differ.join("\n"));
        std::process::exit(1);
    }
    if !all_decided {
        eprintln!("error: a key was left undecided, a violation unexplained, or an atomic-store history judged not linearizable");
        std::process::exit(1);
    }
}
