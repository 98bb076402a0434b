//! The properties every fuzz target checks, one function per decoder of bytes from outside: a
//! client's RESP, a peer's frames, the write-ahead log, snapshots, the checker's history readers,
//! scenario files. Each panics when its property fails. The cargo-fuzz targets
//! (`fuzz/fuzz_targets/`) call them under libFuzzer; `chaos/tests/fuzz_corpus.rs` includes this
//! file and runs every kept corpus file, and seeded mutations of each, through the same functions
//! in the ordinary test command. So this file uses only what both have: `paxos`, `checker`,
//! `scenarios`, `serde_json` and `stats_alloc`.
//!
//! Both install [`ALLOCATOR`], a counting global allocator, from here: the decoders of the network
//! and the disk are held to an allocation limit ([`allocation_limit`]) on every input.

use paxos::client::resp::{parse_command, Limits};
use paxos::core::io::Persist;
use paxos::core::kv::KvStore;
use paxos::core::types::{Ballot, GroupId, NodeId, Slot};
use paxos::core::{Operation, Request};
use paxos::storage::format::{self, EntryRef};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;

/// Counts every allocation of the process that includes this file (the fuzz targets, and the
/// corpus test in the test command), for [`allocated_by`].
#[global_allocator]
pub static ALLOCATOR: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The most a decoder of outside bytes may allocate, in all, while it decodes `input` bytes: a
/// fixed 256 KiB plus 128 bytes per byte of input. A length prefix read from the input never
/// buys an allocation the input does not pay for (a 20-byte frame claiming 64 MiB allocates
/// nothing near that); what a decoder builds grows with what it was given. 128: the in-memory
/// form of the densest encodings (a batch of requests with 1-byte keys, a few bytes each on the
/// wire) costs up to about 100 bytes per byte (104 at most over the kept corpora).
pub fn allocation_limit(input: usize) -> usize {
    (256 << 10) + 128 * input
}

/// Runs `decode` and returns its result and the bytes it allocated in all (every allocation and
/// every growth, whether freed or not: at least its peak).
pub fn allocated_by<R>(decode: impl FnOnce() -> R) -> (R, usize) {
    let region = Region::new(ALLOCATOR);
    let result = decode();
    let change = region.change();
    let grown = usize::try_from(change.bytes_reallocated.max(0)).unwrap_or(0);
    (result, change.bytes_allocated + grown)
}

/// Runs `decode` on `input` under [`allocation_limit`], panicking (as a fuzz property does) when
/// it allocates more; `what` names the decoder.
fn within_limit<R>(what: &str, input: &[u8], decode: impl FnOnce() -> R) -> R {
    let (result, bytes) = allocated_by(decode);
    let limit = allocation_limit(input.len());
    assert!(bytes <= limit, "{what} allocated {bytes} bytes decoding {} bytes (limit {limit})", input.len());
    result
}

/// The limits the RESP property parses with: the node's, and small ones that reach every refusal.
const RESP_LIMITS: [Limits; 2] = [
    Limits { bulk_bytes: 64 << 20, arguments: 1024, connections: 1, idle: None },
    Limits { bulk_bytes: 16, arguments: 4, connections: 1, idle: None },
];

/// A command as a client sends it: an array of bulk strings.
pub fn encode_command(arguments: &[Vec<u8>]) -> Vec<u8> {
    let mut bytes = format!("*{}\r\n", arguments.len()).into_bytes();
    for argument in arguments {
        bytes.extend_from_slice(format!("${}\r\n", argument.len()).as_bytes());
        bytes.extend_from_slice(argument);
        bytes.extend_from_slice(b"\r\n");
    }
    bytes
}

/// RESP: the parser never panics, never claims more bytes than it was given or none, and every
/// command it reads, sent again as a client would, reads back the same and takes exactly the
/// bytes of that encoding (inline commands excepted: they have no canonical form to compare).
pub fn resp(data: &[u8]) {
    for limits in &RESP_LIMITS {
        let mut at = 0;
        while at < data.len() {
            match within_limit("the RESP parser", &data[at..], || parse_command(&data[at..], limits)) {
                Ok(Some((arguments, used))) => {
                    assert!(used > 0 && used <= data.len() - at, "used {used} of {}", data.len() - at);
                    if data[at] == b'*' && !arguments.is_empty() {
                        let again = encode_command(&arguments);
                        assert_eq!(
                            parse_command(&again, limits),
                            Ok(Some((arguments.clone(), again.len()))),
                            "re-encoded {arguments:?}"
                        );
                    }
                    at += used;
                }
                Ok(None) | Err(_) => break,
            }
        }
    }
}

/// Peer frames: decoding any body never panics, and a hello decodes the same either way.
pub fn peer_frame(data: &[u8]) {
    let frame = within_limit("the peer frame decoder", data, || paxos::runtime::peer::decode_frame(data));
    if let Some(hello) = paxos::runtime::peer::decode_hello(data) {
        assert!(matches!(frame, Ok(paxos::runtime::peer::Frame::Hello(ref decoded)) if *decoded == hello));
    }
}

/// The records a WAL property writes: `count` promises with distinct ballots, and an accept.
fn records(count: usize) -> Vec<Persist> {
    let mut persists: Vec<Persist> = (0..count)
        .map(|round| Persist::Promise(Ballot { round: round as u64 + 1, node: NodeId(1) }))
        .collect();
    let request = Request {
        client: paxos::core::types::ClientId(7),
        sequence: 1,
        operations: vec![Operation::Put { key: "k".into(), value: "v".into() }],
    };
    persists.push(Persist::Accept {
        slot: Slot(0),
        ballot: Ballot { round: 1, node: NodeId(1) },
        value: paxos::core::Value::Batch(std::sync::Arc::new(vec![request])),
    });
    persists
}

/// The write-ahead log: scanning any bytes never panics; and a segment of known records, damaged
/// as `data` says (each 3 bytes: a position, and a byte to put there; or, for a last odd byte, a
/// cut), yields only records that were written, in order, from the first: never a record that was
/// not written, never one out of place.
pub fn wal(data: &[u8]) {
    let _ = within_limit("the WAL scan", data, || format::scan_records(data));
    let _ = format::check_segment_header(data, 1);
    let written = records(usize::from(data.first().copied().unwrap_or(0) % 8));
    let mut segment = format::segment_header(1).to_vec();
    // Records of groups 0 to 2 in turn: the log of a node with several groups.
    let group = |index: usize| GroupId((index % 3) as u16);
    for (index, persist) in written.iter().enumerate() {
        format::encode_record(&[EntryRef::Persist(group(index), persist)], &mut segment);
    }
    let mut damage = data.get(1..).unwrap_or_default().chunks_exact(3);
    for change in &mut damage {
        let at = usize::from(u16::from_le_bytes([change[0], change[1]])) % segment.len();
        segment[at] = change[2];
    }
    if let [cut] = damage.remainder() {
        segment.truncate(segment.len() - usize::from(*cut) % segment.len());
    }
    if format::check_segment_header(&segment, 1).is_err() {
        return;
    }
    let scan = format::scan_records(&segment);
    assert!(
        scan.records.len() <= written.len(),
        "{} records from {} written",
        scan.records.len(),
        written.len()
    );
    for (index, record) in scan.records.iter().enumerate() {
        assert_eq!(
            record.as_slice(),
            [format::Entry::Persist(group(index), written[index].clone())],
            "record {index} is not the one written there"
        );
    }
}

/// Snapshots: decoding any bytes never panics, and a decoded snapshot encodes and decodes to the
/// same state. The state of a real snapshot round-trips too.
pub fn snapshot(data: &[u8]) {
    let slot = Slot(u64::from(data.first().copied().unwrap_or(0)));
    let group = GroupId(u16::from(data.get(1).copied().unwrap_or(0) % 4));
    if let Ok(state) =
        within_limit("the snapshot decoder", data, || format::decode_snapshot(data, group, slot))
    {
        let again = format::encode_snapshot(group, slot, &state);
        assert_eq!(format::decode_snapshot(&again, group, slot).as_ref(), Ok(&state));
    }
    let mut state = KvStore::new(16);
    for (index, pair) in data.chunks(2).take(32).enumerate() {
        let request = Request {
            client: paxos::core::types::ClientId(index as u64 % 4 + 1),
            sequence: index as u64 + 1,
            operations: vec![Operation::Put { key: pair[..1].to_vec().into(), value: pair.to_vec().into() }],
        };
        let _ = state.apply(&request);
    }
    let bytes = format::encode_snapshot(group, Slot(3), &state);
    assert_eq!(format::decode_snapshot(&bytes, group, Slot(3)).as_ref(), Ok(&state));
}

/// The checker's readers: any text in any format gives events or a one-line error, never a
/// panic; a history that parses also pairs into operations or says why not.
pub fn history(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for format in
        [checker::format::Format::Jsonl, checker::format::Format::Edn, checker::format::Format::JepsenLog]
    {
        match checker::format::parse(text, format) {
            Ok((events, _)) => {
                let _ = checker::history::History::from_events(&events);
            }
            Err(error) => assert!(!error.to_string().contains('\n'), "one line: {error}"),
        }
    }
    let _ = checker::format::detect(text);
}

/// Scenario files: any bytes give a scenario or an error, never a panic; a valid scenario writes
/// and reads back the same.
pub fn scenario(data: &[u8]) {
    let Ok(scenario) = serde_json::from_slice::<scenarios::Scenario>(data) else { return };
    if scenario.validate().is_ok() {
        let json = serde_json::to_string(&scenario).expect("a scenario serialises");
        let back: scenarios::Scenario = serde_json::from_str(&json).expect("and parses back");
        assert_eq!(back, scenario);
    }
}

/// A property: panics when the input breaks it.
pub type Property = fn(&[u8]);

/// Every property by the name of its target and corpus directory.
pub const TARGETS: [(&str, Property); 6] = [
    ("resp", resp),
    ("peer_frame", peer_frame),
    ("wal", wal),
    ("snapshot", snapshot),
    ("history", history),
    ("scenario", scenario),
];
