//! The SQLite backend's records and logs, natively: compare-and-swap, reopening,
//! tenants' prefixes, and logs appended, read, cut and reopened.

use std::io::Read;
use std::sync::Arc;

use super::{SqliteLocation, SqliteStorage};
use crate::backends::Backend;
use crate::backends::logs::Logs;
use crate::storage::Expected;
use crate::{Fault, Storage, StorageError};

fn is_conflict<T: std::fmt::Debug>(result: &Result<T, Fault<StorageError>>) -> bool {
    matches!(result, Err(Fault::Error(StorageError::Conflict(_))))
}

/// A put is a compare-and-swap on the version; what was put survives closing and
/// reopening the database, and versions keep growing across reopenings.
#[tokio::test]
async fn puts_are_compare_and_swap_and_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deep/dir/records.db");
    let location = SqliteLocation::new(&path);
    let mut storage = SqliteStorage::open(&location).await.unwrap();
    assert_eq!(storage.get("k").await.unwrap(), None);
    let first = storage.put("k", "one", Expected::Absent).await.unwrap();
    assert!(is_conflict(
        &storage.put("k", "again", Expected::Absent).await
    ));
    let second = storage
        .put("k", "two", Expected::Version(first))
        .await
        .unwrap();
    assert!(second > first);
    assert!(is_conflict(
        &storage.put("k", "stale", Expected::Version(first)).await
    ));
    // The database closes with its location: the reopening below is a fresh open of
    // the file.
    drop((storage, location));
    let mut reopened = SqliteStorage::open(&SqliteLocation::new(&path))
        .await
        .unwrap();
    let stored = reopened.get("k").await.unwrap().unwrap();
    assert_eq!((stored.value.as_str(), stored.version), ("two", second));
    let third = reopened
        .put("k", "three", Expected::Version(second))
        .await
        .unwrap();
    assert!(third > second, "a reopened database reuses no version");
    assert!(matches!(
        reopened.put("../k", "x", Expected::Absent).await,
        Err(Fault::Error(StorageError::InvalidKey(_)))
    ));
}

/// Tenants of one database see only their own records and logs.
#[tokio::test]
async fn tenants_share_the_database_but_not_their_records_or_logs() {
    let dir = tempfile::tempdir().unwrap();
    let location = SqliteLocation::new(dir.path().join("t.db"));
    let (one, two) = (location.for_tenant("one"), location.for_tenant("two"));
    let put = |tenant: &Arc<dyn Backend>, value: &'static str| {
        let tenant = tenant.clone();
        async move {
            let mut storage = tenant.open().await.unwrap();
            storage.put("k", value, Expected::Absent).await.unwrap()
        }
    };
    put(&one, "1").await;
    assert_eq!(two.open().await.unwrap().get("k").await.unwrap(), None);
    put(&two, "2").await;
    one.logs()
        .unwrap()
        .open("log")
        .await
        .unwrap()
        .append(b"a\n")
        .await
        .unwrap();
    let logs = two.logs().unwrap();
    let missing = tokio::task::spawn_blocking(move || logs.reader("log").unwrap().is_none());
    assert!(missing.await.unwrap());
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
#[tokio::test]
async fn logs_append_read_cut_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let logs = SqliteLocation::new(dir.path().join("logs.db"))
        .logs()
        .unwrap();
    assert_eq!(last_line(&logs, "sink").await, None);
    let mut log = logs.open("sink").await.unwrap();
    log.append(b"a\nbb\n").await.unwrap();
    log.append(b"ccc\n").await.unwrap();
    assert_eq!(log.len(), 9);
    assert!(log.append(b"no newline").await.is_err());
    assert_eq!(read_all(logs.clone(), "sink").await, b"a\nbb\nccc\n");
    assert_eq!(last_line(&logs, "sink").await, Some((3, b"ccc".to_vec())));
    log.cut_to(2).await.unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(last_line(&logs, "sink").await, Some((1, b"a".to_vec())));
    drop(log);
    let mut reopened = logs.open("sink").await.unwrap();
    assert_eq!(reopened.len(), 2);
    reopened.append(b"d\n").await.unwrap();
    assert_eq!(read_all(logs.clone(), "sink").await, b"a\nd\n");
    assert_eq!(last_line(&logs, "sink").await, Some((2, b"d".to_vec())));
    reopened.cut_to(0).await.unwrap();
    assert!(reopened.is_empty());
}

/// A log read in chunks returns every byte once, in order, however long it is.
#[tokio::test]
async fn a_long_log_reads_back_whole_in_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let logs = SqliteLocation::new(dir.path().join("long.db"))
        .logs()
        .unwrap();
    let mut log = logs.open("sink").await.unwrap();
    let mut expected = Vec::new();
    for batch in 0..1000 {
        let lines: String = (0..50).map(|i| format!("message {batch}-{i}\n")).collect();
        log.append(lines.as_bytes()).await.unwrap();
        expected.extend_from_slice(lines.as_bytes());
    }
    assert!(expected.len() > 2 * super::log::CHUNK_BYTES);
    assert_eq!(read_all(logs, "sink").await, expected);
}

/// A second writer of a log, whose idea of its end is stale, is refused rather than
/// let in to write over or beside the other's lines.
#[tokio::test]
async fn a_stale_log_writer_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let logs = SqliteLocation::new(dir.path().join("w.db")).logs().unwrap();
    let mut first = logs.open("acks").await.unwrap();
    let mut second = logs.open("acks").await.unwrap();
    first.append(b"1\n").await.unwrap();
    let refused = second.append(b"2\n").await.unwrap_err();
    assert!(
        refused.to_string().contains("changed under its writer"),
        "{refused}"
    );
    assert_eq!(read_all(logs, "acks").await, b"1\n");
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

/// The whole of log `name` (empty if there is no such log), read on the blocking pool
/// as the trait asks.
async fn read_all(logs: Arc<dyn Logs>, name: &'static str) -> Vec<u8> {
    tokio::task::spawn_blocking(move || {
        let mut bytes = Vec::new();
        if let Some(mut reader) = logs.reader(name).unwrap() {
            reader.read_to_end(&mut bytes).unwrap();
        }
        bytes
    })
    .await
    .unwrap()
}

/// The last line of log `name`, read on the blocking pool.
async fn last_line(logs: &Arc<dyn Logs>, name: &'static str) -> Option<(usize, Vec<u8>)> {
    let logs = logs.clone();
    tokio::task::spawn_blocking(move || logs.last_line(name).unwrap())
        .await
        .unwrap()
}
