//! The bytes on disk: segment headers, records, snapshot files, and the scan that reads them back
//! and tells a torn tail from damage.
//!
//! # Segment file `wal-<seq>.log`
//!
//! ```text
//! header  "PXWAL" version(3) 0 0 | seq: u64 LE | crc32c(first 16 bytes): u32 LE      (20 bytes)
//! record  len: u32 LE | crc32c(len bytes): u32 LE | payload (len bytes) | crc32c(payload): u32 LE
//! record  ...
//! ```
//!
//! The length has its own checksum, so a damaged length is never trusted (it cannot make the scan
//! skip or swallow good records). The file may go on past its records with zeros: space reserved
//! ahead of the writes (a record's length is never 0, and the checksum of a zero length is not 0,
//! so zeros never read as a record). A payload is a postcard-encoded `Vec<Entry>`: everything one
//! group commit wrote, for every Paxos group of the node, so one record is one unit of durability.
//! Each entry names its group: the groups of a node share one log (and one sync per commit).
//!
//! # Snapshot file `snapshot-<group>-<slot>.snap`
//!
//! ```text
//! "PXSNAP" version(3) 0 | group: u16 LE | slot: u64 LE | len: u64 LE | crc32c(first 26 bytes, payload): u32 LE | payload
//! ```
//!
//! The payload is the postcard-encoded [`KvStore`] of one group (data, session table and
//! membership). Files of an older version are refused by name, not misread: version 1 snapshots
//! lacked the membership, version 2 files (segments and snapshots) had one group and no group in
//! their entries.

use crate::core::{Ballot, DurableState, GroupId, Joined, KvStore, NodeId, Persist, Slot, Value};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The format version written into every segment header (2: `Joined` names its node; 3: every
/// entry names its group).
pub const VERSION: u8 = 3;
/// The format version written into every snapshot header (2: the state carries the membership;
/// 3: the header names the group).
pub const SNAPSHOT_VERSION: u8 = 3;
const SEGMENT_MAGIC: [u8; 5] = *b"PXWAL";
const SNAPSHOT_MAGIC: [u8; 6] = *b"PXSNAP";
/// Bytes of a segment header.
pub const SEGMENT_HEADER: usize = 20;
/// Bytes of a record's framing before its payload.
pub const RECORD_HEADER: usize = 8;
/// Bytes of a record's framing after its payload.
pub const RECORD_TRAILER: usize = 4;
const SNAPSHOT_HEADER: usize = 30;

/// One entry of a record, as read back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Entry {
    /// A persist of a group's core, except [`Persist::Snapshot`] (which is written as a snapshot
    /// file and a checkpoint).
    Persist(GroupId, Persist),
    /// Everything durable of a group when the log was compacted, with its snapshot's content in
    /// `snapshot-<group>-<slot>.snap`. The first record of a compacted log holds one for every
    /// group.
    Checkpoint(GroupId, Checkpoint),
}

/// The same entries, borrowed, for writing without a copy: postcard encodes both enums the same way
/// (variant index, then fields), which the tests check.
#[derive(Serialize)]
pub enum EntryRef<'a> {
    /// See [`Entry::Persist`].
    Persist(GroupId, &'a Persist),
    /// See [`Entry::Checkpoint`].
    Checkpoint(GroupId, &'a Checkpoint),
}

/// A [`DurableState`] without its snapshot's content (which is in the snapshot file).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// See [`DurableState::joined`].
    pub joined: Option<Joined>,
    /// See [`DurableState::promised`].
    pub promised: Ballot,
    /// The slot of the snapshot file that holds the state machine, if any.
    pub snapshot: Option<Slot>,
    /// See [`DurableState::accepted`].
    pub accepted: BTreeMap<Slot, (Ballot, Value)>,
    /// See [`DurableState::chosen_floor`].
    pub chosen_floor: Slot,
    /// See [`DurableState::incarnations`].
    pub incarnations: BTreeMap<NodeId, u64>,
}

impl Checkpoint {
    /// The checkpoint of `state`.
    pub fn of(state: &DurableState) -> Checkpoint {
        Checkpoint {
            joined: state.joined,
            promised: state.promised,
            snapshot: state.snapshot.as_ref().map(|(slot, _)| *slot),
            accepted: state.accepted.clone(),
            chosen_floor: state.chosen_floor,
            incarnations: state.incarnations.clone(),
        }
    }
}

/// The file name of segment `seq`.
pub fn segment_name(seq: u64) -> String {
    format!("wal-{seq:020}.log")
}

/// The sequence number of a segment file name.
pub fn parse_segment_name(name: &str) -> Option<u64> {
    name.strip_prefix("wal-")?.strip_suffix(".log")?.parse().ok()
}

/// The file name of group `group`'s snapshot of `slot`.
pub fn snapshot_name(group: GroupId, slot: Slot) -> String {
    format!("snapshot-{:05}-{:020}.snap", group.0, slot.0)
}

/// The group and slot of a snapshot file name.
pub fn parse_snapshot_name(name: &str) -> Option<(GroupId, Slot)> {
    let (group, slot) = name.strip_prefix("snapshot-")?.strip_suffix(".snap")?.split_once('-')?;
    Some((GroupId(group.parse().ok()?), Slot(slot.parse().ok()?)))
}

/// The header of segment `seq`.
pub fn segment_header(seq: u64) -> [u8; SEGMENT_HEADER] {
    let mut header = [0u8; SEGMENT_HEADER];
    header[..5].copy_from_slice(&SEGMENT_MAGIC);
    header[5] = VERSION;
    header[8..16].copy_from_slice(&seq.to_le_bytes());
    let crc = crc32c::crc32c(&header[..16]);
    header[16..].copy_from_slice(&crc.to_le_bytes());
    header
}

/// Appends one record holding `entries` to `buf`.
pub fn encode_record(entries: &[EntryRef<'_>], buf: &mut Vec<u8>) {
    let start = buf.len();
    buf.extend_from_slice(&[0u8; RECORD_HEADER]);
    let payload = postcard::to_extend(entries, std::mem::take(buf)).expect("encoding to a Vec cannot fail");
    *buf = payload;
    let len = u32::try_from(buf.len() - start - RECORD_HEADER).expect("a record is below 4 GiB");
    let len_bytes = len.to_le_bytes();
    buf[start..start + 4].copy_from_slice(&len_bytes);
    buf[start + 4..start + 8].copy_from_slice(&crc32c::crc32c(&len_bytes).to_le_bytes());
    let crc = crc32c::crc32c(&buf[start + RECORD_HEADER..]);
    buf.extend_from_slice(&crc.to_le_bytes());
}

/// The result of scanning one segment.
#[derive(Debug)]
pub struct Scan {
    /// The entries of every intact record, in order.
    pub records: Vec<Vec<Entry>>,
    /// Where each of those records ends (the offset of the next).
    pub ends: Vec<u64>,
    /// Where the intact records end.
    pub end: u64,
    /// How the scan ended, if not at the end of the file.
    pub stop: Option<Stop>,
}

/// Why a scan stopped before the end of the file.
#[derive(Debug, PartialEq, Eq)]
pub enum Stop {
    /// The rest of the file is zeros: space reserved ahead of the writes, never written (or a
    /// write none of whose blocks reached the disk). The normal end of the last segment.
    Zeros,
    /// The rest of the file is an unfinished write: what a crash in the middle of a write leaves.
    /// Safe to cut away from the last segment: it was never acknowledged, because its sync never
    /// returned.
    Torn {
        /// What was wrong.
        reason: String,
    },
    /// A record is damaged although data follows it.
    Damaged {
        /// Where the damaged record (or header) begins.
        offset: u64,
        /// What was wrong.
        reason: String,
    },
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("four bytes"))
}

/// Checks a segment header; `Err` says what is wrong.
pub fn check_segment_header(bytes: &[u8], seq: u64) -> Result<(), String> {
    if bytes.len() < SEGMENT_HEADER {
        return Err(format!("the header is cut short ({} of {SEGMENT_HEADER} bytes)", bytes.len()));
    }
    if bytes[..5] != SEGMENT_MAGIC {
        return Err("not a write-ahead log segment (bad magic)".to_string());
    }
    if crc32c::crc32c(&bytes[..16]) != read_u32(bytes, 16) {
        return Err("the header checksum does not match".to_string());
    }
    if bytes[5] != VERSION {
        return Err(format!("format version {} (this build reads version {VERSION})", bytes[5]));
    }
    let found = u64::from_le_bytes(bytes[8..16].try_into().expect("eight bytes"));
    if found != seq {
        return Err(format!("the header says segment {found}, the file name says {seq}"));
    }
    Ok(())
}

/// Reads the records of a segment whose header is valid, up to the first bad one.
///
/// The storage never writes a record before the previous one is synced, so a crash can leave at
/// most the last record unfinished, in any shape (cut short, zeros, blocks missing in the middle).
/// A bad record is therefore an unfinished write ([`Stop::Torn`]) exactly when no intact record
/// follows it; with an intact record after it, it was synced once, and it is [`Stop::Damaged`].
/// Nothing but zeros after the intact records (reserved space) is [`Stop::Zeros`].
///
/// Bytes shorter than a header (which [`check_segment_header`] refuses first) scan as a torn
/// write with no record, not a panic (found by the `wal` fuzz target).
pub fn scan_records(bytes: &[u8]) -> Scan {
    let mut records = Vec::new();
    let mut ends = Vec::new();
    if bytes.len() < SEGMENT_HEADER {
        let reason = format!("the header is cut short ({} of {SEGMENT_HEADER} bytes)", bytes.len());
        return Scan {
            records,
            ends: Vec::new(),
            end: bytes.len() as u64,
            stop: Some(Stop::Torn { reason }),
        };
    }
    let mut at = SEGMENT_HEADER;
    let stop = loop {
        if at == bytes.len() {
            break None;
        }
        let problem = match check_record(bytes, at) {
            Ok(end) => {
                let payload = &bytes[at + RECORD_HEADER..end - RECORD_TRAILER];
                match postcard::from_bytes::<Vec<Entry>>(payload) {
                    Ok(entries) => {
                        records.push(entries);
                        ends.push(end as u64);
                        at = end;
                        continue;
                    }
                    // The checksum matched, so these are the bytes that were written: not a torn
                    // write but an encoding this build does not read.
                    Err(error) => {
                        let reason = format!("the record's checksum matches but it does not decode: {error}");
                        break Some(Stop::Damaged { offset: at as u64, reason });
                    }
                }
            }
            Err(problem) => problem,
        };
        if bytes[at..].iter().all(|&byte| byte == 0) {
            break Some(Stop::Zeros);
        }
        break Some(match (at + 1..bytes.len()).find(|&later| check_record(bytes, later).is_ok()) {
            None => Stop::Torn { reason: problem },
            Some(later) => Stop::Damaged {
                offset: at as u64,
                reason: format!("{problem}, and an intact record follows at byte {later}"),
            },
        });
    };
    Scan { records, ends, end: at as u64, stop }
}

/// Checks the framing and checksums of the record at `at`; returns where it ends, or what is
/// wrong.
fn check_record(bytes: &[u8], at: usize) -> Result<usize, String> {
    let available = bytes.len() - at;
    if available < RECORD_HEADER {
        return Err(format!("a record header is cut short ({available} of {RECORD_HEADER} bytes)"));
    }
    if crc32c::crc32c(&bytes[at..at + 4]) != read_u32(bytes, at + 4) {
        return Err("the record length's checksum does not match".to_string());
    }
    let len = read_u32(bytes, at) as usize;
    let end = at + RECORD_HEADER + len + RECORD_TRAILER;
    if end > bytes.len() {
        return Err(format!("a record of {len} bytes is cut short at {} bytes", available - RECORD_HEADER));
    }
    if crc32c::crc32c(&bytes[at + RECORD_HEADER..end - RECORD_TRAILER])
        != read_u32(bytes, end - RECORD_TRAILER)
    {
        return Err("the record's checksum does not match".to_string());
    }
    Ok(end)
}

/// The bytes of a snapshot file for group `group`'s `state` at `slot`.
pub fn encode_snapshot(group: GroupId, slot: Slot, state: &KvStore) -> Vec<u8> {
    let mut buf = vec![0u8; SNAPSHOT_HEADER];
    buf = postcard::to_extend(state, buf).expect("encoding to a Vec cannot fail");
    let len = (buf.len() - SNAPSHOT_HEADER) as u64;
    buf[..6].copy_from_slice(&SNAPSHOT_MAGIC);
    buf[6] = SNAPSHOT_VERSION;
    buf[8..10].copy_from_slice(&group.0.to_le_bytes());
    buf[10..18].copy_from_slice(&slot.0.to_le_bytes());
    buf[18..26].copy_from_slice(&len.to_le_bytes());
    let crc = snapshot_crc(&buf);
    buf[26..30].copy_from_slice(&crc.to_le_bytes());
    buf
}

/// Reads group `group`'s snapshot file of `slot`; `Err` says what is wrong.
pub fn decode_snapshot(bytes: &[u8], group: GroupId, slot: Slot) -> Result<KvStore, String> {
    if bytes.len() < SNAPSHOT_HEADER {
        return Err(format!("the header is cut short ({} of {SNAPSHOT_HEADER} bytes)", bytes.len()));
    }
    if bytes[..6] != SNAPSHOT_MAGIC {
        return Err("not a snapshot file (bad magic)".to_string());
    }
    if bytes[6] != SNAPSHOT_VERSION {
        return Err(format!("format version {} (this build reads version {SNAPSHOT_VERSION})", bytes[6]));
    }
    let found = u16::from_le_bytes(bytes[8..10].try_into().expect("two bytes"));
    if found != group.0 {
        return Err(format!("the header says group {found}, the file name says {}", group.0));
    }
    let found = u64::from_le_bytes(bytes[10..18].try_into().expect("eight bytes"));
    if found != slot.0 {
        return Err(format!("the header says slot {found}, the file name says {}", slot.0));
    }
    let len = u64::from_le_bytes(bytes[18..26].try_into().expect("eight bytes"));
    if len != (bytes.len() - SNAPSHOT_HEADER) as u64 {
        return Err(format!(
            "the header says {len} bytes of state, the file has {}",
            bytes.len() - SNAPSHOT_HEADER
        ));
    }
    if snapshot_crc(bytes) != read_u32(bytes, 26) {
        return Err("the checksum does not match".to_string());
    }
    postcard::from_bytes(&bytes[SNAPSHOT_HEADER..])
        .map_err(|error| format!("the state does not decode: {error}"))
}

/// The checksum of a snapshot file: its header before the checksum, then its payload.
fn snapshot_crc(bytes: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&bytes[..26]), &bytes[SNAPSHOT_HEADER..])
}
