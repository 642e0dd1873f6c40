//! An open SQLite database and the committer thread that owns its connection: every
//! call from every tenant is a request on one queue, and the requests that queued while
//! the last commit was syncing become the next transaction.
//!
//! That is the group commit: a commit costs one sync of the write-ahead log whether it
//! carries one put or a thousand, and each caller still waits for the commit that
//! carries its own write. A failed commit fails every request in its group, so no
//! caller is told a write is durable that a cut could still lose.
//!
//! Callers wait for their answer on a oneshot channel: an asynchronous caller awaits it
//! without holding a thread, so thousands of tenants can wait for one commit on a few
//! threads, and the more of them wait, the larger the group.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::oneshot;

use super::ops::{Answer, Known, Op, execute};
use crate::backends::files::{create_dirs_durably, sync_dir};
use crate::{Cause, StorageError};

/// The most requests one transaction carries: a bound on how long the first of them
/// waits behind the others' statements.
const MAX_GROUP: usize = 4096;

/// A request and where its answer goes.
pub(super) struct Request {
    pub(super) op: Op,
    pub(super) reply: oneshot::Sender<Answered>,
}

/// A request's answer.
pub(super) type Answered = Result<Answer, StorageError>;

/// An open database: the queue to its committer. Whoever opened it owns it (a
/// [`super::SqliteLocation`] and the locations derived from it share one); the
/// committer stops, and the database closes, when the last handle is dropped.
#[derive(Debug)]
pub(crate) struct Store {
    path: PathBuf,
    requests: Mutex<Option<Sender<Request>>>,
    committer: Mutex<Option<thread::JoinHandle<()>>>,
}

impl Drop for Store {
    fn drop(&mut self) {
        // Closing the queue ends the committer's loop; joining it closes the database
        // before the drop returns, so that its owner may open it again at once.
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(committer) = self
            .committer
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            let _ = committer.join();
        }
    }
}

/// The name a database goes by: `path` with its directory resolved (the file itself
/// may not exist yet, and is never resolved through a link).
fn canonical(path: &Path) -> std::io::Result<PathBuf> {
    let dir = crate::backends::files::parent_dir(path).canonicalize()?;
    Ok(dir.join(path.file_name().unwrap_or_default()))
}

impl Store {
    /// Opens (and creates, with its directories) the database at `path`, and starts its
    /// committer. Blocking. `skip_sync` opens it with `synchronous=OFF` (a mutant; see
    /// [`super::SqliteLocation::skipping_sync`]).
    pub(crate) fn open(path: &Path, skip_sync: bool) -> Result<Store, StorageError> {
        let dir = crate::backends::files::parent_dir(path);
        create_dirs_durably(dir)?;
        let path = canonical(path).map_err(|e| StorageError::io("resolving", dir, e))?;
        let existed = match std::fs::symlink_metadata(&path) {
            Ok(metadata) if metadata.file_type().is_symlink() => {
                return Err(StorageError::InvalidData(Cause::new(format!(
                    "{} is a symbolic link; a database is never opened through one",
                    path.display()
                ))));
            }
            Ok(_) => true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => return Err(StorageError::io("checking", &path, e)),
        };
        let connection = open_connection(&path, skip_sync)?;
        if !existed {
            // SQLite syncs the directory for its write-ahead log, not for the database
            // file it creates: without this, power loss could take the new file's name.
            sync_dir(crate::backends::files::parent_dir(&path))?;
        }
        let next_version = connection
            .query_row(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM records",
                [],
                |row| row.get::<_, i64>(0),
            )
            .map_err(|e| sql_error(&path, "reading", e))?;
        let (requests, queue) = mpsc::channel();
        let committer_path = path.clone();
        let committer = thread::Builder::new()
            .name("sqlite-committer".into())
            .spawn(move || {
                Committer {
                    connection,
                    path: committer_path,
                    known: Known::new(next_version as u64),
                }
                .run(queue)
            })
            .map_err(|e| StorageError::io("starting the committer of", &path, e))?;
        Ok(Store {
            path,
            requests: Mutex::new(Some(requests)),
            committer: Mutex::new(Some(committer)),
        })
    }

    /// Runs `op` in the next group and waits, without a thread, for its commit.
    pub(crate) async fn call(&self, op: Op) -> Result<Answer, StorageError> {
        let answer = self.send(op)?;
        answer.await.map_err(|_| self.stopped())?
    }

    /// [`Store::call`] for a caller on a thread that may block (tokio's blocking pool,
    /// or no runtime at all); it panics inside an asynchronous task.
    pub(crate) fn call_blocking(&self, op: Op) -> Result<Answer, StorageError> {
        let answer = self.send(op)?;
        answer.blocking_recv().map_err(|_| self.stopped())?
    }

    fn send(&self, op: Op) -> Result<oneshot::Receiver<Answered>, StorageError> {
        let (reply, answer) = oneshot::channel();
        let sent = self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|requests| requests.send(Request { op, reply }));
        match sent {
            Some(Ok(())) => Ok(answer),
            _ => Err(self.stopped()),
        }
    }

    fn stopped(&self) -> StorageError {
        StorageError::Unavailable(Cause::new(format!(
            "{}: the database's committer has stopped",
            self.path.display()
        )))
    }
}

/// Opens the connection the committer owns, and makes the schema.
pub(super) fn open_connection(path: &Path, skip_sync: bool) -> Result<Connection, StorageError> {
    let failed = |e| sql_error(path, "opening", e);
    let connection = Connection::open_with_flags(
        path,
        // Never through a symbolic link put in the database's place, as the files
        // backend never writes through one.
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_NOFOLLOW,
    )
    .map_err(failed)?;
    // Refused at once, not after rusqlite's default five seconds of retrying: the
    // holder keeps the database for as long as it runs.
    connection
        .busy_timeout(std::time::Duration::ZERO)
        .map_err(failed)?;
    // Exclusive: this process is the database's one writer, so the write-ahead log's
    // index lives in the heap rather than in a shared-memory file, and another process
    // is refused at once ("database is locked") rather than interleaved.
    connection
        .pragma_update(None, "locking_mode", "EXCLUSIVE")
        .map_err(failed)?;
    let mode: String = connection
        .query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))
        .map_err(failed)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StorageError::Io(Cause::new(format!(
            "{}: SQLite refused the write-ahead log (journal mode {mode})",
            path.display()
        ))));
    }
    // FULL: every commit syncs the log before it returns, so a put that returned
    // survives power loss. (NORMAL would sync only at checkpoints.)
    connection
        .pragma_update(None, "synchronous", if skip_sync { "OFF" } else { "FULL" })
        .map_err(failed)?;
    // A checkpoint copies the log's pages into the database and syncs it, on the
    // committer's thread: every 16,384 pages (64 MiB of log) rather than SQLite's
    // 1,000, so that the pages that many tenants' commits rewrite again and again (the
    // records', the logs' index) are copied once per checkpoint, not once per few
    // groups.
    connection
        .pragma_update(None, "wal_autocheckpoint", 16_384)
        .map_err(failed)?;
    connection
        .execute_batch(
            "BEGIN IMMEDIATE;
             CREATE TABLE IF NOT EXISTS records (
                 key TEXT PRIMARY KEY NOT NULL,
                 value TEXT NOT NULL,
                 version INTEGER NOT NULL
             ) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS logs (
                 id INTEGER PRIMARY KEY,
                 log TEXT NOT NULL,
                 start INTEGER NOT NULL,
                 len INTEGER NOT NULL,
                 lines INTEGER NOT NULL,
                 bytes BLOB NOT NULL
             );
             CREATE INDEX IF NOT EXISTS logs_by_position ON logs (log, start, len, lines);
             COMMIT;",
        )
        .map_err(|e| sql_error(path, "creating the tables of", e))?;
    Ok(connection)
}

/// The thread that owns the connection.
struct Committer {
    connection: Connection,
    path: PathBuf,
    known: Known,
}

impl Committer {
    fn run(mut self, queue: Receiver<Request>) {
        let mut group = Vec::new();
        while let Ok(first) = queue.recv() {
            group.push(first);
            // Everything that queued while the last group committed joins this one.
            while group.len() < MAX_GROUP {
                match queue.try_recv() {
                    Ok(request) => group.push(request),
                    Err(_) => break,
                }
            }
            let answers = self.commit(&group);
            for (request, answer) in group.drain(..).zip(answers) {
                let _ = request.reply.send(answer);
            }
        }
    }

    /// Runs every request of `group` in one transaction and commits it: each request
    /// gets its own answer (a conflict fails one put, not its group), unless the
    /// transaction fails, which fails them all.
    fn commit(&mut self, group: &[Request]) -> Vec<Answered> {
        let path = &self.path;
        // Cached statements: parsing even `COMMIT` anew costs the committer, the one
        // thread every write goes through, more than running it.
        let run = |sql: &str| {
            self.connection
                .prepare_cached(sql)
                .and_then(|mut statement| statement.execute([]))
        };
        if let Err(e) = run("BEGIN IMMEDIATE") {
            let error = sql_error(path, "starting a transaction in", e);
            return group.iter().map(|_| Err(error.clone())).collect();
        }
        let mut answers: Vec<_> = group
            .iter()
            .map(|request| execute(&self.connection, path, &request.op, &mut self.known))
            .collect();
        // Some failures (a full disk, an I/O error) make SQLite roll the whole
        // transaction back; the answers that looked fine were then never written.
        let failure = if self.connection.is_autocommit() {
            Some(StorageError::Io(Cause::new(format!(
                "{}: SQLite rolled the transaction back",
                path.display()
            ))))
        } else {
            run("COMMIT")
                .err()
                .map(|e| sql_error(path, "committing to", e))
        };
        if let Some(error) = failure {
            self.known.forget_logs();
            if !self.connection.is_autocommit() {
                let _ = run("ROLLBACK");
            }
            for answer in &mut answers {
                if answer.is_ok() || matches!(answer, Err(StorageError::Conflict(_))) {
                    *answer = Err(error.clone());
                }
            }
        }
        answers
    }
}

/// The storage error for SQLite's failure of `op` on the database at `path`.
pub(crate) fn sql_error(path: &Path, op: &str, error: rusqlite::Error) -> StorageError {
    use rusqlite::ErrorCode;
    let code = error.sqlite_error_code();
    let busy = matches!(
        code,
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    );
    let message = if busy {
        format!(
            "{op} {}: another process has the database open (it is this process's alone \
             while it runs)",
            path.display()
        )
    } else {
        format!("{op} {}", path.display())
    };
    let cause = Cause::with_source(message, error);
    match code {
        Some(ErrorCode::DiskFull) => StorageError::NoSpace(cause),
        Some(ErrorCode::PermissionDenied | ErrorCode::ReadOnly | ErrorCode::CannotOpen) => {
            StorageError::AccessDenied(cause)
        }
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            StorageError::Unavailable(cause)
        }
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
            StorageError::InvalidData(cause)
        }
        _ => StorageError::Io(cause),
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
