//! The storage's promises: replay yields exactly what was persisted; an unfinished write at the
//! end is cut away and nothing synced is lost; every damaged byte is detected; on turmoil's
//! simulated disk a crash keeps exactly what was synced.

use paxos::core::{
    Ballot, Bytes, ClientId, ClusterId, DurableState, GroupId, KvStore, NodeId, Operation, Persist, Request,
    Slot, Value,
};
use paxos::storage::fs::{AppendFile, FileSystem, StdFs};
use paxos::storage::{Storage, StorageError, StorageOptions};
use paxos::testkit::{Options, Recorded, Simulation};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A fresh directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("paxos-storage-{}-{name}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a temporary directory");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn open(
    dir: &Path,
    options: &StorageOptions,
) -> Result<(Storage<StdFs>, DurableState, paxos::storage::Recovery), StorageError> {
    Storage::open(Arc::new(StdFs), dir, options.clone())
}

/// Files exactly as long as their records: for the tests that address records by file length
/// (space reserved ahead of the writes has tests of its own).
fn exact() -> StorageOptions {
    StorageOptions { reserve_bytes: 0, ..StorageOptions::default() }
}

fn small_segments() -> StorageOptions {
    StorageOptions { segment_bytes: 2048, ..StorageOptions::default() }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|value| value.parse().ok()).unwrap_or(default)
}

/// Replay property over what the real core persists: every replica of seeded cluster runs (with
/// crashes, storage wipes, snapshots) writes its persists, in group-commit batches of random
/// size, with reopenings at random points; every reopening and the final one yield exactly the
/// durable state the core held.
#[test]
fn replay_yields_the_durable_state_of_the_core() {
    let seeds = match std::env::var("STORAGE_SEED").ok().and_then(|seed| seed.parse().ok()) {
        Some(seed) => seed..seed + 1,
        None => 0..env_u64("STORAGE_SEEDS", 12),
    };
    for seed in seeds {
        let mut options = Options::swarm(3, seed);
        options.record_persists = true;
        let summary = Simulation::new(seed, options).run().unwrap_or_else(|violation| panic!("{violation}"));
        let mut rng = SmallRng::seed_from_u64(seed);
        for (index, events) in summary.persists.iter().enumerate() {
            let reproduce = format!(
                "seed {seed}, replica {}: STORAGE_SEED={seed} cargo test -p paxos --test storage replay",
                index + 1
            );
            let dir = TempDir::new("replay");
            let (mut storage, recovered, _) = open(&dir.0, &small_segments()).expect("open");
            assert_eq!(recovered, DurableState::lost());
            let mut expected = DurableState::lost();
            let mut batch = Vec::new();
            let mut events = events.iter().peekable();
            while let Some(event) = events.next() {
                match event {
                    Recorded::Step(persists) => {
                        for persist in persists {
                            expected.apply(persist);
                        }
                        batch.extend(persists.iter().cloned());
                        // Group commit: steps that arrive during a sync share the next record.
                        if rng.random_bool(0.6)
                            || events.peek().is_none_or(|next| matches!(next, Recorded::Wipe))
                        {
                            storage.append(&batch).expect("append");
                            storage.sync().expect("sync");
                            batch.clear();
                            assert_eq!(
                                storage.state(GroupId(0)),
                                &expected,
                                "{reproduce}: the storage's own view"
                            );
                        }
                    }
                    Recorded::Wipe => {
                        drop(storage);
                        std::fs::remove_dir_all(&dir.0).expect("wipe");
                        expected = DurableState::lost();
                        let (reopened, recovered, _) =
                            open(&dir.0, &small_segments()).expect("open after wipe");
                        assert_eq!(recovered, expected, "{reproduce}: after a wipe");
                        storage = reopened;
                    }
                }
                if batch.is_empty() && rng.random_bool(0.05) {
                    drop(storage);
                    let (reopened, recovered, _) = open(&dir.0, &small_segments()).expect("reopen");
                    assert_eq!(recovered, expected, "{reproduce}: after a reopening");
                    storage = reopened;
                }
            }
            let stats = storage.stats();
            drop(storage);
            let (_, recovered, recovery) = open(&dir.0, &small_segments()).expect("final reopen");
            assert_eq!(recovered, summary.durable[index], "{reproduce}: final state against the core's");
            assert_eq!(recovery.truncated, None, "{reproduce}");
            println!(
                "{reproduce}: {stats:?}, recovered {} records from {} segments",
                recovery.records, recovery.segments
            );
        }
    }
}

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

/// A log of varied records: the initial membership, promises, accepts of several sizes.
fn sample_records(count: u64) -> Vec<Vec<Persist>> {
    let mut records = vec![vec![Persist::Joined { cluster: ClusterId(7), node: NodeId(1), incarnation: 0 }]];
    for n in 1..count {
        let ballot = Ballot { round: n / 4 + 1, node: NodeId(1) };
        let mut record =
            vec![Persist::Accept { slot: Slot(n), ballot, value: value(n, (n as usize * 13) % 60) }];
        if n % 5 == 0 {
            record.insert(0, Persist::Promise(ballot));
        }
        records.push(record);
    }
    records
}

fn state_of(records: &[Vec<Persist>]) -> DurableState {
    let mut state = DurableState::lost();
    for persist in records.iter().flatten() {
        state.apply(persist);
    }
    state
}

/// Writes `records` (each synced) into `dir`; returns the files and where each record ends in
/// the last segment.
fn write_log(
    dir: &Path,
    records: &[Vec<Persist>],
    options: &StorageOptions,
) -> (BTreeMap<String, Vec<u8>>, Vec<u64>) {
    let (mut storage, _, _) = open(dir, options).expect("open");
    let mut ends = Vec::new();
    for record in records {
        storage.append(record).expect("append");
        storage.sync().expect("sync");
        ends.push(std::fs::metadata(last_segment(dir)).expect("segment").len());
    }
    drop(storage);
    (read_dir(dir), ends)
}

fn last_segment(dir: &Path) -> PathBuf {
    let mut segments: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("list")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "log"))
        .collect();
    segments.sort();
    segments.pop().expect("a segment")
}

fn read_dir(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .expect("list")
        .map(|entry| entry.expect("entry"))
        .filter(|entry| entry.file_name() != "LOCK")
        .map(|entry| {
            (entry.file_name().to_string_lossy().into_owned(), std::fs::read(entry.path()).expect("read"))
        })
        .collect()
}

fn write_dir(dir: &Path, files: &BTreeMap<String, Vec<u8>>) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("create");
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).expect("write");
    }
}

/// Cuts the last segment at every byte offset inside its last record: recovery keeps every record
/// synced before it, reports the cut, and the log takes new records afterwards.
#[test]
fn a_torn_last_record_is_cut_away_and_nothing_synced_is_lost() {
    let source = TempDir::new("torn-source");
    let records = sample_records(14);
    let (files, ends) = write_log(&source.0, &records, &exact());
    let segment = files.keys().find(|name| name.ends_with(".log")).expect("one segment").clone();
    let (start, end) = (ends[ends.len() - 2], ends[ends.len() - 1]);
    let keep = state_of(&records[..records.len() - 1]);
    let scratch = TempDir::new("torn");
    for cut in start..=end {
        let mut torn = files.clone();
        torn.get_mut(&segment).expect("segment").truncate(cut as usize);
        write_dir(&scratch.0, &torn);
        let (mut storage, recovered, recovery) = open(&scratch.0, &exact())
            .unwrap_or_else(|error| panic!("cut at byte {cut}: recovery failed: {error}"));
        if cut == end {
            assert_eq!(recovered, state_of(&records), "cut at {cut}: the whole log");
            assert_eq!(recovery.truncated, None);
            continue;
        }
        assert_eq!(recovered, keep, "cut at byte {cut}: every synced record survives");
        let replayed = (recovery.segments, recovery.records, recovery.bytes);
        assert_eq!(replayed, (1, records.len() - 1, start - 20), "cut at byte {cut}: what was replayed");
        match &recovery.truncated {
            None => assert_eq!(cut, start, "only a cut between records leaves nothing to cut away"),
            Some((path, offset, bytes_cut, reason)) => {
                let report = (path, *offset, *bytes_cut);
                assert_eq!(report, (&scratch.0.join(&segment), start, cut - start), "cut at byte {cut}");
                // The record's framing: an 8-byte header (length, its checksum), the payload, a
                // 4-byte checksum.
                let kept = cut - start;
                let why = match kept {
                    1..8 => format!("a record header is cut short ({kept} of 8 bytes)"),
                    _ => format!("a record of {} bytes is cut short at {} bytes", end - start - 12, kept - 8),
                };
                assert_eq!(*reason, why, "cut at byte {cut}");
            }
        }
        // The log goes on after the cut.
        let more = vec![Persist::Promise(Ballot { round: 99, node: NodeId(2) })];
        storage.append(&more).expect("append after recovery");
        storage.sync().expect("sync");
        drop(storage);
        let (_, again, _) = open(&scratch.0, &exact()).expect("reopen");
        let mut expected = keep.clone();
        expected.apply(&more[0]);
        assert_eq!(again, expected, "cut at byte {cut}: appended after the cut");
    }
}

/// Every single-bit flip anywhere in a segment or a snapshot file is detected: the node refuses
/// to start naming the file and offset, or (in the last record only) the record is cut away as an
/// unfinished write and reported. None passes silently.
#[test]
fn every_flipped_bit_is_detected() {
    let source = TempDir::new("flip-source");
    let mut records = sample_records(10);
    let mut kv = KvStore::new(100);
    let request = Request {
        client: ClientId(1),
        sequence: 1,
        operations: vec![Operation::Put { key: "a".into(), value: "b".into() }],
    };
    kv.apply(&request).expect("apply");
    // A snapshot in the middle: the log is compacted behind a checkpoint, then goes on.
    records.insert(5, vec![Persist::Snapshot { slot: Slot(3), state: Arc::new(kv) }]);
    let (files, _) = write_log(&source.0, &records, &exact());
    let full = state_of(&records);
    let names: Vec<String> = files.keys().cloned().collect();
    assert!(names.iter().any(|name| name.starts_with("snapshot-")), "a snapshot file: {names:?}");
    let scratch = TempDir::new("flip");
    let (mut refused, mut cut) = (0, 0);
    for name in &names {
        for offset in 0..files[name].len() {
            let mut flipped = files.clone();
            flipped.get_mut(name).expect("file")[offset] ^= 1 << (offset % 8);
            write_dir(&scratch.0, &flipped);
            let context = format!("bit {} of byte {offset} of {name}", offset % 8);
            match open(&scratch.0, &exact()) {
                Err(StorageError::Damaged { path, .. }) => {
                    assert!(path.ends_with(name), "{context}: the error names {}", path.display());
                    refused += 1;
                }
                Err(other) => panic!("{context}: unexpected error {other}"),
                Ok((_, recovered, recovery)) => {
                    assert!(recovery.truncated.is_some(), "{context}: passed silently");
                    assert_ne!(recovered, full, "{context}");
                    assert_eq!(
                        recovered,
                        state_of(&records[..records.len() - 1]),
                        "{context}: only the last record may go"
                    );
                    cut += 1;
                }
            }
        }
    }
    println!("{refused} flips refused at startup, {cut} cut away as an unfinished last record");
    assert!(refused > 0 && cut > 0);
}

#[test]
fn damage_is_reported_with_file_offset_and_what_to_do() {
    let source = TempDir::new("damage");
    let records = sample_records(6);
    let (mut files, ends) = write_log(&source.0, &records, &exact());
    let segment = files.keys().find(|name| name.ends_with(".log")).expect("segment").clone();
    let offset = ends[1] as usize + 10; // inside the third record, with records after it
    files.get_mut(&segment).expect("segment")[offset] ^= 0x40;
    write_dir(&source.0, &files);
    let error = open(&source.0, &exact()).expect_err("damage is refused");
    let message = error.to_string();
    assert!(message.contains(&segment), "{message}");
    assert!(message.contains(&format!("at byte {}", ends[1])), "{message}");
    assert!(message.contains("move its data directory aside"), "{message}");
}

#[test]
fn a_second_process_on_the_directory_is_refused() {
    let dir = TempDir::new("lock");
    let (_held, _, _) = open(&dir.0, &StorageOptions::default()).expect("first");
    let error = open(&dir.0, &StorageOptions::default()).expect_err("second");
    assert!(matches!(error, StorageError::Locked { .. }), "{error}");
    assert!(error.to_string().contains("is another node running on it?"), "{error}");
}

/// Appends accepts of slots 1 to `count` of 40-byte values, each synced, with a snapshot of slot
/// n - 10 at every hundredth slot n (`before_snapshot` is called just before its append); returns
/// the durable state the storage must recover.
fn append_with_snapshots(
    storage: &mut Storage<StdFs>,
    count: u64,
    mut before_snapshot: impl FnMut(),
) -> DurableState {
    let mut expected = DurableState::lost();
    let mut kv = KvStore::new(100);
    for n in 1..=count {
        let mut batch = vec![Persist::Accept {
            slot: Slot(n),
            ballot: Ballot { round: 1, node: NodeId(1) },
            value: value(n, 40),
        }];
        if n % 100 == 0 {
            before_snapshot();
            kv.apply(&value(n, 40).requests()[0]).expect("apply");
            batch.push(Persist::Snapshot { slot: Slot(n - 10), state: Arc::new(kv.clone()) });
        }
        for persist in &batch {
            expected.apply(persist);
        }
        storage.append(&batch).expect("append");
        storage.sync().expect("sync");
    }
    expected
}

/// Segments roll over and snapshots compact the log; the directory holds only what recovery needs.
#[test]
fn snapshots_compact_the_log() {
    let dir = TempDir::new("compact");
    let options = small_segments();
    let (mut storage, _, _) = open(&dir.0, &options).expect("open");
    let expected = append_with_snapshots(&mut storage, 400, || {});
    let stats = storage.stats();
    drop(storage);
    let names: Vec<String> = read_dir(&dir.0).into_keys().collect();
    assert_eq!(names.iter().filter(|name| name.starts_with("snapshot-")).count(), 1, "{names:?}");
    assert!(stats.segments > 4, "{stats:?}");
    assert!(
        names.iter().filter(|name| name.ends_with(".log")).count() < stats.segments as usize,
        "{names:?}"
    );
    let (_, recovered, recovery) = open(&dir.0, &options).expect("reopen");
    assert_eq!(recovered, expected);
    assert_eq!(recovery.snapshots, [Some(Slot(390))]);
    assert_eq!(recovered.accepted.len(), 11, "only slots 390 to 400, after the snapshot, are kept");
}

/// Three Paxos groups share one log: their records interleave in the same records (one sync for
/// all), a snapshot of one group compacts the log behind a checkpoint of every group, and recovery
/// gives each group back exactly its own state. A node that runs fewer groups than the log holds
/// refuses the directory, naming the group.
#[test]
fn groups_share_one_log_and_each_recovers_its_own_state() {
    let dir = TempDir::new("groups");
    let options = StorageOptions { groups: 3, ..small_segments() };
    let (mut storage, _, _) = Storage::open_groups(Arc::new(StdFs), &dir.0, options.clone()).expect("open");
    let mut expected = vec![DurableState::lost(); 3];
    let mut kv = KvStore::new(100);
    for n in 1..=300u64 {
        // Every record holds a persist of every group, as one group commit of a node writes them.
        let mut batches: Vec<(GroupId, Vec<Persist>)> = (0..3u16)
            .map(|group| {
                let ballot = Ballot { round: u64::from(group) + 1, node: NodeId(1) };
                (
                    GroupId(group),
                    vec![Persist::Accept {
                        slot: Slot(n),
                        ballot,
                        value: value(n * 3 + u64::from(group), 30),
                    }],
                )
            })
            .collect();
        if n % 100 == 0 {
            kv.apply(&value(n, 30).requests()[0]).expect("apply");
            batches[1].1.push(Persist::Snapshot { slot: Slot(n - 5), state: Arc::new(kv.clone()) });
        }
        for (group, persists) in &batches {
            for persist in persists {
                expected[group.index()].apply(persist);
            }
        }
        storage.append_groups(&batches).expect("append");
        storage.sync().expect("sync");
    }
    let stats = storage.stats();
    drop(storage);
    let names: Vec<String> = read_dir(&dir.0).into_keys().collect();
    let snapshots: Vec<&String> = names.iter().filter(|name| name.starts_with("snapshot-")).collect();
    assert_eq!(snapshots, ["snapshot-00001-00000000000000000295.snap"], "{names:?}");
    assert!(
        names.iter().filter(|name| name.ends_with(".log")).count() < stats.segments as usize,
        "older segments went: {names:?}"
    );
    let (_, recovered, recovery) = Storage::open_groups(Arc::new(StdFs), &dir.0, options).expect("reopen");
    assert_eq!(recovered, expected);
    assert_eq!(recovery.snapshots, [None, Some(Slot(295)), None]);
    assert_eq!(recovered[1].accepted.len(), 6, "group 1 keeps slots 295 to 300, after its snapshot");
    assert_eq!(recovered[0].accepted.len(), 300, "group 0 keeps every slot: it took no snapshot");
    let fewer = StorageOptions { groups: 2, ..small_segments() };
    let error = Storage::open_groups(Arc::new(StdFs), &dir.0, fewer).expect_err("refused");
    assert!(error.to_string().contains("a record of group 2 (the node runs groups 0 to 1"), "{error}");
}

/// A missing segment in the middle of the log is damage, not a shorter log.
#[test]
fn a_missing_segment_is_refused() {
    let (second, error) = refused_after_damage("missing", |files, segments| {
        files.remove(&segments[1]);
        segments[1].clone()
    });
    assert_eq!(second, "wal-00000000000000000002.log");
    assert!(error.contains("segment 2 is missing before it"), "{error}");
}

/// Writes 200 records in small segments (at least three), damages the files with `damage` (given
/// the segments' names; it returns the segment it damaged), and returns that segment and the error
/// that refuses the directory.
fn refused_after_damage(
    name: &str,
    damage: impl FnOnce(&mut BTreeMap<String, Vec<u8>>, &[String]) -> String,
) -> (String, String) {
    let dir = TempDir::new(name);
    let options = small_segments();
    let (mut files, _) = write_log(&dir.0, &sample_records(200), &options);
    let segments: Vec<String> = files.keys().filter(|name| name.ends_with(".log")).cloned().collect();
    assert!(segments.len() >= 3, "{segments:?}");
    let damaged = damage(&mut files, &segments);
    write_dir(&dir.0, &files);
    let error = open(&dir.0, &options).expect_err("the damaged directory is refused");
    (damaged, error.to_string())
}

/// A crash while the very first segment was being created leaves a cut header: recovery removes
/// it, begins a new first segment, and keeps what is written to it.
#[test]
fn a_cut_first_segment_header_is_replaced() {
    let dir = TempDir::new("cut-header");
    std::fs::write(dir.0.join("wal-00000000000000000001.log"), b"PXWAL").expect("write");
    let (mut storage, recovered, recovery) = open(&dir.0, &StorageOptions::default()).expect("open");
    assert_eq!(recovered, DurableState::lost());
    assert_eq!(recovery.removed, vec!["wal-00000000000000000001.log".to_string()]);
    let joined = Persist::Joined { cluster: ClusterId(3), node: NodeId(1), incarnation: 0 };
    storage.append(std::slice::from_ref(&joined)).expect("append");
    storage.sync().expect("sync");
    drop(storage);
    let (_, recovered, _) = open(&dir.0, &StorageOptions::default()).expect("reopen");
    assert_eq!(recovered, state_of(&[vec![joined]]));
}

/// The end of each record of `records` written one by one (each synced), as offsets in the last
/// segment: the same with or without reserved space, which only changes what follows them.
fn record_ends(records: &[Vec<Persist>]) -> Vec<u64> {
    let dir = TempDir::new("ends");
    write_log(&dir.0, records, &exact()).1
}

/// With space reserved ahead of the writes, the segment is longer than its records and the rest
/// reads as zeros: recovery takes that for the end of the log (nothing cut, nothing reported), and
/// the log goes on writing over it.
#[test]
fn reserved_space_is_the_end_of_the_log() {
    let dir = TempDir::new("reserved");
    let records = sample_records(8);
    let ends = record_ends(&records);
    let options = StorageOptions::default();
    let (files, _) = write_log(&dir.0, &records, &options);
    let segment = files.keys().find(|name| name.ends_with(".log")).expect("one segment").clone();
    let end = *ends.last().expect("records") as usize;
    assert!(files[&segment].len() > end + 4096, "space reserved: {} bytes", files[&segment].len());
    assert!(files[&segment][end..].iter().all(|&byte| byte == 0), "reserved space reads as zeros");
    for round in 0..2 {
        let (mut storage, recovered, recovery) = open(&dir.0, &options).expect("open");
        let mut expected = state_of(&records);
        if round == 1 {
            expected.apply(&Persist::Promise(Ballot { round: 99, node: NodeId(2) }));
        }
        assert_eq!(recovered, expected, "round {round}");
        assert_eq!(recovery.truncated, None, "round {round}: reserved space is not an unfinished write");
        if round == 0 {
            storage.append(&[Persist::Promise(Ballot { round: 99, node: NodeId(2) })]).expect("append");
            storage.sync().expect("sync");
        }
    }
}

/// `StdFs` reserves by writing zeros after the file's end (never over what is there), leaves the
/// write position alone, and does nothing when the file is already long enough (Linux: elsewhere
/// the log appends without reserving).
#[cfg(target_os = "linux")]
#[test]
fn reserving_writes_zeros_after_the_end_only() {
    let dir = TempDir::new("reserve-contract");
    let path = dir.0.join("file");
    let mut file = StdFs.create(&path).expect("created");
    file.append(b"abc").expect("written");
    file.reserve(100_000).expect("reserved");
    file.append(b"def").expect("written after the first bytes, not after the reserved space");
    file.reserve(50).expect("nothing to do");
    file.reserve(200_000).expect("reserved further");
    file.sync_data().expect("synced");
    let bytes = std::fs::read(&path).expect("readable");
    assert_eq!(bytes.len(), 200_000);
    assert_eq!(&bytes[..6], b"abcdef");
    assert!(bytes[6..].iter().all(|&byte| byte == 0), "the reserved space reads as zeros");
}

/// A write into reserved space that a crash cut short leaves part of a record followed by zeros
/// (the file's length does not change): cut away and reported, every synced record kept. A write
/// none of whose bytes reached the disk leaves only zeros: the end of the log.
#[test]
fn a_torn_write_into_reserved_space_is_cut_away() {
    let source = TempDir::new("reserved-torn-source");
    let records = sample_records(6);
    let ends = record_ends(&records);
    let (files, _) = write_log(&source.0, &records, &StorageOptions::default());
    let segment = files.keys().find(|name| name.ends_with(".log")).expect("one segment").clone();
    let (start, end) = (ends[ends.len() - 2], ends[ends.len() - 1]);
    let keep = state_of(&records[..records.len() - 1]);
    let scratch = TempDir::new("reserved-torn");
    for cut in start..end {
        let mut torn = files.clone();
        torn.get_mut(&segment).expect("segment")[cut as usize..end as usize].fill(0);
        write_dir(&scratch.0, &torn);
        let (_, recovered, recovery) = open(&scratch.0, &StorageOptions::default())
            .unwrap_or_else(|error| panic!("zeros from byte {cut}: recovery failed: {error}"));
        assert_eq!(recovered, keep, "zeros from byte {cut}: every synced record survives");
        let truncated = recovery.truncated.as_ref().map(|(_, offset, _, _)| *offset);
        assert_eq!(truncated, if cut == start { None } else { Some(start) }, "zeros from byte {cut}");
    }
    // A flipped bit in the reserved space after the last record: reported, nothing lost.
    let mut flipped = files.clone();
    flipped.get_mut(&segment).expect("segment")[end as usize + 100] ^= 0x10;
    write_dir(&scratch.0, &flipped);
    let (_, recovered, recovery) = open(&scratch.0, &StorageOptions::default()).expect("open");
    assert_eq!(recovered, state_of(&records));
    assert!(recovery.truncated.is_some(), "garbage after the records is reported");
}

/// A segment closed for the next one loses its reserved space: zeros at the end of a segment that
/// is not the last are damage, not the end of the log.
#[test]
fn zeros_ending_an_earlier_segment_are_damage() {
    let (first, error) = refused_after_damage("reserved-roll", |files, segments| {
        let first = files.get_mut(&segments[0]).expect("segment");
        assert_ne!(first.last(), Some(&0), "a closed segment ends with its last record");
        first.extend_from_slice(&[0; 512]);
        segments[0].clone()
    });
    assert!(
        error.contains(first.as_str())
            && error.contains("the records end in zeros, but later segments exist"),
        "{error}"
    );
}

/// A record cut short at the end of a segment that is not the last was synced once (a segment is
/// closed only after its last sync) and is damage, not an unfinished write to cut away.
#[test]
fn a_torn_record_ending_an_earlier_segment_is_damage() {
    let (first, error) = refused_after_damage("torn-earlier", |files, segments| {
        let first = files.get_mut(&segments[0]).expect("segment");
        first.truncate(first.len() - 3);
        segments[0].clone()
    });
    assert!(
        error.contains(first.as_str())
            && error.contains("is cut short")
            && error.contains("but later segments exist"),
        "{error}"
    );
}

/// A log with no checkpoint must begin at segment 1: one whose first segment is missing is
/// refused, naming what is missing, rather than replayed without its beginning.
#[test]
fn a_log_whose_first_segment_is_missing_is_refused() {
    let (_, error) = refused_after_damage("missing-first", |files, segments| {
        files.remove(&segments[0]);
        segments[0].clone()
    });
    assert!(error.contains("the log begins at segment 2, and segments 1 to 1 are missing"), "{error}");
}

/// The operating system's file system as a test sees it: the directories it syncs are recorded,
/// and it may refuse to reserve space (say, one without `fallocate` and no room to spare).
/// Its files' syncs fail while `failing` is set (a disk that reports an I/O error).
#[derive(Default)]
struct Watched {
    no_reserve: bool,
    synced_dirs: std::sync::Mutex<Vec<PathBuf>>,
    failing: Arc<std::sync::atomic::AtomicBool>,
}

impl Watched {
    fn file(&self, file: <StdFs as FileSystem>::File) -> WatchedFile {
        WatchedFile { file, no_reserve: self.no_reserve, failing: self.failing.clone() }
    }
}

/// A file of [`Watched`].
struct WatchedFile {
    file: <StdFs as FileSystem>::File,
    no_reserve: bool,
    failing: Arc<std::sync::atomic::AtomicBool>,
}

impl WatchedFile {
    fn fail(&self) -> std::io::Result<()> {
        match self.failing.load(Ordering::Relaxed) {
            true => Err(std::io::Error::other("the disk reports an I/O error")),
            false => Ok(()),
        }
    }
}

impl AppendFile for WatchedFile {
    fn append(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.file.append(bytes)
    }

    fn reserve(&mut self, len: u64) -> std::io::Result<()> {
        if self.no_reserve {
            return Err(std::io::Error::other("no space reserved here"));
        }
        self.file.reserve(len)
    }

    fn sync_data(&mut self) -> std::io::Result<()> {
        self.fail()?;
        self.file.sync_data()
    }

    fn sync_all(&mut self) -> std::io::Result<()> {
        self.fail()?;
        self.file.sync_all()
    }
}

impl FileSystem for Watched {
    type File = WatchedFile;

    fn create_dir_all(&self, dir: &Path) -> std::io::Result<()> {
        StdFs.create_dir_all(dir)
    }

    fn list(&self, dir: &Path) -> std::io::Result<Vec<String>> {
        StdFs.list(dir)
    }

    fn exists(&self, path: &Path) -> bool {
        StdFs.exists(path)
    }

    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        StdFs.read(path)
    }

    fn create(&self, path: &Path) -> std::io::Result<WatchedFile> {
        Ok(self.file(StdFs.create(path)?))
    }

    fn open_at(&self, path: &Path, offset: u64) -> std::io::Result<WatchedFile> {
        Ok(self.file(StdFs.open_at(path, offset)?))
    }

    fn truncate(&self, path: &Path, len: u64) -> std::io::Result<()> {
        StdFs.truncate(path, len)
    }

    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        StdFs.rename(from, to)
    }

    fn remove(&self, path: &Path) -> std::io::Result<()> {
        StdFs.remove(path)
    }

    fn sync_dir(&self, dir: &Path) -> std::io::Result<()> {
        self.synced_dirs.lock().expect("not poisoned").push(dir.to_path_buf());
        StdFs.sync_dir(dir)
    }

    fn lock(&self, path: &Path) -> std::io::Result<paxos::storage::fs::LockGuard> {
        StdFs.lock(path)
    }
}

/// Where space cannot be reserved the log appends as it grows: slower, never wrong.
#[test]
fn a_file_system_that_cannot_reserve_space_still_keeps_the_log() {
    let dir = TempDir::new("no-reserve");
    let records = sample_records(30);
    let options = small_segments();
    let fs = Arc::new(Watched { no_reserve: true, ..Watched::default() });
    let (mut storage, _, _) = Storage::open(fs.clone(), &dir.0, options.clone()).expect("open");
    for record in &records {
        storage.append(record).expect("append without reserved space");
        storage.sync().expect("sync");
    }
    drop(storage);
    let plain = TempDir::new("no-reserve-plain");
    let (expected, _) =
        write_log(&plain.0, &records, &StorageOptions { reserve_bytes: 0, ..small_segments() });
    assert_eq!(read_dir(&dir.0), expected, "the same files as plain appends");
    let (_, recovered, recovery) = Storage::open(fs, &dir.0, options).expect("reopen");
    assert_eq!(recovered, state_of(&records));
    assert_eq!(recovery.truncated, None);
}

/// Found by the `wal` fuzz target (an empty input): scanning bytes shorter than a segment header
/// subtracted past zero. It is a torn write with no record now, whatever the length.
#[test]
fn scanning_bytes_shorter_than_a_segment_header_finds_a_torn_write_not_a_panic() {
    use paxos::storage::format::{scan_records, Stop, SEGMENT_HEADER};
    for length in [0, 1, SEGMENT_HEADER - 1] {
        let scan = scan_records(&vec![7u8; length]);
        assert!(scan.records.is_empty(), "{length} bytes");
        assert_eq!(scan.end, length as u64);
        assert!(matches!(scan.stop, Some(Stop::Torn { .. })), "{length} bytes: {:?}", scan.stop);
    }
    // A header and nothing after it: an empty log, ended where the file ends.
    let scan = scan_records(&paxos::storage::format::segment_header(1));
    assert!(scan.records.is_empty());
    assert_eq!((scan.end, scan.stop), (SEGMENT_HEADER as u64, None));
}

/// A data directory that does not exist yet is created with its entry durable in its parent
/// before anything is written into it, then the first segment with the new directory synced: a
/// power loss cannot leave a node whose log the directory's parent has forgotten. The storage's
/// `Debug` names the directory and where the log is.
#[test]
fn a_new_data_directory_is_made_durable_in_its_parent() {
    let dir = TempDir::new("new-dir");
    let data = dir.0.join("data");
    let fs = Arc::new(Watched::default());
    let (storage, recovered, _) = Storage::open(fs.clone(), &data, exact()).expect("open");
    assert_eq!(recovered, DurableState::lost());
    assert_eq!(*fs.synced_dirs.lock().expect("not poisoned"), [dir.0.clone(), data.clone()]);
    assert_eq!(format!("{storage:?}"), format!("Storage {{ dir: {data:?}, seq: 1, len: 20 }}"));
}

/// What an interrupted compaction or snapshot leaves (the older segments and snapshot a durable
/// checkpoint made obsolete, a snapshot's temporary file) is removed when the directory is opened,
/// each named in the report, and the removals are made durable; the state is what the checkpoint
/// and the records after it say.
#[test]
fn the_leftovers_of_an_interrupted_compaction_are_removed_at_open() {
    let dir = TempDir::new("leftovers");
    let options = small_segments();
    let (mut storage, _, _) = open(&dir.0, &options).expect("open");
    let mut before_compaction = BTreeMap::new();
    let expected = append_with_snapshots(&mut storage, 250, || before_compaction = read_dir(&dir.0));
    drop(storage);
    let after = read_dir(&dir.0);
    // A crash after the second compaction's checkpoint was durable, before the removals; and one
    // in the middle of writing a snapshot.
    let mut leftovers: Vec<String> =
        before_compaction.keys().filter(|name| !after.contains_key(*name)).cloned().collect();
    for name in &leftovers {
        std::fs::write(dir.0.join(name), &before_compaction[name]).expect("write");
    }
    let tmp = "snapshot-00000-00000000000000000290.snap.tmp".to_string();
    std::fs::write(dir.0.join(&tmp), b"half a snapshot").expect("write");
    leftovers.push(tmp);
    leftovers.sort();
    let segments: Vec<&String> = leftovers.iter().filter(|name| name.ends_with(".log")).collect();
    let snapshots: Vec<&String> = leftovers.iter().filter(|name| name.ends_with(".snap")).collect();
    assert!(segments.len() >= 2 && snapshots.len() == 1, "{leftovers:?}");
    let fs = Arc::new(Watched::default());
    let (_, recovered, mut recovery) = Storage::open(fs.clone(), &dir.0, options).expect("reopen");
    assert_eq!(recovered, expected);
    recovery.removed.sort();
    assert_eq!(recovery.removed, leftovers);
    assert_eq!(read_dir(&dir.0), after, "only what recovery needs is left");
    assert_eq!(
        *fs.synced_dirs.lock().expect("not poisoned"),
        std::slice::from_ref(&dir.0),
        "the removals made durable"
    );
}

/// `Storage::open` is the one-group door whatever its options say: a directory written by three
/// groups is refused, naming the group it cannot hold, rather than opened as its group 0 alone.
#[test]
fn opening_as_one_group_refuses_a_directory_of_three_groups() {
    let dir = TempDir::new("one-group");
    let three = StorageOptions { groups: 3, ..exact() };
    let (mut storage, _, _) = Storage::open_groups(Arc::new(StdFs), &dir.0, three.clone()).expect("open");
    let persist = |group: u16| (GroupId(group), vec![Persist::Promise(Ballot { round: 1, node: NodeId(1) })]);
    storage.append_groups(&[persist(0), persist(1), persist(2)]).expect("append");
    storage.sync().expect("sync");
    drop(storage);
    let error = open(&dir.0, &three).expect_err("a one-group open refuses three groups");
    assert!(error.to_string().contains("a record of group 1 (the node runs groups 0 to 0"), "{error}");
}

/// A sync that fails may have lost the pages it was to write (the kernel forgets them), so a
/// later sync that succeeds proves nothing: after the first failure the storage refuses every
/// append and sync, naming that failure, even once the disk works again. The node stops and
/// recovers from what is on disk.
#[test]
fn after_a_failed_sync_the_storage_refuses_everything_naming_the_first_failure() {
    let dir = TempDir::new("failed-sync");
    let fs = Arc::new(Watched::default());
    let (mut storage, _, _) = Storage::open(fs.clone(), &dir.0, exact()).expect("open");
    let records = sample_records(3);
    storage.append(&records[0]).expect("append");
    storage.sync().expect("sync");
    storage.append(&records[1]).expect("append");
    fs.failing.store(true, Ordering::Relaxed);
    let first = storage.sync().expect_err("the disk fails the sync").to_string();
    assert!(first.contains("the disk reports an I/O error"), "{first}");
    fs.failing.store(false, Ordering::Relaxed);
    for error in [storage.append(&records[2]).expect_err("append"), storage.sync().expect_err("sync")] {
        let message = error.to_string();
        assert!(matches!(error, StorageError::Failed { .. }), "{message}");
        assert!(message.contains(&first) && message.contains("restart the node"), "{message}");
    }
    drop(storage);
    let (_, recovered, _) = open(&dir.0, &exact()).expect("reopen");
    assert_eq!(recovered, state_of(&records[..2]), "the restart recovers what reached the disk");
}

/// The counters the metrics show, exact: one record per append, the bytes of every record (the
/// checkpoints' too), one sync per `sync` and one more where an append finds the last record not
/// yet durable (a record is written only after the one before it is durable), a roll's two
/// syncs (the closed segment, the checkpoint), the snapshots written and the segments begun.
#[test]
fn the_storage_counts_its_records_bytes_syncs_snapshots_and_segments() {
    let dir = TempDir::new("stats");
    let (mut storage, _, _) = open(&dir.0, &exact()).expect("open");
    let records = sample_records(5);
    for record in &records[..3] {
        storage.append(record).expect("append");
        storage.sync().expect("sync");
    }
    storage.append(&records[3]).expect("append");
    storage.append(&records[4]).expect("append: syncs the record before it first");
    storage.sync().expect("sync");
    let first = std::fs::metadata(last_segment(&dir.0)).expect("segment").len();
    let stats = storage.stats();
    assert_eq!((stats.records, stats.syncs, stats.snapshots, stats.segments), (5, 5, 0, 0), "{stats:?}");
    assert_eq!(stats.bytes, first - 20, "{stats:?}");
    let snapshot = Persist::Snapshot { slot: Slot(2), state: Arc::new(KvStore::new(100)) };
    storage.append(&[snapshot]).expect("a snapshot");
    let second = std::fs::metadata(last_segment(&dir.0)).expect("segment").len();
    let stats = storage.stats();
    assert_eq!((stats.records, stats.syncs, stats.snapshots, stats.segments), (5, 7, 1, 1), "{stats:?}");
    assert_eq!(stats.bytes, first - 20 + second - 20, "{stats:?}");
    storage.sync().expect("nothing to sync");
    assert_eq!(storage.stats().syncs, 7, "a sync with nothing appended is free");
}

/// Space is reserved only when a write passes what is reserved (a write that ends exactly there
/// fits), then a chunk of `reserve_bytes` past that write's end, never past the segment's size
/// (unless the write itself passes it: then to its end). A closed segment is cut to its records;
/// the next one reserves afresh. Lengths worked out by hand from the records' ends, which the
/// exact log gives: 39, 81, 136, 204, 285, 324, 371, 431, 504, 590, 635, 688, 754; then 79 bytes.
#[test]
fn space_is_reserved_a_chunk_past_each_write_that_passes_it_never_past_the_segment() {
    let records = sample_records(14);
    let ends = record_ends(&records);
    assert_eq!(ends, [39, 81, 136, 204, 285, 324, 371, 431, 504, 590, 635, 688, 754, 833]);
    let dir = TempDir::new("reserve-chunks");
    let options = StorageOptions { segment_bytes: 700, reserve_bytes: 246, ..StorageOptions::default() };
    let (mut storage, _, _) = open(&dir.0, &options).expect("open");
    let mut lengths = Vec::new();
    for record in &records {
        storage.append(record).expect("append");
        storage.sync().expect("sync");
        lengths.push(read_dir(&dir.0).values().map(Vec::len).collect::<Vec<usize>>());
    }
    let expected: [&[usize]; 14] = [
        &[285], // 39 + 246
        &[285],
        &[285],
        &[285],
        &[285], // ends at 285: fits
        &[570], // 324 passes 285: 324 + 246
        &[570],
        &[570],
        &[570],
        &[700], // 590 + 246 would pass the segment's 700
        &[700],
        &[700],
        &[754, 20],  // 754 passes the segment: reserved to its end, then closed
        &[754, 345], // the next segment: 20 + 79 + 246
    ];
    assert_eq!(lengths, expected);
}

/// Group commit, deterministically: while the first sync's report is being handled, three more
/// submissions queue (of two groups, one with no persists: a ticket that only orders); the thread
/// then writes them as one record with one sync and reports the highest ticket once. The metrics
/// see the accepted slots each commit made durable, the log's bytes and the snapshot, and time
/// the syncs that had work to do; the committer's counters are the storage's; `Debug` shows
/// them.
#[test]
fn one_sync_covers_every_submission_queued_while_the_last_was_in_flight() {
    use paxos::storage::group::Committer;
    use std::sync::mpsc;
    let dir = TempDir::new("group-commit");
    let options = StorageOptions { groups: 2, ..exact() };
    let (storage, _, _) = Storage::open_groups(Arc::new(StdFs), &dir.0, options.clone()).expect("open");
    let metrics = Arc::new(paxos::metrics::Metrics::new());
    let (reports, reported) = mpsc::channel();
    // Each report holds the thread until the test releases it.
    let (release, released) = mpsc::channel::<()>();
    let committer = Committer::start(storage, Some(metrics.clone()), move |durable| {
        reports.send(durable.map_err(|error| error.to_string())).expect("the test listens");
        let _ = released.recv();
    })
    .expect("start");
    // Declared after the committer, so dropped before it if an assertion fails: the thread's wait
    // then ends and the committer's drop (which joins it) returns, so a failure fails, not hangs.
    let release = release;
    let ballot = Ballot { round: 1, node: NodeId(1) };
    let accept = |slot: u64| Persist::Accept { slot: Slot(slot), ballot, value: value(slot, 10) };
    assert_eq!(committer.submit(GroupId(0), vec![Persist::Promise(ballot), accept(1)]), 1);
    assert_eq!(reported.recv().expect("report"), Ok(1));
    assert_eq!(committer.submit(GroupId(1), vec![accept(1), accept(2)]), 2);
    assert_eq!(committer.submit(GroupId(0), Vec::new()), 3);
    let snapshot = Persist::Snapshot { slot: Slot(1), state: Arc::new(KvStore::new(100)) };
    assert_eq!(committer.submit(GroupId(0), vec![accept(2), snapshot]), 4);
    release.send(()).expect("the thread waits");
    assert_eq!(reported.recv().expect("report"), Ok(4), "one report for the three queued");
    let stats = committer.stats();
    // Records: the first submission, then the three queued before the snapshot (the checkpoint
    // the snapshot writes is not counted); syncs: the first commit's, then the roll's two (the
    // closed segment with the second commit's record, the checkpoint), which leave the second
    // commit's own sync nothing to do.
    assert_eq!((stats.records, stats.syncs, stats.snapshots, stats.segments), (2, 3, 1, 1), "{stats:?}");
    assert_eq!(metrics.fsync_seconds.get_sample_count(), 1, "the second commit's sync had nothing to do");
    assert_eq!(metrics.sync_slots.get_sample_count(), 2);
    assert_eq!(metrics.sync_slots.get_sample_sum(), 4.0, "one accepted slot, then three");
    assert_eq!(metrics.wal_bytes.get(), stats.bytes);
    assert_eq!(metrics.snapshots_written.get(), 1);
    assert_eq!(format!("{committer:?}"), format!("Committer {{ stats: {stats:?} }}"));
    // A commit with no accepted slot (a promise): synced and timed, no slots observed. Dropping
    // the committer waits for it: its report is in before the drop returns, although the thread
    // is released only 100 ms later.
    assert_eq!(committer.submit(GroupId(1), vec![Persist::Promise(ballot)]), 5);
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(100));
        for _ in 0..2 {
            release.send(()).expect("the thread waits");
        }
    });
    drop(committer);
    assert_eq!(reported.try_recv().expect("reported before the drop returned"), Ok(5));
    releaser.join().expect("releaser");
    assert_eq!(metrics.fsync_seconds.get_sample_count(), 2);
    assert_eq!(metrics.sync_slots.get_sample_count(), 2, "a commit with no accepted slot adds no sample");
    assert!(reported.try_recv().is_err(), "nothing more to report");
    let (_, recovered, _) = Storage::open_groups(Arc::new(StdFs), &dir.0, options).expect("reopen");
    assert_eq!(recovered[1].accepted.keys().copied().collect::<Vec<_>>(), [Slot(1), Slot(2)]);
    assert_eq!((recovered[0].promised, recovered[1].promised), (ballot, ballot));
    assert_eq!(recovered[0].snapshot.as_ref().map(|(slot, _)| *slot), Some(Slot(1)));
}

/// A storage thread whose sync failed reports the failure for that ticket and for every later one,
/// writing nothing more, even once the disk works again: no ticket after a failure is ever
/// reported durable.
#[test]
fn a_failed_group_commit_fails_every_later_ticket() {
    use paxos::storage::group::Committer;
    use std::sync::mpsc;
    let dir = TempDir::new("group-commit-failed");
    let fs = Arc::new(Watched::default());
    let (storage, _, _) = Storage::open(fs.clone(), &dir.0, exact()).expect("open");
    let (reports, reported) = mpsc::channel();
    let committer = Committer::start(storage, None, move |durable| {
        reports.send(durable.map_err(|error| error.to_string())).expect("the test listens");
    })
    .expect("start");
    let records = sample_records(3);
    committer.submit(GroupId(0), records[0].clone());
    assert_eq!(reported.recv().expect("report"), Ok(1));
    fs.failing.store(true, Ordering::Relaxed);
    committer.submit(GroupId(0), records[1].clone());
    let failure = reported.recv().expect("report").expect_err("the sync fails");
    assert!(failure.contains("the disk reports an I/O error"), "{failure}");
    fs.failing.store(false, Ordering::Relaxed);
    committer.submit(GroupId(0), records[2].clone());
    assert_eq!(reported.recv().expect("report"), Err(failure), "the first failure, again");
    let stats = committer.stats();
    drop(committer);
    // Two records and two syncs (the failed one counted): nothing after the failure.
    assert_eq!((stats.records, stats.syncs), (2, 2), "nothing written after the failure: {stats:?}");
}

/// Records encoded one after another into one buffer (behind a segment header) scan back as those
/// records, in order, with nothing left over: each record's framing counts from its own start.
#[test]
fn records_encoded_into_one_buffer_scan_back_one_by_one() {
    use paxos::storage::format::{encode_record, scan_records, segment_header, Entry, EntryRef};
    let records = sample_records(4);
    let mut buf = segment_header(1).to_vec();
    for record in &records {
        let entries: Vec<EntryRef<'_>> =
            record.iter().map(|persist| EntryRef::Persist(GroupId(0), persist)).collect();
        encode_record(&entries, &mut buf);
    }
    let scan = scan_records(&buf);
    let expected: Vec<Vec<Entry>> = records
        .iter()
        .map(|record| record.iter().map(|persist| Entry::Persist(GroupId(0), persist.clone())).collect())
        .collect();
    assert_eq!(scan.records, expected);
    assert_eq!((scan.end, scan.stop), (buf.len() as u64, None));
}

/// A segment that holds only its header (a log just begun, or a segment begun just before a
/// crash) is an empty log to go on with, not a leftover to remove.
#[test]
fn a_segment_holding_only_its_header_is_an_empty_log() {
    let dir = TempDir::new("header-only");
    drop(open(&dir.0, &exact()).expect("open"));
    let files = read_dir(&dir.0);
    assert_eq!(files.values().map(Vec::len).collect::<Vec<_>>(), [20], "{:?}", files.keys());
    let (_, recovered, recovery) = open(&dir.0, &exact()).expect("reopen");
    assert_eq!(recovered, DurableState::lost());
    assert_eq!((recovery.segments, recovery.records, recovery.bytes), (1, 0, 0));
    assert!(recovery.removed.is_empty() && recovery.truncated.is_none(), "{recovery:?}");
}

/// A snapshot file cut anywhere is refused with what is wrong, never a panic: inside its 30-byte
/// header, "cut short"; with the header whole, the length it announces against what is there.
#[test]
fn a_snapshot_file_cut_anywhere_is_refused_saying_how() {
    use paxos::storage::format::{decode_snapshot, encode_snapshot};
    let mut kv = KvStore::new(100);
    kv.apply(&value(1, 10).requests()[0]).expect("apply");
    let bytes = encode_snapshot(GroupId(2), Slot(9), &kv);
    assert_eq!(decode_snapshot(&bytes, GroupId(2), Slot(9)), Ok(kv));
    let state = bytes.len() - 30;
    for cut in 0..bytes.len() {
        let error = decode_snapshot(&bytes[..cut], GroupId(2), Slot(9)).expect_err("refused");
        let expected = match cut {
            0..30 => format!("the header is cut short ({cut} of 30 bytes)"),
            _ => format!("the header says {state} bytes of state, the file has {}", cut - 30),
        };
        assert_eq!(error, expected, "cut at byte {cut}");
    }
}
