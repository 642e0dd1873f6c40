//! What a request asks of the database, and each one's statements, run by the
//! committer inside its group's transaction.
//!
//! The tables: `records(key, value, version)`, one row per record; `logs(id, log,
//! start, len, lines, bytes)`, one row per append to a log, at byte `start` of the log,
//! `len` bytes long, with `lines` lines through its end.
//!
//! Appends from many tenants interleave, so `logs` is stored in the order they
//! arrive (by rowid: every insert lands on the table's last page) rather than by log,
//! which would split a page in the middle of the tree on almost every insert; an index
//! by log and position, which also holds each append's length and line count, finds a
//! log's end without reading its bytes.

use std::collections::HashMap;
use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

use super::store::sql_error;
use crate::storage::check_expected;
use crate::storage::{Expected, Stored};
use crate::{Cause, StorageError};

/// One request's work.
#[derive(Debug)]
pub(crate) enum Op {
    /// The record under `key`.
    Get { key: String },
    /// A conditional put of a record.
    Put {
        key: String,
        value: String,
        expected: Expected,
    },
    /// Whole lines appended to `log`, whose writer believes it ends at `start` after
    /// `line` lines, and `through` lines with them.
    Append {
        log: String,
        start: u64,
        line: u64,
        through: u64,
        bytes: Vec<u8>,
    },
    /// `log` cut back to its first `len` bytes, which end a line.
    Cut { log: String, len: u64 },
    /// The length of `log` and its number of lines.
    Tail { log: String },
    /// Up to about `max` bytes of `log` from byte `from`.
    Read { log: String, from: u64, max: usize },
    /// The last line of `log`.
    LastLine { log: String },
}

/// A request's result.
#[derive(Debug)]
pub(crate) enum Answer {
    Stored(Option<Stored>),
    Version(u64),
    Done,
    Tail { len: u64, lines: u64 },
    Bytes(Vec<u8>),
    Line(Option<(usize, Vec<u8>)>),
}

/// What the committer knows beside the database: it is the database's only writer, so
/// what it wrote last is what is there.
#[derive(Debug, Default)]
pub(crate) struct Known {
    /// The next version a put hands out: versions count puts across the store.
    pub(crate) next_version: u64,
    /// Each log's length and lines, for the logs written or read since the last
    /// failed transaction: an append then checks its position without a query.
    tails: HashMap<String, (u64, u64)>,
}

impl Known {
    /// What a store whose next version is `next_version` knows on opening.
    pub(crate) fn new(next_version: u64) -> Self {
        Self {
            next_version,
            tails: HashMap::new(),
        }
    }

    /// Forgets the logs' ends: a transaction rolled back took its appends with it.
    pub(crate) fn forget_logs(&mut self) {
        self.tails.clear();
    }

    /// Notes `log`'s new end after an append. Its end was looked up for the append, so
    /// it is updated in place: no copy of the log's name on the committer's thread.
    fn appended(&mut self, log: &str, tail: (u64, u64)) {
        match self.tails.get_mut(log) {
            Some(known) => *known = tail,
            None => {
                self.tails.insert(log.to_owned(), tail);
            }
        }
    }

    fn tail(&mut self, connection: &Connection, log: &str) -> rusqlite::Result<(u64, u64)> {
        if let Some(&tail) = self.tails.get(log) {
            return Ok(tail);
        }
        let tail = tail(connection, log)?;
        self.tails.insert(log.to_owned(), tail);
        Ok(tail)
    }
}

/// Runs `op` in the open transaction.
pub(crate) fn execute(
    connection: &Connection,
    path: &Path,
    op: &Op,
    known: &mut Known,
) -> Result<Answer, StorageError> {
    let failed = |e| sql_error(path, "using", e);
    match op {
        Op::Get { key } => connection
            .prepare_cached("SELECT value, version FROM records WHERE key = ?1")
            .and_then(|mut statement| {
                statement
                    .query_row(params![key], |row| {
                        Ok(Stored {
                            value: row.get(0)?,
                            version: row.get::<_, i64>(1)? as u64,
                        })
                    })
                    .optional()
            })
            .map(Answer::Stored)
            .map_err(failed),
        Op::Put {
            key,
            value,
            expected,
        } => {
            // One statement that compares and writes; only a put that wrote nothing
            // reads the version, to say what is stored instead.
            let version = known.next_version;
            let written = match expected {
                Expected::Version(want) => connection
                    .prepare_cached(
                        "UPDATE records SET value = ?2, version = ?3
                         WHERE key = ?1 AND version = ?4",
                    )
                    .and_then(|mut statement| {
                        statement.execute(params![key, value, version as i64, *want as i64])
                    }),
                Expected::Absent => connection
                    .prepare_cached(
                        "INSERT INTO records (key, value, version) VALUES (?1, ?2, ?3)
                         ON CONFLICT (key) DO NOTHING",
                    )
                    .and_then(|mut statement| {
                        statement.execute(params![key, value, version as i64])
                    }),
            }
            .map_err(failed)?;
            if written == 0 {
                let current = version_of(connection, key).map_err(failed)?;
                check_expected(key, current, *expected)?;
                return Err(StorageError::Io(Cause::new(format!(
                    "{}: {key}: the conditional write matched no row, yet the stored \
                     version {current:?} matches",
                    path.display()
                ))));
            }
            known.next_version += 1;
            Ok(Answer::Version(version))
        }
        Op::Append {
            log,
            start,
            line,
            through,
            bytes,
        } => {
            let (end, lines) = known.tail(connection, log).map_err(failed)?;
            if (end, lines) != (*start, *line) {
                return Err(changed(path, log, *start, end));
            }
            let through = *through;
            connection
                .prepare_cached(
                    "INSERT INTO logs (log, start, len, lines, bytes) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .and_then(|mut statement| {
                    let len = bytes.len() as i64;
                    statement.execute(params![log, *start as i64, len, through as i64, bytes])
                })
                .map_err(failed)?;
            known.appended(log, (*start + bytes.len() as u64, through));
            Ok(Answer::Done)
        }
        Op::Cut { log, len } => {
            // Whatever happens next, the cut log's end is read again.
            known.tails.remove(log);
            let (end, _) = tail(connection, log).map_err(failed)?;
            if *len > end {
                return Err(changed(path, log, *len, end));
            }
            // Two statements, one step: a savepoint undoes the first if the second fails.
            connection
                .execute_batch("SAVEPOINT cut")
                .and_then(|()| {
                    connection.execute(
                        "DELETE FROM logs WHERE log = ?1 AND start >= ?2",
                        params![log, *len as i64],
                    )?;
                    // The append that spans the cut keeps its lines before it.
                    if let Some((start, lines, bytes)) = last_row(connection, log)? {
                        let keep = (*len - start) as usize;
                        if keep < bytes.len() {
                            let lines = lines - newlines(&bytes[keep..]) as u64;
                            connection.execute(
                                "UPDATE logs SET bytes = ?3, len = ?4, lines = ?5
                                 WHERE log = ?1 AND start = ?2",
                                params![
                                    log,
                                    start as i64,
                                    &bytes[..keep],
                                    keep as i64,
                                    lines as i64
                                ],
                            )?;
                        }
                    }
                    connection.execute_batch("RELEASE cut")
                })
                .map_err(|e| {
                    let _ = connection.execute_batch("ROLLBACK TO cut; RELEASE cut");
                    failed(e)
                })?;
            Ok(Answer::Done)
        }
        Op::Tail { log } => known
            .tail(connection, log)
            .map(|(len, lines)| Answer::Tail { len, lines })
            .map_err(failed),
        Op::Read { log, from, max } => read(connection, log, *from, *max)
            .map(Answer::Bytes)
            .map_err(failed),
        Op::LastLine { log } => {
            let Some((start, lines, bytes)) = last_row(connection, log).map_err(failed)? else {
                return Ok(Answer::Line(None));
            };
            let Some(body) = bytes.strip_suffix(b"\n") else {
                return Err(StorageError::InvalidData(Cause::new(format!(
                    "{} log {log:?}: the append at byte {start} does not end a line",
                    path.display()
                ))));
            };
            let begin = body.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            let number = lines as usize;
            Ok(Answer::Line(Some((number, body[begin..].to_vec()))))
        }
    }
}

fn changed(path: &Path, log: &str, at: u64, end: u64) -> StorageError {
    StorageError::Io(Cause::new(format!(
        "{} log {log:?} changed under its writer: it ends at byte {end}, not {at}; \
         reopen it",
        path.display()
    )))
}

fn newlines(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'\n').count()
}

/// The last append to `log`: its start, the lines through its end, and its bytes.
fn last_row(connection: &Connection, log: &str) -> rusqlite::Result<Option<(u64, u64, Vec<u8>)>> {
    connection
        .prepare_cached(
            "SELECT start, lines, bytes FROM logs WHERE log = ?1 ORDER BY start DESC LIMIT 1",
        )?
        .query_row(params![log], |row| {
            Ok((
                row.get::<_, i64>(0)? as u64,
                row.get::<_, i64>(1)? as u64,
                row.get(2)?,
            ))
        })
        .optional()
}

/// The length of `log` in bytes and its number of lines.
fn tail(connection: &Connection, log: &str) -> rusqlite::Result<(u64, u64)> {
    connection
        .prepare_cached(
            "SELECT start + len, lines FROM logs WHERE log = ?1 ORDER BY start DESC LIMIT 1",
        )?
        .query_row(params![log], |row| {
            Ok((row.get::<_, i64>(0)? as u64, row.get::<_, i64>(1)? as u64))
        })
        .optional()
        .map(Option::unwrap_or_default)
}

/// The bytes of `log` from `from`, whole appends up to about `max` bytes (at least one
/// append's worth); empty at the end.
fn read(connection: &Connection, log: &str, from: u64, max: usize) -> rusqlite::Result<Vec<u8>> {
    let mut statement = connection.prepare_cached(
        // From the append that holds byte `from`, found by the primary key.
        "SELECT start, bytes FROM logs WHERE log = ?1 AND start >= (
             SELECT COALESCE(MAX(start), 0) FROM logs WHERE log = ?1 AND start <= ?2
         ) ORDER BY start",
    )?;
    let mut rows = statement.query(params![log, from as i64])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let start = row.get::<_, i64>(0)? as u64;
        let bytes = row.get_ref(1)?.as_blob()?;
        let skip = from.saturating_sub(start) as usize;
        out.extend_from_slice(&bytes[skip.min(bytes.len())..]);
        if out.len() >= max {
            break;
        }
    }
    Ok(out)
}

/// The current version of `key`, for conditional puts.
fn version_of(connection: &Connection, key: &str) -> rusqlite::Result<Option<u64>> {
    connection
        .prepare_cached("SELECT version FROM records WHERE key = ?1")?
        .query_row(params![key], |row| row.get::<_, i64>(0))
        .optional()
        .map(|version| version.map(|v| v as u64))
}
