//! The write-ahead log with fsync on, against the physical limit of the same directory.
//!
//! Cases, interleaved within each run so that every ratio is measured side by side (the disk of
//! this class of machine switches between a fast and a slow state for seconds to minutes):
//!
//! - **raw**: a loop of 100-byte `write` + `fdatasync` into space reserved ahead (as the log
//!   writes: a write that grows a file also journals its new size): the physical limit.
//! - **single**: one writer, `Storage::append` of one 100-byte record then `Storage::sync`.
//! - **group N**: N concurrent writers (tokio tasks) each submitting one 100-byte record to the
//!   group-commit thread and waiting for it to be durable, in a closed loop.
//! - **storage, 256 per sync**: `Storage::append` of 256 records at once, then `Storage::sync`, on
//!   one thread: the storage's own ceiling for that batch size (encoding, checksums, bookkeeping).
//! - **raw, 256 per sync**: 25,600 bytes written at once, then `fdatasync`: the disk's limit for
//!   the batch size that 256 writers give.
//!
//! Run: `cargo bench -p paxos --bench storage`. Environment: `STORAGE_BENCH_SECONDS` per case and
//! run (default 2), `STORAGE_BENCH_RUNS` (default 3; medians are reported),
//! `STORAGE_BENCH_DIR` (default `target/storage-bench`; it is emptied first).
//! Targets: group commit ≥ 200,000 records/s; single writer ≥ 80% of the raw sync rate.

use paxos::core::{Ballot, Bytes, ClientId, NodeId, Operation, Persist, Request, Slot, Value};
use paxos::storage::format::{self, EntryRef};
use paxos::storage::fs::{AppendFile, FileSystem, StdFs};
use paxos::storage::group::Committer;
use paxos::storage::{Storage, StorageOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tabled::{settings::Style, Table, Tabled};

const RECORD_BYTES: usize = 100;
const GROUP_TARGET: f64 = 200_000.0;
const SINGLE_TARGET: f64 = 0.8;

fn env_number(name: &str, default: f64) -> f64 {
    match std::env::var(name) {
        Err(_) => default,
        Ok(text) => match text.parse::<f64>() {
            Ok(value) if value > 0.0 => value,
            _ => {
                eprintln!("error: {name}={text:?}: expected a positive number");
                std::process::exit(2);
            }
        },
    }
}

/// An accept whose framed record is `RECORD_BYTES` long.
fn record(n: u64) -> Persist {
    let make = |value_bytes: usize| {
        let request = Request {
            client: ClientId(n % 64 + 1),
            sequence: n,
            operations: vec![Operation::Put {
                key: Bytes::from(format!("key{:05}", n % 10_000)),
                value: Bytes::from(vec![b'x'; value_bytes]),
            }],
        };
        Persist::Accept {
            slot: Slot(n % 4096),
            ballot: Ballot { round: 1, node: NodeId(1) },
            value: Value::Batch(Arc::new(vec![request])),
        }
    };
    static VALUE_BYTES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let value_bytes = *VALUE_BYTES.get_or_init(|| {
        let mut buf = Vec::new();
        format::encode_record(&[EntryRef::Persist(paxos::core::GroupId(0), &make(0))], &mut buf);
        RECORD_BYTES.saturating_sub(buf.len())
    });
    make(value_bytes)
}

struct Measure {
    records: u64,
    bytes: u64,
    syncs: u64,
    elapsed: Duration,
}

impl Measure {
    fn rate(&self) -> f64 {
        self.records as f64 / self.elapsed.as_secs_f64()
    }
}

fn fresh(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let _ = std::fs::remove_dir_all(&path);
    std::fs::create_dir_all(&path).expect("create the benchmark directory");
    path
}

/// `per_sync` records of 100 bytes written at once, then `fdatasync`, in a loop, into space
/// reserved 1 MiB ahead.
fn raw(dir: &Path, seconds: f64, per_sync: u64) -> Measure {
    let path = fresh(dir, &format!("raw-{per_sync}"));
    let mut file = StdFs.create(&path.join("raw.log")).expect("create");
    let payload = vec![b'r'; RECORD_BYTES * per_sync as usize];
    let (started, mut syncs, mut reserved) = (Instant::now(), 0u64, 0u64);
    while started.elapsed().as_secs_f64() < seconds {
        let end = (syncs + 1) * payload.len() as u64;
        if end > reserved {
            reserved = end + (1 << 20);
            file.reserve(reserved).expect("reserve");
        }
        file.append(&payload).expect("write");
        file.sync_data().expect("fdatasync");
        syncs += 1;
    }
    let records = syncs * per_sync;
    Measure { records, bytes: records * RECORD_BYTES as u64, syncs, elapsed: started.elapsed() }
}

fn single(dir: &Path, seconds: f64) -> Measure {
    let path = fresh(dir, "single");
    let (mut storage, _, _) = Storage::open(Arc::new(StdFs), &path, StorageOptions::default()).expect("open");
    let (started, mut n) = (Instant::now(), 0u64);
    while started.elapsed().as_secs_f64() < seconds {
        storage.append(std::slice::from_ref(&record(n))).expect("append");
        storage.sync().expect("sync");
        n += 1;
    }
    let stats = storage.stats();
    Measure { records: n, bytes: stats.bytes, syncs: stats.syncs, elapsed: started.elapsed() }
}

/// `Storage::append` of `per_sync` records as one batch, then `Storage::sync`, on one thread.
fn batched(dir: &Path, seconds: f64, per_sync: u64) -> Measure {
    let path = fresh(dir, &format!("batched-{per_sync}"));
    let (mut storage, _, _) = Storage::open(Arc::new(StdFs), &path, StorageOptions::default()).expect("open");
    let (started, mut n) = (Instant::now(), 0u64);
    while started.elapsed().as_secs_f64() < seconds {
        let batch: Vec<Persist> = (n..n + per_sync).map(record).collect();
        storage.append(&batch).expect("append");
        storage.sync().expect("sync");
        n += per_sync;
    }
    let stats = storage.stats();
    Measure { records: n, bytes: stats.bytes, syncs: stats.syncs, elapsed: started.elapsed() }
}

fn group(dir: &Path, seconds: f64, writers: u64) -> Measure {
    let path = fresh(dir, &format!("group-{writers}"));
    let (storage, _, _) = Storage::open(Arc::new(StdFs), &path, StorageOptions::default()).expect("open");
    let (report, durable) = tokio::sync::watch::channel(0u64);
    let committer = Arc::new(
        Committer::start(storage, None, move |outcome| {
            let _ = report.send(outcome.expect("durable"));
        })
        .expect("storage thread"),
    );
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(seconds);
    let records: u64 = runtime.block_on(async {
        let tasks: Vec<_> = (0..writers)
            .map(|writer| {
                let committer = committer.clone();
                let mut durable = durable.clone();
                tokio::spawn(async move {
                    let mut n = writer;
                    let mut done = 0u64;
                    while Instant::now() < deadline {
                        let ticket = committer.submit(paxos::core::GroupId(0), vec![record(n)]);
                        durable.wait_for(|&through| through >= ticket).await.expect("storage thread");
                        n += writers;
                        done += 1;
                    }
                    done
                })
            })
            .collect();
        let mut total = 0;
        for task in tasks {
            total += task.await.expect("writer");
        }
        total
    });
    let elapsed = started.elapsed();
    let stats = committer.stats();
    Measure { records, bytes: stats.bytes, syncs: stats.syncs, elapsed }
}

#[derive(Tabled)]
struct Row {
    case: String,
    #[tabled(rename = "records/s")]
    rate: String,
    #[tabled(rename = "MB/s")]
    throughput: String,
    #[tabled(rename = "syncs/s")]
    syncs: String,
    #[tabled(rename = "records/sync")]
    per_sync: String,
    #[tabled(rename = "vs raw")]
    ratio: String,
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let seconds = env_number("STORAGE_BENCH_SECONDS", 2.0);
    let runs = env_number("STORAGE_BENCH_RUNS", 3.0) as usize;
    let dir = PathBuf::from(
        std::env::var("STORAGE_BENCH_DIR").unwrap_or_else(|_| "target/storage-bench".to_string()),
    );
    if let Err(error) = std::fs::create_dir_all(&dir) {
        eprintln!("error: STORAGE_BENCH_DIR={}: cannot create it: {error}", dir.display());
        std::process::exit(2);
    }
    let cases: Vec<(String, Box<dyn Fn() -> Measure>)> = {
        let d = dir.clone();
        let mut cases: Vec<(String, Box<dyn Fn() -> Measure>)> = vec![
            ("raw write + fdatasync".to_string(), Box::new(move || raw(&d, seconds, 1))),
            (
                "single writer".to_string(),
                Box::new({
                    let d = dir.clone();
                    move || single(&d, seconds)
                }),
            ),
        ];
        for writers in [1, 16, 256] {
            let d = dir.clone();
            cases.push((
                format!("group commit, {writers} writers"),
                Box::new(move || group(&d, seconds, writers)),
            ));
        }
        let d = dir.clone();
        cases.push((
            "storage, 256 records per sync, one thread".to_string(),
            Box::new(move || batched(&d, seconds, 256)),
        ));
        let d = dir.clone();
        cases.push(("raw, 256 records per fdatasync".to_string(), Box::new(move || raw(&d, seconds, 256))));
        cases
    };
    println!(
        "write-ahead log, {RECORD_BYTES}-byte records, fsync on; {runs} runs of {seconds} s per case in {}",
        dir.display()
    );
    let mut results: Vec<Vec<(Measure, f64)>> = (0..cases.len()).map(|_| Vec::new()).collect();
    for run in 1..=runs {
        let mut raw_rate = 0.0;
        for (index, (name, case)) in cases.iter().enumerate() {
            let measure = case();
            if index == 0 {
                raw_rate = measure.rate();
            }
            eprintln!("run {run}: {name}: {:.0} records/s", measure.rate());
            let ratio = measure.rate() / raw_rate;
            results[index].push((measure, ratio));
        }
    }
    let rows: Vec<Row> = cases
        .iter()
        .zip(&results)
        .map(|((name, _), measures)| {
            let rate = median(measures.iter().map(|(m, _)| m.rate()).collect());
            let mb = median(
                measures.iter().map(|(m, _)| m.bytes as f64 / m.elapsed.as_secs_f64() / 1e6).collect(),
            );
            let syncs =
                median(measures.iter().map(|(m, _)| m.syncs as f64 / m.elapsed.as_secs_f64()).collect());
            let per_sync =
                median(measures.iter().map(|(m, _)| m.records as f64 / m.syncs.max(1) as f64).collect());
            let ratio = median(measures.iter().map(|(_, ratio)| *ratio).collect());
            Row {
                case: name.clone(),
                rate: format!("{rate:.0}"),
                throughput: format!("{mb:.2}"),
                syncs: format!("{syncs:.0}"),
                per_sync: format!("{per_sync:.1}"),
                ratio: format!("{ratio:.2}x"),
            }
        })
        .collect();
    println!("{}", Table::new(rows).with(Style::markdown()));
    let single_ratio = median(results[1].iter().map(|(_, ratio)| *ratio).collect());
    let group_best = results[2..5]
        .iter()
        .map(|runs| median(runs.iter().map(|(m, _)| m.rate()).collect()))
        .fold(0.0, f64::max);
    println!(
        "single writer: {single_ratio:.2}x the raw sync rate (target {SINGLE_TARGET:.2}x: {})",
        if single_ratio >= SINGLE_TARGET { "met" } else { "NOT met" }
    );
    println!(
        "group commit: {group_best:.0} records/s at best (target {GROUP_TARGET:.0}: {}, {:.2}x)",
        if group_best >= GROUP_TARGET { "met" } else { "NOT met" },
        group_best / GROUP_TARGET
    );
    let batched = median(results[6].iter().map(|(m, _)| m.rate()).collect());
    println!("group commit, 256 writers: {:.2}x the raw rate of 256 records per fdatasync (the disk's limit for that batch size)", median(results[4].iter().map(|(m, _)| m.rate()).collect()) / batched);
    let _ = std::fs::remove_dir_all(&dir);
}
