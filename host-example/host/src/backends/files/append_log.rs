//! An append-only file of newline-terminated records, synced on every append, that
//! repairs the torn tail a crash can leave.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::{create_dirs_durably, io_error, parent_dir, sync_dir};
use crate::{Cause, StorageError};

/// An append-only log: the ack log and the pipeline's sink are both one.
///
/// Every [`AppendLog::append`] writes whole lines and syncs them before returning, so
/// a line that was reported appended survives a crash or power loss. A crash during an
/// append can leave a partial last line; it was never reported appended, so it is cut
/// off when the log is opened (or before the next append after a failed one), and
/// readers ([`complete_lines`]) ignore it. A log has one writer at a time.
#[derive(Debug)]
pub struct AppendLog {
    path: PathBuf,
    file: File,
    /// Length of the log through its last complete, synced line.
    committed: u64,
    /// Whether a failed append may have left a partial line after `committed`.
    torn: bool,
}

impl AppendLog {
    /// Opens the log at `path` for appending, creating it and its directories if
    /// missing, and cuts off a partial last line.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, StorageError> {
        let path = path.into();
        let dir = parent_dir(&path);
        create_dirs_durably(dir)?;
        let mut options = OpenOptions::new();
        options.read(true).append(true);
        no_follow(&mut options);
        let mut file = match options.clone().create_new(true).open(&path) {
            Ok(file) => {
                // A new file's name is an entry in its directory, durable only once
                // the directory is synced; otherwise power loss could lose the log.
                sync_dir(dir)?;
                file
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => options
                .open(&path)
                .map_err(|e| io_error("opening", &path, e))?,
            Err(e) => return Err(io_error("creating", &path, e)),
        };
        regular_file(&file, &path)?;
        let committed = end_of_last_line(&mut file).map_err(|e| io_error("reading", &path, e))?;
        let mut log = Self {
            path,
            file,
            committed,
            torn: true,
        };
        log.cut_torn_tail()?;
        Ok(log)
    }

    /// The log file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The length of the log's complete lines, in bytes.
    pub fn len(&self) -> u64 {
        self.committed
    }

    /// Whether the log has no complete line.
    pub fn is_empty(&self) -> bool {
        self.committed == 0
    }

    /// Appends `lines` (one or more lines, each ending in `'\n'`) and syncs them.
    pub fn append(&mut self, lines: &[u8]) -> Result<(), StorageError> {
        debug_assert!(lines.ends_with(b"\n"), "an append must end a line");
        self.cut_torn_tail()?;
        // One write of everything: with O_APPEND it lands at the end in one piece, so
        // a crash tears at most this last append, which readers then ignore.
        let appended = self
            .file
            .write_all(lines)
            .map_err(|e| io_error("appending to", &self.path, e))
            // fdatasync before returning: callers report these lines as done (acked,
            // processed), which is only true if they outlive a power loss.
            .and_then(|()| {
                self.file
                    .sync_data()
                    .map_err(|e| io_error("syncing", &self.path, e))
            });
        if appended.is_err() {
            self.torn = true;
        }
        appended?;
        self.committed += lines.len() as u64;
        Ok(())
    }

    /// Keeps the first `keep` complete lines and removes the rest, durably; returns how
    /// many lines were removed. Fails without changing anything if there are fewer.
    /// Reads the log as a stream: its size does not matter.
    pub fn truncate_lines(&mut self, keep: u64) -> Result<u64, StorageError> {
        let reading = |e| io_error("reading", &self.path, e);
        let mut reader = BufReader::new(File::open(&self.path).map_err(reading)?);
        let (mut lines, mut cut_at, mut line) = (0u64, 0u64, Vec::new());
        let mut removed = 0;
        loop {
            line.clear();
            let read = reader.read_until(b'\n', &mut line).map_err(reading)?;
            if read == 0 || !line.ends_with(b"\n") {
                break;
            }
            lines += 1;
            if lines <= keep {
                cut_at += read as u64;
            } else {
                removed += 1;
            }
        }
        if lines < keep {
            return Err(StorageError::InvalidData(Cause::new(format!(
                "{} has fewer than {keep} lines",
                self.path.display()
            ))));
        }
        self.cut_to(cut_at)?;
        Ok(removed)
    }

    /// Keeps the first `len` bytes, which must end a line (or be 0), and removes the
    /// rest, durably.
    pub fn cut_to(&mut self, len: u64) -> Result<(), StorageError> {
        if len != self.committed {
            // The cut is synced before anything is appended after it, or a crash could
            // bring the removed lines back in front of the new ones.
            self.file
                .set_len(len)
                .and_then(|()| self.file.sync_data())
                .map_err(|e| io_error("truncating", &self.path, e))?;
            self.committed = len;
        }
        Ok(())
    }

    /// Truncates the log to its committed length if a partial line may follow it:
    /// appending after one would glue the next line onto it and corrupt both.
    fn cut_torn_tail(&mut self) -> Result<(), StorageError> {
        if !self.torn {
            return Ok(());
        }
        let cut = || -> io::Result<()> {
            if self.file.metadata()?.len() != self.committed {
                self.file.set_len(self.committed)?;
                self.file.sync_data()?;
            }
            Ok(())
        };
        cut().map_err(|e| io_error("truncating a partial line in", &self.path, e))?;
        self.torn = false;
        Ok(())
    }
}

/// The complete lines of a log's contents, without their `'\n'`, numbered from 1. A
/// partial last line (an append cut short by a crash, never reported done) is left out.
pub fn complete_lines(bytes: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let complete = bytes
        .iter()
        .rposition(|&b| b == b'\n')
        .map(|end| &bytes[..end]);
    complete
        .into_iter()
        .flat_map(|lines| lines.split(|&b| b == b'\n'))
        .zip(1..)
        .map(|(line, number)| (number, line))
}

/// The last complete line of the file at `path`, without its `'\n'`, and its 1-based
/// line number; `None` for a missing or empty file. The line is found from the end, and
/// counting the lines before it streams through the file in constant memory.
pub fn last_complete_line(path: &Path) -> Result<Option<(usize, Vec<u8>)>, StorageError> {
    let reading = |e| io_error("reading", path, e);
    let Some(mut file) = open_for_reading(path)? else {
        return Ok(None);
    };
    let end = end_of_last_line(&mut file).map_err(reading)?;
    if end == 0 {
        return Ok(None);
    }
    // The start of the last line is just past the `'\n'` before `end - 1`.
    let start = end_of_last_line_before(&mut file, end - 1).map_err(reading)?;
    let mut line = vec![0; (end - 1 - start) as usize];
    file.seek(SeekFrom::Start(start)).map_err(reading)?;
    file.read_exact(&mut line).map_err(reading)?;
    // Its number counts every line: the number of newlines up to and with it.
    let mut number = 0;
    file.seek(SeekFrom::Start(0)).map_err(reading)?;
    let mut reader = BufReader::new(file.take(end));
    loop {
        let buf = reader.fill_buf().map_err(reading)?;
        if buf.is_empty() {
            break;
        }
        number += buf.iter().filter(|&&b| b == b'\n').count();
        let consumed = buf.len();
        reader.consume(consumed);
    }
    Ok(Some((number, line)))
}

/// Opens without following a symlink in the last component: a state file replaced by
/// a link to another file must not have that file truncated or appended to.
pub(crate) fn no_follow(options: &mut OpenOptions) {
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(options, libc::O_NOFOLLOW);
    #[cfg(not(unix))]
    let _ = options;
}

/// Opens the state file at `path` for reading: `None` if there is none. Never through a
/// symbolic link in its place (refused as invalid data), and never waiting on a FIFO
/// (opened non-blocking, then refused with anything else that is not a regular file).
pub fn open_for_reading(path: &Path) -> Result<Option<File>, StorageError> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(
        &mut options,
        libc::O_NOFOLLOW | libc::O_NONBLOCK,
    );
    let file = match options.open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        #[cfg(unix)]
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(StorageError::InvalidData(Cause::new(format!(
                "{} is a symbolic link; state files are never read through one",
                path.display()
            ))));
        }
        Err(e) => return Err(io_error("reading", path, e)),
    };
    regular_file(&file, path)?;
    Ok(Some(file))
}

/// Refuses anything but a regular file: a FIFO or a device in a state file's place
/// would block or feed a reader forever.
fn regular_file(file: &File, path: &Path) -> Result<(), StorageError> {
    let kind = file
        .metadata()
        .map_err(|e| io_error("inspecting", path, e))?
        .file_type();
    if kind.is_file() {
        return Ok(());
    }
    #[cfg(unix)]
    if kind.is_dir() {
        return Err(io_error(
            "reading",
            path,
            io::Error::from_raw_os_error(libc::EISDIR),
        ));
    }
    Err(StorageError::Io(Cause::new(format!(
        "{} is not a regular file",
        path.display()
    ))))
}

/// The offset just past the last `'\n'` in `file`, or 0; read backwards in chunks
/// because a log can grow large and only its tail matters.
fn end_of_last_line(file: &mut File) -> io::Result<u64> {
    let len = file.metadata()?.len();
    end_of_last_line_before(file, len)
}

/// The offset just past the last `'\n'` in the first `end` bytes of `file`, or 0.
fn end_of_last_line_before(file: &mut File, mut end: u64) -> io::Result<u64> {
    let mut chunk = [0u8; 4096];
    while end > 0 {
        let start = end.saturating_sub(chunk.len() as u64);
        let buf = &mut chunk[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(buf)?;
        if let Some(i) = buf.iter().rposition(|&b| b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_in(dir: &tempfile::TempDir) -> AppendLog {
        AppendLog::open(dir.path().join("sub/log")).unwrap()
    }

    /// Lines appended are read back in order, and the file holds exactly them.
    #[test]
    fn appended_lines_read_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = log_in(&dir);
        log.append(b"one\n").unwrap();
        log.append(b"two\nthree\n").unwrap();
        let bytes = std::fs::read(log.path()).unwrap();
        let lines: Vec<_> = complete_lines(&bytes).collect();
        assert_eq!(lines, [(1, &b"one"[..]), (2, b"two"), (3, b"three")]);
        assert_eq!(log.len(), bytes.len() as u64);
    }

    /// A partial last line left by a crash is ignored by readers and cut on open, so
    /// the next append starts a line of its own.
    #[test]
    fn torn_tail_is_ignored_and_cut_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = {
            let mut log = log_in(&dir);
            log.append(b"kept\n").unwrap();
            log.path().to_owned()
        };
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"torn")
            .unwrap();
        let torn = std::fs::read(&path).unwrap();
        assert_eq!(complete_lines(&torn).count(), 1);
        let mut log = AppendLog::open(&path).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"kept\n");
        log.append(b"next\n").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"kept\nnext\n");
    }

    /// Truncating keeps exactly the first lines, and appends continue after them.
    #[test]
    fn truncate_lines_keeps_the_first_lines() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = log_in(&dir);
        log.append(b"a\nb\nc\n").unwrap();
        assert_eq!(log.truncate_lines(1).unwrap(), 2);
        log.append(b"d\n").unwrap();
        assert_eq!(std::fs::read(log.path()).unwrap(), b"a\nd\n");
        assert!(log.truncate_lines(5).is_err());
        assert_eq!(log.truncate_lines(0).unwrap(), 2);
        assert!(log.is_empty());
    }

    /// A log with no newline at all (a first append torn) has no complete line.
    #[test]
    fn log_without_newline_has_no_complete_line() {
        assert_eq!(complete_lines(b"partial").count(), 0);
        assert_eq!(complete_lines(b"").count(), 0);
    }
}
