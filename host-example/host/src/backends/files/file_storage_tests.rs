//! Unit tests of [`FileStorage`]: the files a put leaves, key validation, error mapping.

use super::*;
use crate::{Fault, StorageExt};
use std::io;

const KEY: &str = "pipeline/checkpoint.json";

fn names_in(dir: &Path) -> Vec<String> {
    let entries = fs::read_dir(dir).unwrap();
    let mut names: Vec<String> = entries
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

async fn storage() -> (tempfile::TempDir, FileStorage) {
    let dir = tempfile::tempdir().unwrap();
    let storage = FileStorage::open(dir.path()).await.unwrap();
    (dir, storage)
}

/// What put stores, get returns, byte for byte; open creates a missing root.
#[tokio::test]
async fn put_then_get_returns_the_value_and_open_creates_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let mut storage = FileStorage::open(dir.path().join("new/root"))
        .await
        .unwrap();
    storage
        .replace(KEY, "{\"offset\":7} données")
        .await
        .unwrap();
    let expected = "{\"offset\":7} données";
    assert_eq!(storage.value(KEY).await.unwrap().as_deref(), Some(expected));
    assert_eq!(
        fs::read_to_string(storage.path_of(KEY).unwrap()).unwrap(),
        expected
    );
}

/// Reading an absent key is not an error and writes nothing.
#[tokio::test]
async fn get_of_absent_key_is_none_and_creates_nothing() {
    let (dir, mut storage) = storage().await;
    assert_eq!(storage.value(KEY).await.unwrap(), None);
    assert_eq!(storage.value("top-level").await.unwrap(), None);
    assert!(names_in(dir.path()).is_empty());
}

/// A put replaces the old value whole and leaves no temporary file behind.
#[tokio::test]
async fn put_replaces_atomically_and_leaves_no_temp_file() {
    let (dir, mut storage) = storage().await;
    storage
        .replace(KEY, "a much longer first value")
        .await
        .unwrap();
    storage.replace(KEY, "second").await.unwrap();
    assert_eq!(storage.value(KEY).await.unwrap().as_deref(), Some("second"));
    assert_eq!(names_in(&dir.path().join("pipeline")), ["checkpoint.json"]);
}

/// Temporary files from a crashed put are never read, and are cleaned by the next put, sparing other files.
#[tokio::test]
async fn leftover_temp_files_are_ignored_by_get_and_removed_by_the_first_put() {
    let (dir, mut storage) = storage().await;
    let sub = dir.path().join("pipeline");
    fs::create_dir(&sub).unwrap();
    let debris = [".checkpoint.json.XYZ.tmp", ".checkpoint.json.a1B2c3.tmp"];
    // The last is a temporary file of the key `checkpoint.json.bak`, not ours.
    let unrelated = [".other.tmp", "notes.txt", ".checkpoint.json.bak.abc123.tmp"];
    for name in debris.iter().chain(&unrelated) {
        fs::write(sub.join(name), "partial").unwrap();
    }
    assert_eq!(storage.value(KEY).await.unwrap(), None);
    storage.replace(KEY, "v1").await.unwrap();
    let mut expected = unrelated.to_vec();
    expected.push("checkpoint.json");
    expected.sort();
    assert_eq!(names_in(&sub), expected);

    fs::write(sub.join(debris[0]), "partial").unwrap();
    assert_eq!(storage.clean_temp_files(KEY).unwrap(), 1);
    assert_eq!(storage.clean_temp_files("absent/dir").unwrap(), 0);
    assert!(is_temp_file_of(".ckpt.AbC123.tmp", "ckpt"));
    for other in [
        ".ckpt.tmp",
        ".ckpt..tmp",
        ".ckpt.x.y.tmp",
        "ckpt.abc.tmp",
        ".ckpt.abc",
    ] {
        assert!(!is_temp_file_of(other, "ckpt"), "{other}");
    }
}

/// Keys that could escape the root are refused and nothing is created outside it.
#[tokio::test]
async fn invalid_keys_are_refused_by_put_and_get_and_nothing_escapes_root() {
    let dir = tempfile::tempdir().unwrap();
    let mut storage = FileStorage::open(dir.path().join("root")).await.unwrap();
    for key in ["../escape", "/abs", "a//b", "../root-sibling/x"] {
        assert!(matches!(
            storage.replace(key, "x").await,
            Err(Fault::Error(StorageError::InvalidKey(_)))
        ));
        assert!(matches!(
            storage.value(key).await,
            Err(Fault::Error(StorageError::InvalidKey(_)))
        ));
    }
    assert_eq!(names_in(dir.path()), ["root"]);
    assert!(names_in(storage.root()).is_empty());
}

/// Bytes that are not text are reported as invalid data, with the path and the offset.
#[tokio::test]
async fn non_utf8_value_is_invalid_data_naming_path_and_offset() {
    let (_dir, mut storage) = storage().await;
    let path = storage.path_of("bin").unwrap();
    fs::write(&path, b"ok\xffrest").unwrap();
    let err = storage.value("bin").await.unwrap_err();
    let expected = format!("{} is not UTF-8: invalid byte at offset 2", path.display());
    assert_eq!(
        err,
        Fault::Error(StorageError::InvalidData(expected.into()))
    );
}

/// A key whose file is a directory fails cleanly, naming it.
#[tokio::test]
async fn target_that_is_a_directory_is_an_io_error_naming_it() {
    let (dir, mut storage) = storage().await;
    let path = storage.path_of(KEY).unwrap();
    fs::create_dir_all(&path).unwrap();
    let shown = path.display().to_string();
    let io_naming_it = |result: StorageResult<_>| matches!(result, Err(Fault::Error(StorageError::Io(m))) if m.to_string().contains(&shown));
    assert!(io_naming_it(storage.value(KEY).await.map(drop)));
    assert!(io_naming_it(storage.replace(KEY, "v").await.map(drop)));
    assert_eq!(names_in(&dir.path().join("pipeline")), ["checkpoint.json"]);
}

/// ENOSPC, EDQUOT, EACCES, EPERM and EROFS map to the storage error cases, naming the operation and path.
#[test]
fn io_errors_map_by_kind_and_name_operation_and_path() {
    let mut cases = vec![
        (io::Error::from_raw_os_error(28), "no space left"),
        (ErrorKind::StorageFull.into(), "no space left"),
        (ErrorKind::PermissionDenied.into(), "access denied"),
        (ErrorKind::Other.into(), "I/O error"),
    ];
    // EROFS, EPERM, EACCES and EDQUOT, by their Linux numbers.
    #[cfg(target_os = "linux")]
    cases.extend(
        [
            (30, "access denied"),
            (1, "access denied"),
            (13, "access denied"),
        ]
        .into_iter()
        .chain([(122, "no space left")])
        .map(|(errno, expected)| (io::Error::from_raw_os_error(errno), expected)),
    );
    let path = Path::new("/x/pipeline/.checkpoint.json.abc.tmp");
    for (err, expected) in cases {
        let shown = io_error("writing", path, err).to_string();
        let start = format!("{expected}: writing {}: ", path.display());
        assert!(
            shown.starts_with(&start),
            "{shown:?} should start with {start:?}"
        );
    }
}

/// A record replaced by a symlink is not read through it, a FIFO in its place does not
/// block the read, and a file far larger than any record is refused without being read.
#[tokio::test]
async fn symlinks_fifos_and_huge_files_are_refused_not_followed_or_read() {
    let (dir, mut storage) = storage().await;
    let path = storage.path_of(KEY).unwrap();
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let elsewhere = dir.path().join("elsewhere.json");
    fs::write(&elsewhere, "{\"offset\":1}").unwrap();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(&elsewhere, &path).unwrap();
        let err = storage.value(KEY).await.unwrap_err().to_string();
        assert!(err.contains("symbolic link"), "{err}");
        fs::remove_file(&path).unwrap();
        let status = std::process::Command::new("mkfifo").arg(&path).status();
        if status.is_ok_and(|s| s.success()) {
            let err = storage.value(KEY).await.unwrap_err().to_string();
            assert!(err.contains("not a regular file"), "{err}");
            fs::remove_file(&path).unwrap();
        }
    }
    fs::write(&path, vec![b' '; DEFAULT_MAX_VALUE_BYTES + 1]).unwrap();
    let err = storage.value(KEY).await.unwrap_err().to_string();
    assert!(err.contains("over the 1048576-byte limit"), "{err}");
}

/// A put waits for the directory's lock only as long as its timeout: a writer stopped
/// while holding it makes the put fail `unavailable`, not hang.
#[tokio::test]
async fn a_held_directory_lock_makes_a_put_unavailable_after_its_timeout() {
    let (_dir, storage) = storage().await;
    let mut storage = storage.with_lock_timeout(std::time::Duration::from_millis(50));
    storage.replace(KEY, "v1").await.unwrap();
    let dir = storage.path_of(KEY).unwrap().parent().unwrap().to_owned();
    let holder = fs::File::open(&dir).unwrap();
    holder.lock().unwrap();
    let err = storage.replace(KEY, "v2").await.unwrap_err();
    assert!(
        matches!(&err, Fault::Error(StorageError::Unavailable(why)) if why.to_string().contains("held by another writer")),
        "{err:?}"
    );
    drop(holder);
    storage.replace(KEY, "v2").await.unwrap();
    assert_eq!(storage.value(KEY).await.unwrap().as_deref(), Some("v2"));
}

/// A storage opened read-only creates nothing, reads a missing root as empty, and
/// refuses puts.
#[tokio::test]
async fn read_only_storage_creates_nothing_and_refuses_puts() {
    let dir = tempfile::tempdir().unwrap();
    let mut storage = FileStorage::open_read_only(dir.path().join("typo"));
    assert_eq!(storage.value(KEY).await.unwrap(), None);
    assert!(matches!(
        storage.replace(KEY, "v").await,
        Err(Fault::Error(StorageError::AccessDenied(_)))
    ));
    assert!(names_in(dir.path()).is_empty());
}
