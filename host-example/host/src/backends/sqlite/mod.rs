//! The `sqlite` backend: every tenant's records, sinks and ack logs in one SQLite
//! database, `sqlite://PATH`, whose concurrent writes share durable commits.
//!
//! A file per key costs each put its own syncs (the file, then its directory), so a
//! host with many tenants is bound by its syncs, not by its work. Here one committer
//! thread owns the database (`store.rs`) and runs every call that queued while the last
//! commit was syncing as one transaction: one sync of the write-ahead log
//! (`synchronous=FULL`) for the whole group. Each call still returns only once the
//! commit carrying it is durable, and a conditional put still compares and writes in
//! one step (the committer is the database's only writer), so the contract and its
//! fencing are the files backend's.
//!
//! The database is opened by the first `open` of a [`SqliteLocation`] (or of one
//! derived from it by `for_tenant`), and stays open, shared by every handle, until the
//! location, its derived locations and their handles are all dropped: its owner is
//! whoever holds the location, and nothing in the process opens it behind their back.
//! Two locations parsed apart from each other are two owners, and the second is
//! refused while the first holds the database.
//!
//! The costs: the database is one file that this process holds alone while it runs
//! (exclusive locking: a second process is refused, not interleaved), and the records
//! are rows, not the `pipeline/checkpoint.json` files the Python pipelines read; read
//! them with any SQLite (Python's `sqlite3` included) once the process has stopped.

mod log;
mod ops;
mod store;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

pub use log::{SqliteLog, SqliteLogs};

use ops::{Answer, Op};
use store::Store;

use crate::backends::files::off_executor;
use crate::backends::logs::Logs;
use crate::storage::{Expected, Stored};
use crate::{BoxFuture, DynStorage, Storage, StorageError, StorageResult, validate_key};

/// A place in a database: its file, and the prefix of the keys and log names there
/// (empty, or `TENANT/` for each tenant's). Clones, and the locations `for_tenant`
/// derives, share the database once it is open.
#[derive(Debug, Clone)]
pub struct SqliteLocation {
    /// The database file.
    path: PathBuf,
    /// Prepended to every key and log name: empty, or ending in `/`.
    prefix: String,
    /// Whether commits skip their sync: a mutant for the power-cut tests.
    skip_sync: bool,
    /// The database, once a handle opened it.
    database: Arc<Mutex<Option<Arc<Store>>>>,
}

/// Two locations are the same place when they name the same file and prefix.
impl PartialEq for SqliteLocation {
    fn eq(&self, other: &Self) -> bool {
        (&self.path, &self.prefix, self.skip_sync) == (&other.path, &other.prefix, other.skip_sync)
    }
}

impl Eq for SqliteLocation {}

/// Why a string is not a `sqlite://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidSqliteUrl {
    /// What is wrong.
    pub why: String,
}

/// `sqlite://PATH[#PREFIX]` (or `sqlite:PATH`): `sqlite:///var/lib/p.db` is an
/// absolute path, `sqlite://state/p.db` a relative one; `#tenant-0001` names the keys
/// and logs under `tenant-0001/`, one tenant's of a `run --tenants`.
impl FromStr for SqliteLocation {
    type Err = InvalidSqliteUrl;

    fn from_str(text: &str) -> Result<Self, InvalidSqliteUrl> {
        let invalid = |why: &str| InvalidSqliteUrl { why: why.into() };
        let rest = text
            .strip_prefix("sqlite:")
            .ok_or_else(|| invalid("a sqlite URL starts with sqlite://"))?;
        let rest = rest.strip_prefix("//").unwrap_or(rest);
        let (path, prefix) = match rest.split_once('#') {
            Some((path, prefix)) => {
                validate_key(prefix).map_err(|e| InvalidSqliteUrl {
                    why: format!("the prefix after '#': {}", e.text()),
                })?;
                (path, format!("{prefix}/"))
            }
            None => (rest, String::new()),
        };
        if path.is_empty() || path.ends_with('/') {
            return Err(invalid("sqlite://PATH names no database file"));
        }
        if path.contains('?') {
            return Err(invalid(
                "sqlite://PATH takes no options: '?' is not allowed in it",
            ));
        }
        Ok(Self {
            path: path.into(),
            prefix,
            skip_sync: false,
            database: Arc::default(),
        })
    }
}

impl fmt::Display for SqliteLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sqlite://{}", self.path.display())?;
        if !self.prefix.is_empty() {
            write!(f, "#{}", self.prefix.trim_end_matches('/'))?;
        }
        Ok(())
    }
}

impl SqliteLocation {
    /// The database at `path`, without a prefix.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            prefix: String::new(),
            skip_sync: false,
            database: Arc::default(),
        }
    }

    /// The database file.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// The prefix of its keys and logs: empty, or ending in `/`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The same place, opened with `synchronous=OFF`, so that no commit is ever
    /// synced: a mutant that the power-cut tests must catch. Debug builds only; a
    /// database already open in the process keeps its setting.
    #[cfg(debug_assertions)]
    #[doc(hidden)]
    pub fn skipping_sync(mut self) -> Self {
        self.skip_sync = true;
        self
    }

    /// The database, opened now (on the blocking pool) if no handle has it open.
    async fn store(&self) -> Result<Arc<Store>, StorageError> {
        let location = self.clone();
        off_executor("opening a SQLite database", move || {
            location.store_blocking()
        })
        .await
    }

    /// [`SqliteLocation::store`] on a thread that may block.
    fn store_blocking(&self) -> Result<Arc<Store>, StorageError> {
        let mut database = self.database.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(store) = &*database {
            return Ok(store.clone());
        }
        let store = Arc::new(Store::open(&self.path, self.skip_sync)?);
        *database = Some(store.clone());
        Ok(store)
    }

    /// Whether there is a database to read: its file exists, or this location has it
    /// open. Readers of a database that does not exist find nothing and create nothing.
    fn database_exists(&self) -> Result<bool, StorageError> {
        let open = self
            .database
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some();
        let exists = self
            .path
            .try_exists()
            .map_err(|e| StorageError::io("checking", &self.path, e))?;
        Ok(open || exists)
    }
}

impl super::Backend for SqliteLocation {
    fn open(&self) -> BoxFuture<'_, Result<Box<dyn DynStorage>, StorageError>> {
        Box::pin(
            async move { Ok(Box::new(SqliteStorage::open(self).await?) as Box<dyn DynStorage>) },
        )
    }

    /// The same store as `open` (the process that looks before it writes
    /// shares it); a database that does not exist yet holds nothing, and is not
    /// created.
    fn open_read_only(&self) -> BoxFuture<'_, Result<Box<dyn DynStorage>, StorageError>> {
        Box::pin(async move {
            if self.database_exists()? {
                self.open().await
            } else {
                Ok(Box::new(MissingDatabase(self.path.clone())) as Box<dyn DynStorage>)
            }
        })
    }

    fn for_tenant(&self, id: &str) -> Arc<dyn super::Backend> {
        Arc::new(SqliteLocation {
            prefix: format!("{}{id}/", self.prefix),
            ..self.clone()
        })
    }

    fn describe(&self, key: &str) -> String {
        format!("sqlite://{}#{}{key}", self.path.display(), self.prefix)
    }

    fn logs(&self) -> Option<Arc<dyn Logs>> {
        Some(Arc::new(SqliteLogs::new(self.clone())))
    }
}

/// Records in a SQLite database, under a prefix: a [`Storage`] whose puts share
/// commits with every other handle on the same database in this process.
#[derive(Debug)]
pub struct SqliteStorage {
    store: Arc<Store>,
    prefix: String,
}

impl SqliteStorage {
    /// The records in the database at `location`, which is created if missing.
    pub async fn open(location: &SqliteLocation) -> Result<Self, StorageError> {
        Ok(Self {
            store: location.store().await?,
            prefix: location.prefix.clone(),
        })
    }
}

impl Storage for SqliteStorage {
    async fn get(&mut self, key: &str) -> StorageResult<Option<Stored>> {
        validate_key(key)?;
        let key = format!("{}{key}", self.prefix);
        match self.store.call(Op::Get { key }).await? {
            Answer::Stored(stored) => Ok(stored),
            other => Err(unexpected(&other).into()),
        }
    }

    async fn put(&mut self, key: &str, value: &str, expected: Expected) -> StorageResult<u64> {
        validate_key(key)?;
        let op = Op::Put {
            key: format!("{}{key}", self.prefix),
            value: value.to_owned(),
            expected,
        };
        match self.store.call(op).await? {
            Answer::Version(version) => Ok(version),
            other => Err(unexpected(&other).into()),
        }
    }
}

/// A database that does not exist, opened to read: it holds nothing.
#[derive(Debug)]
struct MissingDatabase(PathBuf);

impl Storage for MissingDatabase {
    async fn get(&mut self, key: &str) -> StorageResult<Option<Stored>> {
        validate_key(key)?;
        Ok(None)
    }

    async fn put(&mut self, _key: &str, _value: &str, _expected: Expected) -> StorageResult<u64> {
        Err(StorageError::AccessDenied(crate::Cause::new(format!(
            "{} was opened to read only",
            self.0.display()
        )))
        .into())
    }
}

/// A committer's answer of the wrong kind: a bug, reported rather than trusted.
fn unexpected(answer: &Answer) -> StorageError {
    StorageError::Io(crate::Cause::new(format!(
        "the SQLite committer answered {answer:?} to another request"
    )))
}
