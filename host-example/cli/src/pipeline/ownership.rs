//! [`Ownership`]: one writer per state directory, for the whole of a `run`, `write` or
//! `reset`.
//!
//! The record's compare-and-swap fences a stale writer at the record, but a pipeline
//! writes more than the record: its sink and its ack log. Two runs on one state
//! directory would interleave their appends before either is fenced, so each holds an
//! exclusive lock on `STATE_DIR/.lock` from start to end. The lock is an `flock`: the
//! kernel drops it when its holder dies, however it dies, so a crash never leaves a
//! directory locked; a holder that is stopped (SIGSTOP, a frozen VM) keeps it, and the
//! next writer is refused naming it instead of waiting forever.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The lock file's name in a state directory. Keys start with no `.`, so no record can
/// ever be stored over it.
pub const LOCK_FILE: &str = ".lock";

/// Who holds a state directory: what its lock file says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// The holding process.
    pub pid: u32,
    /// The machine it runs on.
    pub host: String,
    /// When it took the lock, in seconds since the Unix epoch.
    pub since: u64,
}

/// Why a state directory could not be owned.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum OwnershipError {
    /// Another process holds it.
    #[error(
        "{} is in use by {}; stop that process or wait for it to end",
        dir.display(),
        holder.as_ref().map_or_else(|| "another process".to_owned(), describe)
    )]
    Held {
        /// The state directory.
        dir: PathBuf,
        /// Its holder, if the lock file says.
        holder: Option<Holder>,
    },
    /// The lock file could not be opened or locked.
    #[error("locking {}", path.display())]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
}

fn describe(holder: &Holder) -> String {
    let age = now_secs().saturating_sub(holder.since);
    format!(
        "pid {} on {} since {} ({age} s ago)",
        holder.pid, holder.host, holder.since
    )
}

/// The exclusive right to write a state directory, until dropped.
#[derive(Debug)]
pub struct Ownership {
    _lock: File,
}

impl Ownership {
    /// Takes `dir` (which must exist), waiting at most `wait` for its holder to let go.
    pub fn acquire(dir: &Path, wait: Duration) -> Result<Self, OwnershipError> {
        let path = dir.join(LOCK_FILE);
        let io = |source| OwnershipError::Io {
            path: path.clone(),
            source,
        };
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NOFOLLOW);
        let mut file = options.open(&path).map_err(io)?;
        let give_up = Instant::now() + wait;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(fs::TryLockError::WouldBlock) if Instant::now() < give_up => {
                    thread::sleep(Duration::from_millis(20));
                }
                Err(fs::TryLockError::WouldBlock) => {
                    return Err(OwnershipError::Held {
                        dir: dir.to_owned(),
                        holder: read_holder(&mut file),
                    });
                }
                Err(fs::TryLockError::Error(e)) => return Err(io(e)),
            }
        }
        // Who holds it, for the next one's message; not needed for the lock itself, so
        // it is neither synced nor checked when read.
        let holder = Holder {
            pid: std::process::id(),
            host: host_name(),
            since: now_secs(),
        };
        let text = serde_json::to_vec(&holder).unwrap_or_default();
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)).map(drop))
            .and_then(|()| file.write_all(&text))
            .map_err(io)?;
        Ok(Self { _lock: file })
    }
}

impl Ownership {
    /// Fails with [`OwnershipError::Held`] if another process holds `dir`, creating
    /// nothing: for a run that is about to refuse the directory for another reason.
    pub fn check_free(dir: &Path) -> Result<(), OwnershipError> {
        let path = dir.join(LOCK_FILE);
        let mut options = OpenOptions::new();
        options.read(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NOFOLLOW);
        let Ok(mut file) = options.open(&path) else {
            return Ok(());
        };
        match file.try_lock_shared() {
            Err(fs::TryLockError::WouldBlock) => Err(OwnershipError::Held {
                dir: dir.to_owned(),
                holder: read_holder(&mut file),
            }),
            _ => Ok(()),
        }
    }
}

/// What the lock file says of its holder, if it says anything readable.
fn read_holder(file: &mut File) -> Option<Holder> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.take(4096).read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

pub(super) fn host_name() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| fs::read_to_string("/etc/hostname"))
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "an unknown host".to_owned())
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A second owner is refused while the first holds the directory, with a message
    /// naming the holder, and admitted once it lets go.
    #[test]
    fn a_second_owner_is_refused_naming_the_holder_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = Ownership::acquire(dir.path(), Duration::ZERO).unwrap();
        let refused = Ownership::acquire(dir.path(), Duration::from_millis(60)).unwrap_err();
        let shown = refused.to_string();
        assert!(
            shown.contains(&format!("pid {}", std::process::id())),
            "{shown}"
        );
        drop(first);
        Ownership::acquire(dir.path(), Duration::ZERO).unwrap();
    }
}
