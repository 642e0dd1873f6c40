//! [`FileStorage`]: each key a file, replaced atomically and durably.

use std::collections::HashSet;
use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::append_log::open_for_reading;
use super::{create_dirs_durably, io_error, off_executor, parent_dir, sync_dir};
use crate::storage::{Expected, Stored, check_expected, content_version};
use crate::{Cause, Storage, StorageError, StorageResult, validate_key};

/// Storage keeping each key in the file `root/key`, replaced atomically and durably.
///
/// A record's version is the hash of its bytes, so records written by any process,
/// the Python pipelines included, have one. A conditional put compares and renames
/// under an advisory lock on the record's directory, which every `FileStorage` put
/// takes: several processes may share a root, and a stale one is fenced. Temporary
/// files that a crash left behind are hidden (`.name.XXXXXX.tmp`), never read, and
/// removed by the next `put` of their key.
///
/// Its I/O runs on tokio's blocking pool (see [`super`]). Clones share the record of
/// which keys' debris was cleaned.
#[derive(Debug, Clone)]
pub struct FileStorage {
    root: PathBuf,
    /// How long a put waits for the directory's lock before it gives up.
    lock_timeout: Duration,
    /// The largest record `get` reads; a larger file is refused, not read.
    max_value_bytes: usize,
    /// Opened by [`FileStorage::open_read_only`]: puts are refused.
    read_only: bool,
    /// Targets whose leftover temporary files this instance has already removed:
    /// debris only appears after a crash, so scanning once per process is enough.
    cleaned: Arc<Mutex<HashSet<PathBuf>>>,
    /// A sync that `put` leaves out, in debug builds only: the power-cut tests set it
    /// (through [`SKIP_PUT_SYNC_VAR`]) to show that they catch its absence.
    #[cfg(debug_assertions)]
    left_out: Option<PutSync>,
}

/// The syncs of a `put`, each of which the record's durability depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PutSync {
    /// The temporary file's fsync, before the rename.
    File,
    /// The directory's fsync, after the rename.
    Directory,
}

/// Debug builds only: the environment variable that makes every `FileStorage` of the
/// process leave out one of `put`'s syncs, `file` or `directory`. It exists so that
/// the power-cut tests can run the real CLI with a sync missing and show that they
/// catch it; a release build has no such switch.
#[cfg(debug_assertions)]
#[doc(hidden)]
pub const SKIP_PUT_SYNC_VAR: &str = "CHECKPOINT_DEBUG_SKIP_PUT_SYNC";

/// How long a put waits for the directory's lock by default. Every holder keeps it for
/// a read and a rename, microseconds: a wait this long means a holder that is stopped
/// (SIGSTOP, a frozen VM), and the put fails `unavailable` instead of hanging.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest record `get` reads by default: far above any checkpoint record (tens of
/// bytes) and the component's own limit on values, and small enough that a wrong or
/// garbage file is refused without reading it into memory.
pub const DEFAULT_MAX_VALUE_BYTES: usize = 1 << 20;

impl FileStorage {
    /// Opens the storage under `root`, creating the directory if it is missing.
    pub async fn open(root: impl Into<PathBuf>) -> Result<Self, StorageError> {
        let root = root.into();
        off_executor("creating a storage directory", move || {
            Self::open_blocking(root)
        })
        .await
    }

    /// [`FileStorage::open`] for a caller outside an asynchronous context: it blocks
    /// while it creates the directory.
    pub fn open_blocking(root: impl Into<PathBuf>) -> Result<Self, StorageError> {
        let root = root.into();
        create_dirs_durably(&root)?;
        Ok(Self::at(root, false))
    }

    /// Opens the storage under `root` for reading only: nothing is created, not even a
    /// missing root (whose keys then read as absent), and every put is refused.
    pub fn open_read_only(root: impl Into<PathBuf>) -> Self {
        Self::at(root.into(), true)
    }

    /// Waits at most `timeout` for the directory's lock in a put.
    pub fn with_lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// Refuses to read a record larger than `bytes`.
    pub fn with_max_value_bytes(mut self, bytes: usize) -> Self {
        self.max_value_bytes = bytes;
        self
    }

    fn at(root: PathBuf, read_only: bool) -> Self {
        Self {
            root,
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            max_value_bytes: DEFAULT_MAX_VALUE_BYTES,
            read_only,
            cleaned: Arc::default(),
            #[cfg(debug_assertions)]
            left_out: match std::env::var(SKIP_PUT_SYNC_VAR).as_deref() {
                Ok("file") => Some(PutSync::File),
                Ok("directory") => Some(PutSync::Directory),
                _ => None,
            },
        }
    }

    /// Whether `put` leaves `sync` out: never, outside the power-cut tests.
    fn leaves_out(&self, sync: PutSync) -> bool {
        #[cfg(debug_assertions)]
        return self.left_out == Some(sync);
        #[cfg(not(debug_assertions))]
        {
            let _ = sync;
            false
        }
    }

    /// The directory the keys live under.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file that holds `key`, once the key is validated.
    pub fn path_of(&self, key: &str) -> Result<PathBuf, StorageError> {
        validate_key(key)?;
        Ok(self.root.join(key))
    }

    /// Removes the temporary files that an interrupted `put` of `key` left behind, and
    /// returns how many it removed. Other files, including other keys' temporary
    /// files, are never touched; nor is a temporary file that a `put` in progress
    /// holds locked (in this process or another): only a dead writer's file is
    /// debris.
    pub fn clean_temp_files(&self, key: &str) -> Result<usize, StorageError> {
        let target = self.path_of(key)?;
        let dir = parent_dir(&target);
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(io_error("listing", dir, e)),
        };
        let name = file_name(key);
        let mut removed = 0;
        for entry in entries {
            let entry = entry.map_err(|e| io_error("listing", dir, e))?;
            let ours = entry
                .file_name()
                .to_str()
                .is_some_and(|n| is_temp_file_of(n, name));
            if ours && entry.file_type().is_ok_and(|t| t.is_file()) {
                let path = entry.path();
                if in_progress(&path) {
                    continue;
                }
                match fs::remove_file(&path) {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    Err(e) => return Err(io_error("removing", &path, e)),
                }
            }
        }
        Ok(removed)
    }
}

impl FileStorage {
    /// Writes `value` to a new temporary file beside `key`'s file and syncs it: the
    /// slow steps of a put, done without holding the directory's lock.
    fn stage(&self, key: &str, value: &str) -> Result<Staged, StorageError> {
        let target = self.path_of(key)?;
        let dir = parent_dir(&target).to_path_buf();
        create_dirs_durably(&dir)?;
        // Cleaning and creating happen under the directory's lock, and each temporary
        // file stays locked until its rename: so a writer never removes another
        // writer's file in progress, not even in the instant after its creation.
        let dir_lock = lock_dir(&dir, self.lock_timeout)?;
        // Best effort: debris only costs space, so failing to clean it must not turn
        // into a failed checkpoint; an uncleaned target is simply retried next time.
        let mut cleaned = self.cleaned.lock().unwrap_or_else(|p| p.into_inner());
        if !cleaned.contains(&target) && self.clean_temp_files(key).is_ok() {
            cleaned.insert(target.clone());
        }
        drop(cleaned);
        // The temporary file must be in the target's directory: a rename is only
        // atomic within one file system. It deletes itself if we fail before the
        // rename, so a full disk leaves no debris behind.
        let prefix = format!(".{}.", file_name(key));
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(".tmp");
        // tempfile defaults to 0600; ask for 0666 so the umask decides, as it does
        // for any other file the process creates.
        #[cfg(unix)]
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
        let mut temp = builder
            .tempfile_in(&dir)
            .map_err(|e| io_error("creating a temporary file in", &dir, e))?;
        temp.as_file()
            .lock()
            .map_err(|e| io_error("locking", temp.path(), e))?;
        drop(dir_lock);
        temp.write_all(value.as_bytes())
            .map_err(|e| io_error("writing", temp.path(), e))?;
        // The data must be on disk before the rename makes it visible: otherwise a
        // crash can leave the name pointing at an empty or zero-filled file.
        if !self.leaves_out(PutSync::File) {
            temp.as_file()
                .sync_all()
                .map_err(|e| io_error("syncing", temp.path(), e))?;
        }
        let sync_dir = !self.leaves_out(PutSync::Directory);
        Ok(Staged {
            temp,
            target,
            dir,
            sync_dir,
            lock_timeout: self.lock_timeout,
            max_value_bytes: self.max_value_bytes,
        })
    }

    /// Reads `path` and its version, the hash of its bytes: a regular file of at most
    /// `max` bytes, never through a symlink, never blocking on a FIFO.
    fn read(path: &Path, max: usize) -> Result<Option<Stored>, StorageError> {
        let Some(file) = open_for_reading(path)? else {
            return Ok(None);
        };
        let mut bytes = Vec::new();
        file.take(max as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| io_error("reading", path, e))?;
        if bytes.len() > max {
            let size = fs::metadata(path).map_or(bytes.len() as u64, |m| m.len());
            return Err(StorageError::InvalidData(Cause::new(format!(
                "{} is {size} bytes, over the {max}-byte limit on records: not a checkpoint \
                 record",
                path.display()
            ))));
        }
        let value = String::from_utf8(bytes).map_err(|e| {
            StorageError::InvalidData(Cause::new(format!(
                "{} is not UTF-8: invalid byte at offset {}",
                path.display(),
                e.utf8_error().valid_up_to()
            )))
        })?;
        Ok(Some(Stored {
            version: content_version(&value),
            value,
        }))
    }
}

/// A value written and synced to a temporary file, waiting to replace its target.
struct Staged {
    temp: tempfile::NamedTempFile,
    target: PathBuf,
    dir: PathBuf,
    /// False only for the power-cut tests' mutant that leaves the directory sync out.
    sync_dir: bool,
    lock_timeout: Duration,
    max_value_bytes: usize,
}

impl Staged {
    /// Renames the temporary file over the target, under the directory's lock and only
    /// if the target still matches `expected`; then makes the rename durable.
    fn commit(self, expected: Expected) -> Result<(), StorageError> {
        let Staged {
            temp,
            target,
            dir,
            sync_dir: sync,
            lock_timeout,
            max_value_bytes,
        } = self;
        {
            // Every writer of the directory takes its lock around the rename, so the
            // check below and the rename are one step for all of them. The lock is
            // held for a read and a rename only: the slow syncs happen outside it.
            let _lock = lock_dir(&dir, lock_timeout)?;
            let version = match FileStorage::read(&target, max_value_bytes) {
                Ok(current) => current.map(|s| s.version),
                // Bytes that cannot be a record (not text, too large, a symbolic link)
                // match no version a writer could have read, and count as absent: so
                // only a put expecting nothing, a tool's reset, replaces them; the
                // component reports them corrupt and never writes over them.
                Err(StorageError::InvalidData(why)) => match expected {
                    Expected::Absent => None,
                    Expected::Version(_) => return Err(StorageError::Conflict(why.to_string())),
                },
                Err(e) => return Err(e),
            };
            check_expected(&target.display().to_string(), version, expected)?;
            // rename(2) replaces atomically: readers see the old value or the new
            // one, never a mix, and a failure here leaves the old value intact.
            temp.persist(&target)
                .map_err(|e| io_error("replacing", &target, e.error))?;
        }
        // The rename only changed the directory; until the directory is synced, power
        // loss can undo it and bring the old value back after we reported success.
        if !sync {
            return Ok(());
        }
        sync_dir(&dir)
    }
}

/// Whether the temporary file at `path` is locked by a `put` in progress. A file that
/// cannot be opened or locked for another reason is left alone too.
fn in_progress(path: &Path) -> bool {
    match fs::File::open(path).map(|file| file.try_lock()) {
        Ok(Ok(())) => false,
        Ok(Err(_)) => true,
        Err(e) => e.kind() != ErrorKind::NotFound,
    }
}

/// Takes the advisory lock of `dir`, waiting at most `timeout` for it; released on
/// drop (and by the kernel if the process dies). A holder that does not let go in that
/// time is stopped, not busy: the put fails `unavailable` rather than hang with it.
#[cfg(unix)]
fn lock_dir(dir: &Path, timeout: Duration) -> Result<fs::File, StorageError> {
    let handle = fs::File::open(dir).map_err(|e| io_error("opening directory", dir, e))?;
    let give_up = Instant::now() + timeout;
    let mut pause = Duration::from_micros(100);
    loop {
        match handle.try_lock() {
            Ok(()) => return Ok(handle),
            Err(fs::TryLockError::WouldBlock) if Instant::now() < give_up => {
                thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
            }
            Err(fs::TryLockError::WouldBlock) => {
                return Err(StorageError::Unavailable(Cause::new(format!(
                    "the lock of {} has been held by another writer for over {} ms; is a \
                     process holding it stopped?",
                    dir.display(),
                    timeout.as_millis()
                ))));
            }
            Err(fs::TryLockError::Error(e)) => return Err(io_error("locking directory", dir, e)),
        }
    }
}

/// Directories cannot be opened as files here: conditional puts are atomic only
/// within one process.
#[cfg(not(unix))]
fn lock_dir(_dir: &Path, _timeout: Duration) -> Result<(), StorageError> {
    Ok(())
}

impl Storage for FileStorage {
    async fn get(&mut self, key: &str) -> StorageResult<Option<Stored>> {
        let path = self.path_of(key)?;
        let max = self.max_value_bytes;
        Ok(off_executor("reading a record", move || Self::read(&path, max)).await?)
    }

    async fn put(&mut self, key: &str, value: &str, expected: Expected) -> StorageResult<u64> {
        if self.read_only {
            return Err(StorageError::AccessDenied(Cause::new(format!(
                "{} was opened read-only",
                self.root.display()
            )))
            .into());
        }
        let (this, key, value) = (self.clone(), key.to_owned(), value.to_owned());
        let put = move || {
            this.stage(&key, &value)?.commit(expected)?;
            Ok(content_version(&value))
        };
        Ok(off_executor("writing a record", put).await?)
    }
}

/// Whether `candidate` is a temporary file of a `put` to `name`: `.{name}.{rand}.tmp`
/// with an alphanumeric `rand`. Requiring no '.' in `rand` keeps `.a.b.XXXXXX.tmp`
/// (a temporary file of `a.b`) from matching `a`.
fn is_temp_file_of(candidate: &str, name: &str) -> bool {
    candidate
        .strip_prefix('.')
        .and_then(|rest| rest.strip_prefix(name))
        .and_then(|rest| rest.strip_prefix('.'))
        .and_then(|rest| rest.strip_suffix(".tmp"))
        .is_some_and(|rand| !rand.is_empty() && rand.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// The last segment of a validated key.
fn file_name(key: &str) -> &str {
    key.rsplit_once('/').map_or(key, |(_, name)| name)
}

#[cfg(test)]
#[path = "file_storage_tests.rs"]
mod tests;
