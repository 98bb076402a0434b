//! Group commit: a storage thread that writes every batch of persists queued while its previous
//! sync was in flight, of whichever Paxos groups of the node, as one record, and makes them all
//! durable with one `fdatasync`.
//!
//! Each submission gets a ticket, in submission order. After each sync the thread reports once,
//! with the highest ticket now durable (every lower ticket is durable too): a runtime that releases
//! a step's sends only when its ticket is reported keeps persist-before-send, and pays one wake-up
//! per sync rather than one per step.

use super::fs::FileSystem;
use super::{Storage, StorageError, StorageStats};
use crate::core::{GroupId, Persist};
use crate::metrics::Metrics;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// A report of the storage thread: every ticket up to this one is durable, or the storage failed
/// (and stays failed: nothing submitted later becomes durable).
pub type Durable = Result<u64, Arc<StorageError>>;

/// The persists of one step of one group.
type Batch = (GroupId, Vec<Persist>);

/// A storage thread with group commit. Dropping it finishes the queued work and stops the thread.
pub struct Committer {
    /// The next ticket and the queue, under one lock so that tickets follow the queue's order.
    queue: Mutex<(u64, Option<mpsc::Sender<Batch>>)>,
    thread: Option<JoinHandle<()>>,
    stats: Arc<Mutex<StorageStats>>,
}

impl std::fmt::Debug for Committer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Committer").field("stats", &self.stats()).finish()
    }
}

impl Committer {
    /// Moves `storage` to a new thread, which calls `on_durable` after every sync (and records
    /// each sync in `metrics`, if given).
    pub fn start<F: FileSystem>(
        mut storage: Storage<F>,
        metrics: Option<Arc<Metrics>>,
        mut on_durable: impl FnMut(Durable) + Send + 'static,
    ) -> std::io::Result<Committer> {
        let (sender, receiver) = mpsc::channel::<Batch>();
        let stats = Arc::new(Mutex::new(storage.stats()));
        let shared = stats.clone();
        let thread = std::thread::Builder::new().name("paxos-storage".to_string()).spawn(move || {
            let mut persists = Vec::new();
            let mut durable = 0u64;
            let mut failed: Option<Arc<StorageError>> = None;
            while let Ok(first) = receiver.recv() {
                // Everything queued while the previous sync was in flight joins this one.
                let mut tickets = 0;
                for batch in std::iter::once(first).chain(receiver.try_iter()) {
                    if !batch.1.is_empty() {
                        persists.push(batch);
                    }
                    tickets += 1;
                }
                if failed.is_none() {
                    if let Err(error) = write_and_sync(&mut storage, &persists, metrics.as_deref()) {
                        failed = Some(Arc::new(error));
                    }
                }
                persists.clear();
                durable += tickets;
                *shared.lock().unwrap_or_else(|poison| poison.into_inner()) = storage.stats();
                on_durable(match &failed {
                    None => Ok(durable),
                    Some(error) => Err(error.clone()),
                });
            }
        })?;
        Ok(Committer { queue: Mutex::new((0, Some(sender))), thread: Some(thread), stats })
    }

    /// Queues `persists` of `group` (possibly none: the ticket then only orders behind earlier
    /// submissions) and returns its ticket (1, 2, 3...); `on_durable` reports it once it is durable.
    pub fn submit(&self, group: GroupId, persists: Vec<Persist>) -> u64 {
        let mut queue = self.queue.lock().unwrap_or_else(|poison| poison.into_inner());
        queue.0 += 1;
        let ticket = queue.0;
        if let Some(sender) = &queue.1 {
            // The thread stops only when this sender is dropped, or if `on_durable` panicked; the
            // ticket is then never reported, as with any failure of the storage thread.
            let _ = sender.send((group, persists));
        }
        ticket
    }

    /// Counters of the work done so far.
    pub fn stats(&self) -> StorageStats {
        *self.stats.lock().unwrap_or_else(|poison| poison.into_inner())
    }
}

impl Drop for Committer {
    fn drop(&mut self) {
        drop(self.queue.lock().unwrap_or_else(|poison| poison.into_inner()).1.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Appends `persists` (of one or more groups) to `storage` and syncs it: one group commit. Records
/// in `metrics` how long the sync took, how many accepted slots it made durable and the bytes
/// appended.
///
/// # Errors
///
/// The storage failed.
pub fn write_and_sync<F: FileSystem>(
    storage: &mut Storage<F>,
    batches: &[(GroupId, Vec<Persist>)],
    metrics: Option<&Metrics>,
) -> Result<(), StorageError> {
    let Some(metrics) = metrics.filter(|_| batches.iter().any(|(_, persists)| !persists.is_empty())) else {
        return storage.append_groups(batches).and_then(|()| storage.sync());
    };
    let persists = || batches.iter().flat_map(|(_, persists)| persists);
    let bytes = storage.stats().bytes;
    storage.append_groups(batches)?;
    let syncs = storage.stats().syncs;
    let started = std::time::Instant::now();
    let result = storage.sync();
    if result.is_ok() {
        // A snapshot among the persists rolls the log, whose syncs leave this one nothing to do:
        // only a sync that happened is timed.
        if storage.stats().syncs > syncs {
            metrics.fsync_seconds.observe(started.elapsed().as_secs_f64());
        }
        let slots = persists().filter(|persist| matches!(persist, Persist::Accept { .. })).count();
        if slots > 0 {
            metrics.sync_slots.observe(slots as f64);
        }
        metrics.wal_bytes.inc_by(storage.stats().bytes.saturating_sub(bytes));
        let snapshots = persists().filter(|persist| matches!(persist, Persist::Snapshot { .. })).count();
        metrics.snapshots_written.inc_by(snapshots as u64);
    }
    result
}
