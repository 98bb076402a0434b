//! The scale benchmark: histories of 50 clients over 10 keys, about 2,000 operations each, with
//! timeouts (unknown outcomes, the client replaced by a new process as Jepsen does), linearizable
//! (an atomic store) and not (a store whose reads are sometimes served from a stale replica). Every
//! key must be decided, with an explanation for each violation, within 1 s and 100 MB.
//!
//! `cargo bench -p checker --bench scale` (`-- --seeds N` for more histories of each kind; the
//! histories are written to `target/checker-scale/` for `cargo run -p checker -- check FILE`).

use checker::format::{self, Format};
use checker::history::History;
use checker::model::{Kind, Register};
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
fn generate(seed: u64, buggy: bool, values: Option<i64>) -> String {
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
    let mut values: Vec<Option<i64>> = vec![None; KEYS];
    let mut previous: Vec<Option<i64>> = vec![None; KEYS];
    let mut outcome: BTreeMap<usize, (bool, serde_json::Value)> = BTreeMap::new();
    for index in order {
        let operation = &planned[index];
        let key = operation.key;
        let result = match operation.f {
            "read" => {
                let seen = if buggy && rng.random_bool(STALE) { previous[key] } else { values[key] };
                (true, serde_json::json!(seen))
            }
            "write" => {
                previous[key] = values[key];
                values[key] = operation.input.as_i64();
                (true, operation.input.clone())
            }
            _ => {
                let expected = operation.input[0].as_i64();
                if values[key] == expected {
                    previous[key] = values[key];
                    values[key] = operation.input[1].as_i64();
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

/// Peak resident memory of this process so far (Linux), in bytes.
fn peak_memory() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kilobytes: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kilobytes * 1024)
}

fn main() {
    let mut seeds = 3u64;
    let mut arguments = std::env::args().skip(1);
    let fail = |message: String| -> ! {
        eprintln!("error: {message}");
        std::process::exit(2)
    };
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
            // Passed by `cargo bench`.
            "--bench" => {}
            other => fail(format!("{other}: expected --seeds N")),
        }
    }
    let directory = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/checker-scale");
    let _ = std::fs::create_dir_all(&directory);
    let model = Register::new(Kind::Kv);
    println!(
        "{CLIENTS} clients, {KEYS} keys, {OPERATIONS} operations per history, {:.0}% timeouts; buggy store: {:.0}% of reads stale; values unique or from 0..5",
        TIMEOUT * 100.0,
        STALE * 100.0
    );
    println!(
        "{:<30} {:>6} {:>8} {:>10} {:>10} {:>9} {:>11}",
        "history", "keys", "unknown", "verdict", "violating", "explained", "seconds"
    );
    let mut worst = Duration::ZERO;
    let mut all_decided = true;
    let mut violating_histories = 0;
    for (values, buggy) in [(None, false), (None, true), (Some(5), false), (Some(5), true)] {
        for seed in 1..=seeds {
            let text = generate(seed, buggy, values);
            let name = format!(
                "{}{}-{seed}.jsonl",
                if buggy { "stale-reads" } else { "atomic" },
                if values.is_some() { "-values5" } else { "" }
            );
            let _ = std::fs::write(directory.join(&name), &text);
            let started = Instant::now();
            let (events, _) = format::parse(&text, Format::Jsonl).expect("generated histories parse");
            let history = History::from_events(&events).expect("generated histories pair");
            let report = check(&model, &history, Options::default());
            let elapsed = started.elapsed();
            worst = worst.max(elapsed);
            let unknown = history.operations.iter().filter(|operation| operation.ret.is_none()).count();
            let violating = report.keys.iter().filter(|key| key.verdict == Verdict::NotLinearizable).count();
            let explained = report.keys.iter().filter(|key| key.explanation.is_some()).count();
            let decided = report.keys.iter().all(|key| key.verdict != Verdict::Inconclusive);
            // The atomic store's histories are linearizable by construction; a stale read of the
            // buggy store may go unnoticed (its read overlapped the write it missed).
            all_decided &=
                decided && explained == violating && (buggy || report.verdict == Verdict::Linearizable);
            violating_histories += usize::from(report.verdict == Verdict::NotLinearizable);
            println!(
                "{name:<30} {:>6} {unknown:>8} {:>10} {violating:>10} {explained:>9} {:>11.3}",
                report.keys.len(),
                format!("{:?}", report.verdict),
                elapsed.as_secs_f64()
            );
        }
    }
    let peak = peak_memory();
    println!();
    println!(
        "{violating_histories} of {} buggy-store histories not linearizable, every violation explained",
        2 * seeds
    );
    println!("slowest history: {:.3} s (target ≤ 1 s)", worst.as_secs_f64());
    match peak {
        Some(peak) => println!("peak memory of this process: {:.1} MB (target ≤ 100 MB)", peak as f64 / 1e6),
        None => println!("peak memory: unknown (no /proc/self/status)"),
    }
    println!("histories written to {}", directory.display());
    if !all_decided {
        eprintln!("error: a key was left undecided, a violation unexplained, or an atomic-store history judged not linearizable");
        std::process::exit(1);
    }
}
