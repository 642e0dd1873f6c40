//! The SQLite backend's records and logs, natively: compare-and-swap, reopening,
//! tenants' prefixes, and logs appended, read, cut and reopened.

use std::io::Read;

use super::{SqliteLocation, SqliteStorage};
use crate::backends::Backend;
use crate::storage::Expected;
use crate::{Fault, Storage, StorageError};

fn is_conflict<T: std::fmt::Debug>(result: &Result<T, Fault<StorageError>>) -> bool {
    matches!(result, Err(Fault::Error(StorageError::Conflict(_))))
}

/// A put is a compare-and-swap on the version; what was put survives closing and
/// reopening the database, and versions keep growing across reopenings.
#[test]
fn puts_are_compare_and_swap_and_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let location = SqliteLocation::new(dir.path().join("deep/dir/records.db"));
    let mut storage = SqliteStorage::open(&location).unwrap();
    assert_eq!(storage.get("k").unwrap(), None);
    let first = storage.put("k", "one", Expected::Absent).unwrap();
    assert!(is_conflict(&storage.put("k", "again", Expected::Absent)));
    let second = storage.put("k", "two", Expected::Version(first)).unwrap();
    assert!(second > first);
    assert!(is_conflict(&storage.put(
        "k",
        "stale",
        Expected::Version(first)
    )));
    drop(storage);
    let mut reopened = SqliteStorage::open(&location).unwrap();
    let stored = reopened.get("k").unwrap().unwrap();
    assert_eq!((stored.value.as_str(), stored.version), ("two", second));
    let third = reopened
        .put("k", "three", Expected::Version(second))
        .unwrap();
    assert!(third > second, "a reopened database reuses no version");
    assert!(matches!(
        reopened.put("../k", "x", Expected::Absent),
        Err(Fault::Error(StorageError::InvalidKey(_)))
    ));
}

/// Tenants of one database see only their own records and logs.
#[test]
fn tenants_share_the_database_but_not_their_records_or_logs() {
    let dir = tempfile::tempdir().unwrap();
    let location = SqliteLocation::new(dir.path().join("t.db"));
    let (one, two) = (location.for_tenant("one"), location.for_tenant("two"));
    one.open().unwrap().put("k", "1", Expected::Absent).unwrap();
    assert_eq!(two.open().unwrap().get("k").unwrap(), None);
    two.open().unwrap().put("k", "2", Expected::Absent).unwrap();
    one.logs()
        .unwrap()
        .open("log")
        .unwrap()
        .append(b"a\n")
        .unwrap();
    assert!(two.logs().unwrap().reader("log").unwrap().is_none());
    assert_eq!(
        one.describe("k"),
        format!("sqlite://{}#one/k", location.path().display())
    );
    assert_eq!(
        one.to_string(),
        format!("sqlite://{}#one", location.path().display())
    );
}

/// A log keeps what was appended, reads back as a stream, finds its last line, is cut
/// back to a line's end, and is reopened where it ends.
#[test]
fn logs_append_read_cut_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let logs = SqliteLocation::new(dir.path().join("logs.db"))
        .logs()
        .unwrap();
    assert_eq!(logs.last_line("sink").unwrap(), None);
    let mut log = logs.open("sink").unwrap();
    log.append(b"a\nbb\n").unwrap();
    log.append(b"ccc\n").unwrap();
    assert_eq!(log.len(), 9);
    assert!(log.append(b"no newline").is_err());
    assert_eq!(read_all(&*logs, "sink"), b"a\nbb\nccc\n");
    assert_eq!(logs.last_line("sink").unwrap(), Some((3, b"ccc".to_vec())));
    log.cut_to(2).unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(logs.last_line("sink").unwrap(), Some((1, b"a".to_vec())));
    drop(log);
    let mut reopened = logs.open("sink").unwrap();
    assert_eq!(reopened.len(), 2);
    reopened.append(b"d\n").unwrap();
    assert_eq!(read_all(&*logs, "sink"), b"a\nd\n");
    assert_eq!(logs.last_line("sink").unwrap(), Some((2, b"d".to_vec())));
    reopened.cut_to(0).unwrap();
    assert!(reopened.is_empty());
}

/// A log read in chunks returns every byte once, in order, however long it is.
#[test]
fn a_long_log_reads_back_whole_in_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let logs = SqliteLocation::new(dir.path().join("long.db"))
        .logs()
        .unwrap();
    let mut log = logs.open("sink").unwrap();
    let mut expected = Vec::new();
    for batch in 0..1000 {
        let lines: String = (0..50).map(|i| format!("message {batch}-{i}\n")).collect();
        log.append(lines.as_bytes()).unwrap();
        expected.extend_from_slice(lines.as_bytes());
    }
    assert!(expected.len() > 2 * super::log::CHUNK_BYTES);
    assert_eq!(read_all(&*logs, "sink"), expected);
}

/// A second writer of a log, whose idea of its end is stale, is refused rather than
/// let in to write over or beside the other's lines.
#[test]
fn a_stale_log_writer_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let logs = SqliteLocation::new(dir.path().join("w.db")).logs().unwrap();
    let (mut first, mut second) = (logs.open("acks").unwrap(), logs.open("acks").unwrap());
    first.append(b"1\n").unwrap();
    let refused = second.append(b"2\n").unwrap_err();
    assert!(
        refused.to_string().contains("changed under its writer"),
        "{refused}"
    );
    assert_eq!(read_all(&*logs, "acks"), b"1\n");
}

/// `sqlite://` URLs: absolute and relative paths and a tenant's prefix parse; a URL
/// naming no file, with options, or with a prefix that breaks the key rules does not.
#[test]
fn sqlite_urls_name_a_file_and_an_optional_prefix() {
    let parsed = |text: &str| text.parse::<SqliteLocation>();
    let absolute = parsed("sqlite:///var/lib/p.db").unwrap();
    assert_eq!(
        (absolute.path().to_str(), absolute.prefix()),
        (Some("/var/lib/p.db"), "")
    );
    assert_eq!(
        parsed("sqlite://state/p.db").unwrap().path().to_str(),
        Some("state/p.db")
    );
    let tenant = parsed("sqlite://p.db#tenant-0001").unwrap();
    assert_eq!(tenant.prefix(), "tenant-0001/");
    assert_eq!(tenant.to_string(), "sqlite://p.db#tenant-0001");
    for (text, why) in [
        ("sqlite://", "names no database"),
        ("sqlite://dir/", "names no database"),
        ("sqlite://p.db?mode=ro", "no options"),
        ("sqlite://p.db#../x", "prefix"),
        ("sqlite://p.db#", "prefix"),
    ] {
        let err = parsed(text).expect_err(text);
        assert!(err.why.contains(why), "{text}: {}", err.why);
    }
}

fn read_all(logs: &dyn crate::backends::logs::Logs, name: &str) -> Vec<u8> {
    let mut bytes = Vec::new();
    if let Some(mut reader) = logs.reader(name).unwrap() {
        reader.read_to_end(&mut bytes).unwrap();
    }
    bytes
}
