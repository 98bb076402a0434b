//! The small file-system interface the storage is written against, with two implementations: the
//! operating system's ([`StdFs`]) and turmoil's simulated file system (`SimFs`, feature `turmoil`),
//! where a crash loses every write that was not synced.
//!
//! The interface has only what the write-ahead log and the snapshots need: create, write at a
//! position, reserve space, sync, read whole files, truncate, rename, remove, list and sync a
//! directory, and an exclusive lock on the data directory.

use std::any::Any;
use std::io;
use std::path::Path;

/// An open file that the storage appends to.
pub trait AppendFile: Send {
    /// Writes `bytes` at the write position (where the file was created or opened, then after the
    /// last write) and moves the position past them.
    fn append(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Makes the file at least `len` bytes long, the new bytes zeros, allocated and written, and
    /// leaves the write position alone: a later write into that space changes no metadata, so its
    /// sync writes the data alone, not also a new file size or the extent map.
    fn reserve(&mut self, len: u64) -> io::Result<()>;
    /// Makes the appended data durable (`fdatasync`).
    fn sync_data(&mut self) -> io::Result<()>;
    /// Makes the data and the file's metadata durable (`fsync`): needed once after creating a file.
    fn sync_all(&mut self) -> io::Result<()>;
}

/// A held lock on a data directory; dropping it releases the lock.
pub type LockGuard = Box<dyn Any + Send>;

/// What the storage needs from a file system.
pub trait FileSystem: Send + Sync + 'static {
    /// A file opened for appending.
    type File: AppendFile;

    /// Creates `dir` and its parents if they are missing.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// The names of the entries of `dir`, sorted.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Whether `path` exists.
    fn exists(&self, path: &Path) -> bool;
    /// The whole content of a file.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// Creates a new empty file (replacing any file of that name) for appending.
    fn create(&self, path: &Path) -> io::Result<Self::File>;
    /// Opens an existing file for writing at `offset` (the end of its intact content: space
    /// reserved beyond it is written over).
    fn open_at(&self, path: &Path, offset: u64) -> io::Result<Self::File>;
    /// Cuts a file to `len` bytes and makes that durable.
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()>;
    /// Renames a file (atomically replacing `to`).
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a file.
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Makes the entries of `dir` (creations, renames, removals) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Takes the exclusive lock of `path` (creating the file), or fails with
    /// [`io::ErrorKind::WouldBlock`] if another process holds it.
    fn lock(&self, path: &Path) -> io::Result<LockGuard>;
}

/// The operating system's file system.
#[derive(Clone, Copy, Debug, Default)]
pub struct StdFs;

/// A file of [`StdFs`].
#[derive(Debug)]
pub struct StdFile(std::fs::File);

impl AppendFile for StdFile {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        io::Write::write_all(&mut self.0, bytes)
    }

    fn reserve(&mut self, len: u64) -> io::Result<()> {
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::fs::FileExt;
            let from = self.0.metadata()?.len();
            if len <= from {
                return Ok(());
            }
            let end = i64::try_from(len).map_err(io::Error::other)?;
            nix::fcntl::posix_fallocate(&self.0, 0, end).map_err(io::Error::from)?;
            // Written, not only allocated: ext4 keeps fallocated blocks "unwritten", and a write
            // into a new one makes its sync also write the extent map and the inode, one after the
            // other, before the cache flush (seen in `perf` under `ext4_fsync_nojournal`). The
            // zeros go out with the next sync, once per reservation.
            static ZEROS: [u8; 64 << 10] = [0; 64 << 10];
            let mut at = from;
            while at < len {
                let chunk = usize::try_from((len - at).min(ZEROS.len() as u64)).map_err(io::Error::other)?;
                self.0.write_all_at(&ZEROS[..chunk], at)?;
                at += chunk as u64;
            }
            Ok(())
        }
        #[cfg(not(target_os = "linux"))]
        {
            // Elsewhere the log simply appends: correct, with one metadata update per sync.
            let _ = len;
            Ok(())
        }
    }

    fn sync_data(&mut self) -> io::Result<()> {
        self.0.sync_data()
    }

    fn sync_all(&mut self) -> io::Result<()> {
        self.0.sync_all()
    }
}

impl FileSystem for StdFs {
    type File = StdFile;

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            names.push(entry?.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }

    fn create(&self, path: &Path) -> io::Result<StdFile> {
        std::fs::OpenOptions::new().write(true).create(true).truncate(true).open(path).map(StdFile)
    }

    fn open_at(&self, path: &Path, offset: u64) -> io::Result<StdFile> {
        let mut file = std::fs::OpenOptions::new().write(true).open(path)?;
        io::Seek::seek(&mut file, io::SeekFrom::Start(offset))?;
        Ok(StdFile(file))
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let file = std::fs::OpenOptions::new().write(true).open(path)?;
        file.set_len(len)?;
        file.sync_all()
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        std::fs::File::open(dir)?.sync_all()
    }

    fn lock(&self, path: &Path) -> io::Result<LockGuard> {
        let file =
            std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
        match file.try_lock() {
            Ok(()) => {
                // The holder's process id, for the operator (the lock itself is the flock).
                file.set_len(0)?;
                io::Write::write_all(&mut &file, format!("{}\n", std::process::id()).as_bytes())?;
                Ok(Box::new(file))
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(path).unwrap_or_default();
                let holder = holder.trim();
                let detail = if holder.is_empty() { String::new() } else { format!(" (process {holder})") };
                Err(io::Error::new(io::ErrorKind::WouldBlock, format!("held by another process{detail}")))
            }
            Err(std::fs::TryLockError::Error(error)) => Err(error),
        }
    }
}

#[cfg(feature = "turmoil")]
pub use sim::{SimFs, SimLocks};

#[cfg(feature = "turmoil")]
mod sim {
    use super::{AppendFile, FileSystem, LockGuard};
    use std::collections::BTreeSet;
    use std::io;
    use std::path::{Path, PathBuf};
    use std::sync::{Arc, Mutex};
    use turmoil::fs::shim::std::fs as simfs;

    /// The locks held in one simulation, by host and path: the simulated file system has no
    /// `flock`, and a simulated host that crashes drops its node (and so its guard), like a process
    /// that dies releases its `flock`.
    #[derive(Debug, Default)]
    pub struct SimLocks(Mutex<BTreeSet<(String, PathBuf)>>);

    /// turmoil's simulated file system of the current host (`unstable-fs`): a crash loses writes
    /// that were not synced, and new files whose directory was not synced.
    #[derive(Clone, Debug)]
    pub struct SimFs {
        host: String,
        locks: Arc<SimLocks>,
    }

    impl SimFs {
        /// The file system of simulated host `host`, with the simulation's lock table.
        pub fn new(host: impl Into<String>, locks: Arc<SimLocks>) -> SimFs {
            SimFs { host: host.into(), locks }
        }
    }

    /// A file of [`SimFs`].
    #[derive(Debug)]
    pub struct SimFile(simfs::File);

    impl AppendFile for SimFile {
        fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
            io::Write::write_all(&mut self.0, bytes)
        }

        fn reserve(&mut self, len: u64) -> io::Result<()> {
            // Zeros, lost in a crash unless synced, like any unsynced extension of a file.
            if self.0.metadata()?.len() < len {
                self.0.set_len(len)?;
            }
            Ok(())
        }

        fn sync_data(&mut self) -> io::Result<()> {
            self.0.sync_data()
        }

        fn sync_all(&mut self) -> io::Result<()> {
            self.0.sync_all()
        }
    }

    struct SimGuard {
        key: (String, PathBuf),
        locks: Arc<SimLocks>,
    }

    impl Drop for SimGuard {
        fn drop(&mut self) {
            self.locks.0.lock().unwrap_or_else(|poison| poison.into_inner()).remove(&self.key);
        }
    }

    impl FileSystem for SimFs {
        type File = SimFile;

        fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
            simfs::create_dir_all(dir)
        }

        fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
            let mut names = Vec::new();
            for entry in simfs::read_dir(dir)? {
                names.push(entry?.file_name().to_string_lossy().into_owned());
            }
            names.sort();
            Ok(names)
        }

        fn exists(&self, path: &Path) -> bool {
            simfs::exists(path)
        }

        fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
            simfs::read(path)
        }

        fn create(&self, path: &Path) -> io::Result<SimFile> {
            simfs::OpenOptions::new().write(true).create(true).truncate(true).open(path).map(SimFile)
        }

        fn open_at(&self, path: &Path, offset: u64) -> io::Result<SimFile> {
            let mut file = simfs::OpenOptions::new().write(true).open(path)?;
            io::Seek::seek(&mut file, io::SeekFrom::Start(offset))?;
            Ok(SimFile(file))
        }

        fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
            let file = simfs::OpenOptions::new().write(true).open(path)?;
            file.set_len(len)?;
            file.sync_all()
        }

        fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
            simfs::rename(from, to)
        }

        fn remove(&self, path: &Path) -> io::Result<()> {
            simfs::remove_file(path)
        }

        fn sync_dir(&self, dir: &Path) -> io::Result<()> {
            simfs::sync_dir(dir)
        }

        fn lock(&self, path: &Path) -> io::Result<LockGuard> {
            let key = (self.host.clone(), path.to_path_buf());
            if !self.locks.0.lock().unwrap_or_else(|poison| poison.into_inner()).insert(key.clone()) {
                return Err(io::Error::new(io::ErrorKind::WouldBlock, "held by another node on this host"));
            }
            if !simfs::exists(path) {
                simfs::write(path, b"sim\n")?;
            }
            Ok(Box::new(SimGuard { key, locks: self.locks.clone() }))
        }
    }
}
