//! Durable storage for the core's [`Persist`] records: a write-ahead log of checksummed records in
//! segment files, snapshot files of the state machine, and recovery that replays them into the
//! [`DurableState`] the core restarts from, one per Paxos group of the node.
//!
//! # Guarantees
//!
//! - [`Storage::append_groups`] writes the persists of any of the node's groups; [`Storage::sync`]
//!   makes everything appended so far durable with one `fdatasync`, whatever the groups. The runtime acknowledges a persist (sends the messages of its step) only
//!   after the sync returned. [`group::Committer`] shares one sync among all the steps that arrive
//!   while a sync is in flight (group commit).
//! - Space is reserved ahead of the writes ([`StorageOptions::reserve_bytes`]), so that a sync
//!   writes no metadata (a new file size, an extent map): the last segment ends in zeros, which
//!   recovery reads as the end of the log and the writer writes over; a segment closed for the
//!   next one is cut to its records first, so zeros ending an earlier segment are damage.
//! - Recovery ([`Storage::open`]) replays every intact record. An unfinished write at the very end
//!   of the last segment (a crash in the middle of a write: it was never acknowledged) is cut away
//!   and reported. Any other damage stops the node with [`StorageError::Damaged`], which names the
//!   file and the offset and says how to recover. Damage is never skipped silently.
//! - A [`Persist::Snapshot`] is written to its group's own file (tmp, fsync, rename, fsync of the
//!   directory); the log is then compacted: a new segment begins with a checkpoint of every group's
//!   durable state, and older segments and snapshots are removed. A group's snapshot thus
//!   compacts the log for all: the other groups' checkpoints carry what they still need.
//! - The data directory is locked: a second process on it gets [`StorageError::Locked`].
//! - After a failed write or sync the storage refuses all further work ([`StorageError::Failed`]):
//!   after a failed `fsync` the kernel may have dropped the dirty pages, so retrying could report
//!   durable what is not (the "fsyncgate" lesson). The node must restart and recover.
//!
//! # Why hand-written
//!
//! The log must run unchanged on turmoil's simulated file system, where a crash loses exactly the
//! writes that were not synced; embedded databases and log crates do their own file I/O on
//! `std::fs` (or `mmap`) and cannot. The file access goes through the small [`fs::FileSystem`]
//! trait instead; checksums ([`crc32c`]) and encoding (`postcard`) come from maintained crates.

pub mod format;
pub mod fs;
pub mod group;

use crate::core::{DurableState, GroupId, Persist, Slot};
use format::{Checkpoint, Entry, EntryRef, Scan, Stop};
use fs::{AppendFile, FileSystem, LockGuard};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The name of the lock file in a data directory.
pub const LOCK_FILE: &str = "LOCK";

/// Tuning of the storage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageOptions {
    /// A segment that grew past this size is closed and a new one begun.
    pub segment_bytes: u64,
    /// Space reserved ahead of the writes (allocated and written with zeros), in chunks of this
    /// size (never past the segment's size), so that a sync writes the data alone, without a new
    /// file size or extent map: measured on ext4, a 100-byte write and `fdatasync` take about
    /// 80 µs into reserved space and 125 µs when they grow the file. Each chunk's zeros go out
    /// with one sync: 128 KiB keeps that sync short (about 0.25 ms here; 1 MiB took 0.6 ms and
    /// showed in p99). 0: plain appends.
    pub reserve_bytes: u64,
    /// The Paxos groups whose persists the log holds (groups `0..groups`); set at `init` and never
    /// changed (an entry of a group outside them is damage).
    pub groups: u16,
    /// A deliberately broken storage for negative controls: [`Storage::sync`] returns without
    /// syncing, so records it reports durable sit in the page cache and a machine crash loses them.
    #[cfg(feature = "mutants")]
    pub skip_fsync: bool,
}

impl Default for StorageOptions {
    fn default() -> StorageOptions {
        StorageOptions {
            segment_bytes: 64 << 20,
            reserve_bytes: 128 << 10,
            groups: 1,
            #[cfg(feature = "mutants")]
            skip_fsync: false,
        }
    }
}

/// Why the storage failed. Every variant names the file it concerns.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A file operation failed.
    #[error("{operation} {path}: {source}")]
    Io {
        /// What was being done.
        operation: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The data on disk is damaged (not an unfinished write at the end of the log).
    #[error(
        "damaged data in {path} at byte {offset}: {reason}. The node refuses to start rather than \
         lose acknowledged writes. To recover: stop this node, move its data directory aside (keep it \
         for analysis), and start the node with an empty data directory: it rejoins through \
         storage-loss recovery and copies the state from its peers (a majority of the other nodes \
         must be up)"
    )]
    Damaged {
        /// The file.
        path: PathBuf,
        /// Where the damage begins.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// Another process holds the data directory.
    #[error("data directory {path} is locked: {detail}; is another node running on it?")]
    Locked {
        /// The lock file.
        path: PathBuf,
        /// Who holds it, if known.
        detail: String,
    },
    /// An earlier write or sync failed; nothing more is written (see the module docs).
    #[error("storage in {dir} stopped after an earlier failure ({first}); restart the node to recover")]
    Failed {
        /// The data directory.
        dir: PathBuf,
        /// The first failure.
        first: String,
    },
}

/// What recovery found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Segments replayed.
    pub segments: usize,
    /// Records replayed.
    pub records: usize,
    /// Bytes of intact records replayed.
    pub bytes: u64,
    /// The slot of each group's snapshot loaded, if any (index: the group).
    pub snapshots: Vec<Option<Slot>>,
    /// An unfinished write cut away from the end of the log: (file, offset, bytes cut, reason).
    pub truncated: Option<(PathBuf, u64, u64, String)>,
    /// Files left over from an interrupted compaction or snapshot and removed.
    pub removed: Vec<String>,
}

/// Counters of the work done, for `INFO` and the benchmark.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StorageStats {
    /// Records appended.
    pub records: u64,
    /// Bytes appended.
    pub bytes: u64,
    /// Syncs of the log.
    pub syncs: u64,
    /// Snapshots written.
    pub snapshots: u64,
    /// Segments begun.
    pub segments: u64,
}

/// The write-ahead log and snapshots of one data directory.
pub struct Storage<F: FileSystem> {
    fs: Arc<F>,
    dir: PathBuf,
    options: StorageOptions,
    /// What a replay of everything written so far yields, per group (kept to write checkpoints).
    states: Vec<DurableState>,
    /// The segment being appended to.
    seq: u64,
    file: F::File,
    /// Bytes in the current segment.
    len: u64,
    /// Bytes of the current segment's file reserved so far (at least; 0 when not known; `u64::MAX`
    /// once the file system refused).
    reserved: u64,
    /// Whether something was appended since the last sync.
    dirty: bool,
    /// Older segments and snapshots to remove once the current segment's checkpoint is durable.
    obsolete: Vec<PathBuf>,
    failed: Option<String>,
    stats: StorageStats,
    buf: Vec<u8>,
    _lock: LockGuard,
}

impl<F: FileSystem> std::fmt::Debug for Storage<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("dir", &self.dir)
            .field("seq", &self.seq)
            .field("len", &self.len)
            .finish()
    }
}

impl<F: FileSystem> Storage<F> {
    /// Opens the data directory of a node with one group: [`Storage::open_groups`], group 0.
    pub fn open(
        fs: Arc<F>,
        dir: &Path,
        options: StorageOptions,
    ) -> Result<(Storage<F>, DurableState, Recovery), StorageError> {
        let (storage, mut states, recovery) =
            Storage::open_groups(fs, dir, StorageOptions { groups: 1, ..options })?;
        Ok((storage, states.swap_remove(0), recovery))
    }

    /// Opens (creating if needed) the data directory `dir`, locks it, and recovers the durable
    /// state of each of [`StorageOptions::groups`] groups. An empty directory yields
    /// [`DurableState::lost`]: the caller decides whether that is a brand-new member (and appends
    /// [`Persist::Joined`]) or a node that lost its storage.
    pub fn open_groups(
        fs: Arc<F>,
        dir: &Path,
        options: StorageOptions,
    ) -> Result<(Storage<F>, Vec<DurableState>, Recovery), StorageError> {
        assert!(options.groups >= 1, "a node runs at least one group");
        let io_error = |operation: &'static str, path: &Path| {
            let path = path.to_path_buf();
            move |source| StorageError::Io { operation, path, source }
        };
        if !fs.exists(dir) {
            fs.create_dir_all(dir).map_err(io_error("create directory", dir))?;
            // The new directory's own entry must be durable too.
            if let Some(parent) = dir.parent().filter(|parent| !parent.as_os_str().is_empty()) {
                fs.sync_dir(parent).map_err(io_error("sync directory", parent))?;
            }
        }
        let lock_path = dir.join(LOCK_FILE);
        let lock = fs.lock(&lock_path).map_err(|error| match error.kind() {
            io::ErrorKind::WouldBlock => {
                StorageError::Locked { path: lock_path.clone(), detail: error.to_string() }
            }
            _ => StorageError::Io { operation: "lock", path: lock_path.clone(), source: error },
        })?;
        let names = fs.list(dir).map_err(io_error("list", dir))?;
        let (states, mut recovery, last) = recover(&*fs, dir, &names, options.groups)?;

        // Continue the last segment, or begin the first.
        let (seq, file, len) = match last {
            Some((seq, len)) => {
                let path = dir.join(format::segment_name(seq));
                let file = fs.open_at(&path, len).map_err(io_error("open", &path))?;
                (seq, file, len)
            }
            None => {
                let (file, len) = create_segment(&*fs, dir, 1)?;
                (1, file, len)
            }
        };
        // Leftovers of an interrupted snapshot or compaction.
        for name in &names {
            let stale_snapshot = format::parse_snapshot_name(name).is_some_and(|(group, slot)| {
                recovery.snapshots.get(group.index()).copied().flatten() != Some(slot)
            });
            // Segments before the first one replayed (with none replayed, before the one just
            // created: a segment removed by recovery must not take the new one with it).
            let first = seq + 1 - (recovery.segments as u64).max(1);
            let stale_segment = format::parse_segment_name(name).is_some_and(|found| found < first);
            let already = recovery.removed.contains(name);
            if !already && (name.ends_with(".tmp") || stale_snapshot || stale_segment) {
                let path = dir.join(name);
                fs.remove(&path).map_err(io_error("remove", &path))?;
                recovery.removed.push(name.clone());
            }
        }
        if !recovery.removed.is_empty() {
            fs.sync_dir(dir).map_err(io_error("sync directory", dir))?;
        }
        let storage = Storage {
            fs,
            dir: dir.to_path_buf(),
            options,
            states: states.clone(),
            seq,
            file,
            len,
            reserved: 0,
            dirty: false,
            obsolete: Vec::new(),
            failed: None,
            stats: StorageStats::default(),
            buf: Vec::new(),
            _lock: lock,
        };
        Ok((storage, states, recovery))
    }

    /// What a replay of everything appended so far yields for `group`.
    ///
    /// # Panics
    ///
    /// The group is not one of the storage's.
    pub fn state(&self, group: GroupId) -> &DurableState {
        &self.states[group.index()]
    }

    /// Counters of the work done.
    pub fn stats(&self) -> StorageStats {
        self.stats
    }

    /// Appends persists of group 0 (a node with one group): [`Storage::append_groups`].
    pub fn append(&mut self, persists: &[Persist]) -> Result<(), StorageError> {
        let tagged: Vec<(GroupId, &Persist)> = persists.iter().map(|persist| (GroupId(0), persist)).collect();
        self.check()?;
        let result = self.append_inner(&tagged);
        self.fail_on_error(result)
    }

    /// Appends the persists of one or more steps, of any groups, as one record (not yet durable:
    /// see [`Storage::sync`]). A snapshot among them is written to its group's file and compacts
    /// the log.
    ///
    /// # Panics
    ///
    /// A group is not one of the storage's (a bug of the caller: the node runs as many groups as
    /// its storage holds).
    pub fn append_groups(&mut self, batches: &[(GroupId, Vec<Persist>)]) -> Result<(), StorageError> {
        let tagged: Vec<(GroupId, &Persist)> = batches
            .iter()
            .flat_map(|(group, persists)| persists.iter().map(move |persist| (*group, persist)))
            .collect();
        self.check()?;
        let result = self.append_inner(&tagged);
        self.fail_on_error(result)
    }

    /// Makes everything appended durable with one `fdatasync`.
    pub fn sync(&mut self) -> Result<(), StorageError> {
        self.check()?;
        if !self.dirty {
            return Ok(());
        }
        #[cfg(feature = "mutants")]
        if self.options.skip_fsync {
            self.dirty = false;
            return Ok(());
        }
        let path = self.segment_path(self.seq);
        let result =
            self.file.sync_data().map_err(|source| StorageError::Io { operation: "sync", path, source });
        self.stats.syncs += 1;
        self.dirty = false;
        self.fail_on_error(result)
    }

    fn check(&self) -> Result<(), StorageError> {
        match &self.failed {
            Some(first) => Err(StorageError::Failed { dir: self.dir.clone(), first: first.clone() }),
            None => Ok(()),
        }
    }

    fn fail_on_error(&mut self, result: Result<(), StorageError>) -> Result<(), StorageError> {
        if let Err(error) = &result {
            self.failed = Some(error.to_string());
        }
        result
    }

    fn segment_path(&self, seq: u64) -> PathBuf {
        self.dir.join(format::segment_name(seq))
    }

    fn append_inner(&mut self, persists: &[(GroupId, &Persist)]) -> Result<(), StorageError> {
        let groups = self.states.len();
        if let Some((group, _)) = persists.iter().find(|(group, _)| group.index() >= groups) {
            panic!("a persist of group {group}, but the storage holds {groups} groups");
        }
        let mut rest = persists;
        while !rest.is_empty() {
            let split = rest.iter().position(|(_, persist)| matches!(persist, Persist::Snapshot { .. }));
            let (plain, after) = rest.split_at(split.unwrap_or(rest.len()));
            if !plain.is_empty() {
                let entries: Vec<EntryRef<'_>> =
                    plain.iter().map(|(group, persist)| EntryRef::Persist(*group, persist)).collect();
                self.buf.clear();
                format::encode_record(&entries, &mut self.buf);
                self.write_buf()?;
                self.stats.records += 1;
                for (group, persist) in plain {
                    self.states[group.index()].apply(persist);
                }
            }
            if let Some(((group, snapshot), after)) = after.split_first() {
                self.snapshot(*group, snapshot)?;
                rest = after;
            } else {
                rest = &[];
            }
        }
        if self.len >= self.options.segment_bytes {
            self.roll(false)?;
        }
        Ok(())
    }

    fn write_buf(&mut self) -> Result<(), StorageError> {
        let path = self.segment_path(self.seq);
        // A record is written only after the previous one is durable, so that a crash can leave
        // at most the last record unfinished: that is what lets recovery tell an unfinished
        // write from damage (see `format::scan_records`). Group commit syncs after every
        // record anyway, so this sync is free there.
        if self.dirty {
            self.file.sync_data().map_err(|source| StorageError::Io {
                operation: "sync",
                path: path.clone(),
                source,
            })?;
            self.stats.syncs += 1;
            self.dirty = false;
        }
        let end = self.len + self.buf.len() as u64;
        if end > self.reserved && self.options.reserve_bytes > 0 {
            let reserve = (end + self.options.reserve_bytes).min(end.max(self.options.segment_bytes));
            // Only slower without it, never wrong: if the file system refuses (or has not the
            // room to spare), this segment grows with its writes instead.
            self.reserved = if self.file.reserve(reserve).is_ok() { reserve } else { u64::MAX };
        }
        self.file.append(&self.buf).map_err(|source| StorageError::Io {
            operation: "write",
            path,
            source,
        })?;
        self.len += self.buf.len() as u64;
        self.stats.bytes += self.buf.len() as u64;
        self.dirty = true;
        Ok(())
    }

    /// Writes a snapshot file of `group`, then compacts the log behind a checkpoint of every group.
    fn snapshot(&mut self, group: GroupId, persist: &Persist) -> Result<(), StorageError> {
        let Persist::Snapshot { slot, state } = persist else {
            unreachable!("only snapshots are passed here")
        };
        let held = &mut self.states[group.index()];
        let before = held.snapshot.as_ref().map(|(held, _)| *held);
        held.apply(persist);
        if held.snapshot.as_ref().map(|(held, _)| *held) == before {
            return Ok(()); // Not newer than the snapshot held: nothing changes.
        }
        let name = format::snapshot_name(group, *slot);
        let path = self.dir.join(&name);
        let tmp = self.dir.join(format!("{name}.tmp"));
        let io_error = |operation: &'static str, path: &Path| {
            let path = path.to_path_buf();
            move |source| StorageError::Io { operation, path, source }
        };
        let mut file = self.fs.create(&tmp).map_err(io_error("create", &tmp))?;
        file.append(&format::encode_snapshot(group, *slot, state)).map_err(io_error("write", &tmp))?;
        file.sync_all().map_err(io_error("sync", &tmp))?;
        drop(file);
        self.fs.rename(&tmp, &path).map_err(io_error("rename", &tmp))?;
        self.fs.sync_dir(&self.dir).map_err(io_error("sync directory", &self.dir))?;
        self.stats.snapshots += 1;
        if let Some(old) = before {
            self.obsolete.push(self.dir.join(format::snapshot_name(group, old)));
        }
        self.roll(true)
    }

    /// Closes the current segment and begins the next; with `checkpoint`, the new segment begins
    /// with a checkpoint of every group's durable state (one record) and the older segments become
    /// obsolete.
    fn roll(&mut self, checkpoint: bool) -> Result<(), StorageError> {
        // The closed segment must be complete on disk: only the last segment may end torn.
        let old = self.segment_path(self.seq);
        self.file.sync_data().map_err(|source| StorageError::Io {
            operation: "sync",
            path: old.clone(),
            source,
        })?;
        self.stats.syncs += 1;
        // Without its reserved tail (this run's or an earlier one's): zeros at the end of a segment
        // that is not the last are damage.
        self.fs.truncate(&old, self.len).map_err(|source| StorageError::Io {
            operation: "truncate",
            path: old.clone(),
            source,
        })?;
        let seq = self.seq + 1;
        let (file, len) = create_segment(&*self.fs, &self.dir, seq)?;
        self.file = file;
        self.seq = seq;
        self.len = len;
        self.reserved = 0;
        self.dirty = false;
        self.stats.segments += 1;
        if checkpoint {
            let marks: Vec<Checkpoint> = self.states.iter().map(Checkpoint::of).collect();
            let entries: Vec<EntryRef<'_>> = (0u16..)
                .zip(&marks)
                .map(|(group, mark)| EntryRef::Checkpoint(GroupId(group), mark))
                .collect();
            self.buf.clear();
            format::encode_record(&entries, &mut self.buf);
            self.write_buf()?;
            let path = self.segment_path(self.seq);
            self.file.sync_data().map_err(|source| StorageError::Io { operation: "sync", path, source })?;
            self.stats.syncs += 1;
            self.dirty = false;
            // The checkpoint is durable: everything before it can go.
            for older in 1..seq {
                let path = self.segment_path(older);
                if self.fs.exists(&path) {
                    self.obsolete.push(path);
                }
            }
            for path in std::mem::take(&mut self.obsolete) {
                self.fs.remove(&path).map_err(|source| StorageError::Io {
                    operation: "remove",
                    path,
                    source,
                })?;
            }
            self.fs.sync_dir(&self.dir).map_err(|source| StorageError::Io {
                operation: "sync directory",
                path: self.dir.clone(),
                source,
            })?;
        }
        Ok(())
    }
}

/// Creates segment `seq` with its header, durable with its directory entry.
fn create_segment<F: FileSystem>(fs: &F, dir: &Path, seq: u64) -> Result<(F::File, u64), StorageError> {
    let path = dir.join(format::segment_name(seq));
    let io_error = |operation: &'static str| {
        let path = path.clone();
        move |source| StorageError::Io { operation, path, source }
    };
    let mut file = fs.create(&path).map_err(io_error("create"))?;
    file.append(&format::segment_header(seq)).map_err(io_error("write"))?;
    file.sync_all().map_err(io_error("sync"))?;
    fs.sync_dir(dir).map_err(|source| StorageError::Io {
        operation: "sync directory",
        path: dir.to_path_buf(),
        source,
    })?;
    Ok((file, format::SEGMENT_HEADER as u64))
}

/// What a replay yields: each group's state, the report, and the last segment with the length of
/// its intact records.
type Replayed = (Vec<DurableState>, Recovery, Option<(u64, u64)>);

/// Replays the segments of `dir` into the states of `groups` groups. Returns the states, the
/// report, and the last segment with the length of its intact records (None if there is no
/// segment).
fn recover<F: FileSystem>(
    fs: &F,
    dir: &Path,
    names: &[String],
    groups: u16,
) -> Result<Replayed, StorageError> {
    let mut segments: Vec<u64> = names.iter().filter_map(|name| format::parse_segment_name(name)).collect();
    segments.sort_unstable();
    let mut recovery = Recovery::default();
    let damaged = |path: &Path, offset: u64, reason: String| StorageError::Damaged {
        path: path.to_path_buf(),
        offset,
        reason,
    };
    let read = |path: &Path| {
        fs.read(path).map_err(|source| StorageError::Io {
            operation: "read",
            path: path.to_path_buf(),
            source,
        })
    };

    // Read every segment; find the newest that begins with a checkpoint: replay starts there.
    let mut scans: Vec<(u64, PathBuf, Vec<u8>, Scan)> = Vec::new();
    for (index, &seq) in segments.iter().enumerate() {
        let path = dir.join(format::segment_name(seq));
        let bytes = read(&path)?;
        let last = index + 1 == segments.len();
        if let Err(reason) = format::check_segment_header(&bytes, seq) {
            // A segment is created (header written and synced) before anything is appended to
            // it, so a bad header is an unfinished creation only in the last segment, and only if
            // the file holds nothing but that header.
            if last && bytes.len() <= format::SEGMENT_HEADER {
                fs.remove(&path).map_err(|source| StorageError::Io {
                    operation: "remove",
                    path: path.clone(),
                    source,
                })?;
                recovery.removed.push(format::segment_name(seq));
                continue;
            }
            return Err(damaged(&path, 0, reason));
        }
        let scan = format::scan_records(&bytes);
        scans.push((seq, path, bytes, scan));
    }
    let start = scans
        .iter()
        .rposition(|(_, _, _, scan)| {
            matches!(scan.records.first().and_then(|record| record.first()), Some(Entry::Checkpoint(..)))
        })
        .unwrap_or(0);
    let scans = &scans[start..];
    if let Some((first, path, _, _)) = scans.first() {
        let begins_with_checkpoint = matches!(
            scans[0].3.records.first().and_then(|record| record.first()),
            Some(Entry::Checkpoint(..))
        );
        if *first != 1 && !begins_with_checkpoint {
            return Err(damaged(
                path,
                0,
                format!("the log begins at segment {first}, and segments 1 to {} are missing", first - 1),
            ));
        }
    }

    let mut states = vec![DurableState::default(); usize::from(groups)];
    let mut last = None;
    for (index, (seq, path, bytes, scan)) in scans.iter().enumerate() {
        if index > 0 && *seq != scans[index - 1].0 + 1 {
            return Err(damaged(path, 0, format!("segment {} is missing before it", scans[index - 1].0 + 1)));
        }
        let is_last = index + 1 == scans.len();
        match &scan.stop {
            None => {}
            Some(Stop::Zeros) if is_last => {}
            Some(Stop::Zeros) => {
                let reason = "the records end in zeros, but later segments exist".to_string();
                return Err(damaged(path, scan.end, reason));
            }
            Some(Stop::Damaged { offset, reason }) => return Err(damaged(path, *offset, reason.clone())),
            Some(Stop::Torn { reason }) if !is_last => {
                return Err(damaged(path, scan.end, format!("{reason}, but later segments exist")));
            }
            Some(Stop::Torn { reason }) => {
                let cut = bytes.len() as u64 - scan.end;
                fs.truncate(path, scan.end).map_err(|source| StorageError::Io {
                    operation: "truncate",
                    path: path.clone(),
                    source,
                })?;
                recovery.truncated = Some((path.clone(), scan.end, cut, reason.clone()));
            }
        }
        let mut offset = format::SEGMENT_HEADER as u64;
        for (record, &end) in scan.records.iter().zip(&scan.ends) {
            for entry in record {
                let (Entry::Persist(group, _) | Entry::Checkpoint(group, _)) = entry;
                let Some(state) = states.get_mut(group.index()) else {
                    let reason = format!(
                        "a record of group {} (the node runs groups 0 to {}: the data directory \
                         belongs to a cluster with more groups)",
                        group.0,
                        groups - 1
                    );
                    return Err(damaged(path, offset, reason));
                };
                match entry {
                    Entry::Persist(_, persist) => state.apply(persist),
                    Entry::Checkpoint(group, mark) => {
                        *state = restore(mark);
                        if let Some(slot) = mark.snapshot {
                            let snapshot_path = dir.join(format::snapshot_name(*group, slot));
                            if !fs.exists(&snapshot_path) {
                                let reason = format!(
                                    "the checkpoint refers to {}, which is missing",
                                    snapshot_path.display()
                                );
                                return Err(damaged(path, format::SEGMENT_HEADER as u64, reason));
                            }
                            let kv = format::decode_snapshot(&read(&snapshot_path)?, *group, slot)
                                .map_err(|reason| damaged(&snapshot_path, 0, reason))?;
                            state.apply(&Persist::Snapshot { slot, state: Arc::new(kv) });
                        }
                    }
                }
            }
            recovery.records += 1;
            offset = end;
        }
        recovery.segments += 1;
        recovery.bytes += scan.end - format::SEGMENT_HEADER as u64;
        last = Some((*seq, scan.end));
    }
    recovery.snapshots = states.iter().map(|state| state.snapshot.as_ref().map(|(slot, _)| *slot)).collect();
    Ok((states, recovery, last))
}

/// The durable state of a checkpoint, without its snapshot's content.
fn restore(mark: &Checkpoint) -> DurableState {
    DurableState {
        joined: mark.joined,
        promised: mark.promised,
        snapshot: None,
        accepted: mark.accepted.clone(),
        chosen_floor: mark.chosen_floor,
        incarnations: mark.incarnations.clone(),
    }
}
