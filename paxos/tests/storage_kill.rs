//! SIGKILL at any moment never loses an acknowledged write. In a test binary of its own: a child
//! process inherits open files between fork and exec, and would briefly hold the data-directory
//! locks of tests running beside it.

use paxos::core::{Ballot, Bytes, ClientId, GroupId, NodeId, Operation, Persist, Request, Slot, Value};
use paxos::storage::fs::StdFs;
use paxos::storage::{Storage, StorageOptions};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::path::PathBuf;
use std::sync::Arc;

fn value(n: u64, bytes: usize) -> Value {
    let request = Request {
        client: ClientId(n % 7 + 1),
        sequence: n,
        operations: vec![Operation::Put {
            key: Bytes::from(format!("k{n}")),
            value: Bytes::from(vec![b'v'; bytes]),
        }],
    };
    Value::Batch(Arc::new(vec![request]))
}

/// The writer's Paxos groups: slot `n` is written by group `n mod GROUPS`, all into one log.
const GROUPS: u16 = 4;

fn open(dir: &std::path::Path) -> (Storage<StdFs>, Vec<paxos::core::DurableState>) {
    let (storage, states, _) = Storage::open_groups(
        Arc::new(StdFs),
        dir,
        StorageOptions { segment_bytes: 1 << 20, groups: GROUPS, ..StorageOptions::default() },
    )
    .expect("open the storage");
    (storage, states)
}

/// SIGKILL at random moments of a group-committing writer process whose writes belong to four
/// Paxos groups sharing the log; every restart recovers every write whose completion the process
/// reported (an acknowledged write), in its group, and nothing out of order.
#[test]
fn sigkill_never_loses_an_acknowledged_write() {
    use std::io::BufRead;
    let dir = std::env::temp_dir().join(format!("paxos-storage-kill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let seed = std::env::var("SIGKILL_SEED").ok().and_then(|seed| seed.parse().ok()).unwrap_or(7);
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut acked_max = 0u64;
    let mut kills = 0;
    for round in 0..6 {
        let reproduce =
            format!("round {round}: SIGKILL_SEED={seed} cargo test -p paxos --test storage sigkill");
        let mut child = std::process::Command::new(std::env::current_exe().expect("test binary"))
            .args(["--ignored", "--exact", "sigkill_writer_process", "--nocapture", "--test-threads=1"])
            .env("PAXOS_SIGKILL_DIR", &dir)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("spawn the writer");
        let stdout = child.stdout.take().expect("stdout");
        let (lines, received) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        // The test harness prints its own lines first.
        let first = loop {
            let line = received
                .recv_timeout(std::time::Duration::from_secs(30))
                .expect("the writer reports its recovery");
            // On the harness's "test ... " line.
            if let Some(at) = line.find("recovered ") {
                break line[at + "recovered ".len()..].to_string();
            }
        };
        let recovered: Vec<u64> = first.split(' ').map(|n| n.parse().expect("number")).collect();
        let (count, max) = (recovered[0], recovered[1]);
        assert_eq!(count, max, "{reproduce}: the recovered slots are a prefix 1..={max}");
        assert!(
            max >= acked_max,
            "{reproduce}: slot {acked_max} was acknowledged before the kill, only {max} recovered"
        );
        let deadline =
            std::time::Instant::now() + std::time::Duration::from_millis(rng.random_range(20..300));
        while std::time::Instant::now() < deadline {
            if let Ok(line) = received.recv_timeout(std::time::Duration::from_millis(1)) {
                if let Some(slot) = line.strip_prefix("acked ") {
                    acked_max = acked_max.max(slot.parse().expect("slot"));
                }
            }
        }
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        kills += 1;
        // Acknowledgements printed before the kill still count.
        while let Ok(line) = received.recv_timeout(std::time::Duration::from_millis(50)) {
            if let Some(slot) = line.strip_prefix("acked ") {
                acked_max = acked_max.max(slot.parse().expect("slot"));
            }
        }
        reader.join().expect("reader");
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!("{kills} kills; {acked_max} slots acknowledged in all, none lost");
    assert!(acked_max > 0, "the writer acknowledged nothing");
}

/// The writer that `sigkill_never_loses_an_acknowledged_write` kills (runs only from there).
#[test]
#[ignore = "a helper process for sigkill_never_loses_an_acknowledged_write"]
fn sigkill_writer_process() {
    use std::io::Write;
    let dir = PathBuf::from(std::env::var("PAXOS_SIGKILL_DIR").expect("run by the sigkill test"));
    let (storage, states) = open(&dir);
    for (group, state) in states.iter().enumerate() {
        if let Some(slot) = state.accepted.keys().find(|slot| slot.0 % u64::from(GROUPS) != group as u64) {
            panic!("slot {} was written by group {}, recovered in group {group}", slot.0, slot.0 % 4);
        }
    }
    let max =
        states.iter().filter_map(|state| state.accepted.keys().last()).map(|slot| slot.0).max().unwrap_or(0);
    let count: usize = states.iter().map(|state| state.accepted.len()).sum();
    println!("recovered {count} {max}");
    let durable = Arc::new((std::sync::Mutex::new(0u64), std::sync::Condvar::new()));
    let report = durable.clone();
    let committer = Arc::new(
        paxos::storage::group::Committer::start(storage, None, move |outcome| {
            *report.0.lock().expect("lock") = outcome.expect("durable");
            report.1.notify_all();
        })
        .expect("storage thread"),
    );
    let next = Arc::new(std::sync::Mutex::new(max + 1));
    let writers: Vec<_> = (0..8)
        .map(|_| {
            let (committer, next, durable) = (committer.clone(), next.clone(), durable.clone());
            std::thread::spawn(move || loop {
                let (slot, ticket) = {
                    // Submission order is slot order, so the log is always a prefix.
                    let mut next = next.lock().expect("lock");
                    let slot = *next;
                    *next += 1;
                    let ballot = Ballot { round: 1, node: NodeId(1) };
                    (
                        slot,
                        committer.submit(
                            GroupId((slot % u64::from(GROUPS)) as u16),
                            vec![Persist::Accept { slot: Slot(slot), ballot, value: value(slot, 100) }],
                        ),
                    )
                };
                let mut through = durable.0.lock().expect("lock");
                while *through < ticket {
                    through = durable.1.wait(through).expect("wait");
                }
                drop(through);
                let mut stdout = std::io::stdout().lock();
                writeln!(stdout, "acked {slot}").expect("stdout");
                stdout.flush().expect("flush");
            })
        })
        .collect();
    for writer in writers {
        writer.join().expect("writer");
    }
}
