//! `FileStorage` and `FileConsumer` driven through the component: the files a pipeline
//! leaves on disk, key validation, atomic replacement and leftover temporary files.

use std::fs;
use std::path::Path;

use pipeline_checkpoint_host::{CheckpointError, FileConsumer, FileStorage, StorageError};

use crate::support::*;

/// A manager for `key` over a `FileStorage` rooted at `root` and a `FileConsumer`
/// logging to `log`.
async fn open_files(
    root: &Path,
    log: &Path,
    key: Option<&str>,
) -> pipeline_checkpoint_host::Manager {
    let storage = FileStorage::open(root).await.unwrap();
    let consumer = FileConsumer::open(log).await.unwrap();
    runtime()
        .open_with_clock(key, storage, consumer, fixed_clock)
        .await
        .unwrap()
}

/// A write stores `pipeline/checkpoint.json` as the two-field JSON record, appends the
/// batch to the ack log, and a manager opened afresh over the same files reads it.
#[tokio::test]
async fn write_path_stores_the_record_file_and_logs_the_acks() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, log) = (tmp.path().join("state"), tmp.path().join("acks.log"));
    let mut manager = open_files(&root, &log, None).await;
    manager
        .write_checkpoint(&ids(&["a", "b"]), 2)
        .await
        .unwrap();
    let mut lent = ids(&["c"]);
    manager.write_checkpoint_batch(&mut lent, 3).await.unwrap();
    drop(manager);

    let text = fs::read_to_string(root.join("pipeline/checkpoint.json")).unwrap();
    let record: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(record["offset"], 3, "{text}");
    assert_eq!(
        record["written_at"].as_f64(),
        Some(1764230400.123456),
        "{text}"
    );
    assert_eq!(record.as_object().unwrap().len(), 2, "{text}");
    assert_eq!(
        FileConsumer::read_log(&log).unwrap(),
        [ids(&["a", "b"]), ids(&["c"])]
    );

    let mut restarted = open_files(&root, &log, None).await;
    assert_eq!(restarted.get_checkpoint().await.unwrap(), 3);
}

/// Keys that could escape the storage root or name something odd are refused as
/// `InvalidKey` through the component: the first write (which reads first) fails as
/// `ReadFailed`, nothing is acked, and nothing is created anywhere.
#[tokio::test]
async fn invalid_keys_are_refused_through_the_component_and_create_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    // An absolute key that points inside the temporary directory, so that if it
    // were ever accepted the stray file would be found below.
    let absolute = tmp.path().join("absolute.json").display().to_string();
    let keys = [
        "../escape",
        "../escape/checkpoint.json",
        absolute.as_str(),
        "a//b",
        "a\\b",
        "nul\0",
        "",
        "pipeline/",
        "pipeline/../checkpoint.json",
        "pipeline/.checkpoint.json.abc123.tmp",
        "new\nline",
    ];
    let root = tmp.path().join("root");
    for key in keys {
        let recorder = Recorder::new();
        let storage = FileStorage::open(&root).await.unwrap();
        let mut manager = runtime()
            .open_with_clock(Some(key), storage, recorder.clone(), fixed_clock)
            .await
            .unwrap();
        for err in [
            checkpoint_error(manager.write_checkpoint(&ids(&["m"]), 1).await),
            checkpoint_error(manager.get_checkpoint().await),
        ] {
            assert!(
                matches!(&err, CheckpointError::ReadFailed(StorageError::InvalidKey(m)) if !m.is_empty()),
                "{key:?}: {err:?}"
            );
        }
        assert_eq!(recorder.acked(), Vec::<String>::new(), "{key:?}");
        assert!(
            names_in(&root).is_empty(),
            "{key:?} created {:?}",
            names_in(&root)
        );
        assert_eq!(names_in(tmp.path()), ["root"], "{key:?}");
    }
}

/// Each write replaces the record atomically: after many writes the directory holds
/// only `checkpoint.json`, with the last offset, and no temporary file.
#[tokio::test]
async fn many_writes_leave_only_the_record_file() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, log) = (tmp.path().join("state"), tmp.path().join("acks.log"));
    let mut manager = open_files(&root, &log, None).await;
    for offset in 1..=40 {
        manager
            .write_checkpoint(&ids(&[&format!("m-{offset}")]), offset)
            .await
            .unwrap();
    }
    assert_eq!(names_in(&root), ["pipeline"]);
    assert_eq!(names_in(&root.join("pipeline")), ["checkpoint.json"]);
    assert_eq!(manager.get_checkpoint().await.unwrap(), 40);
    assert_eq!(FileConsumer::read_log(&log).unwrap().len(), 40);
}

/// A temporary file left by an interrupted write is never read as the record, and the
/// next write removes it, leaving other files alone.
#[tokio::test]
async fn leftover_temp_files_are_ignored_and_removed_by_the_next_write() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, log) = (tmp.path().join("state"), tmp.path().join("acks.log"));
    let dir = root.join("pipeline");
    fs::create_dir_all(&dir).unwrap();
    let debris = dir.join(".checkpoint.json.abc123.tmp");
    fs::write(&debris, r#"{"offset": 999, "writ"#).unwrap();
    fs::write(dir.join("notes.txt"), "kept").unwrap();

    // With no record yet, the debris does not count as one.
    let mut manager = open_files(&root, &log, None).await;
    assert_eq!(manager.get_checkpoint().await.unwrap(), 0);
    assert!(debris.exists());

    // With a record, the record is what counts. (Written from outside, it fences the
    // manager that saw none, so a new manager takes the key over.)
    fs::write(
        dir.join("checkpoint.json"),
        r#"{"offset": 7, "written_at": 1.5}"#,
    )
    .unwrap();
    drop(manager);
    let mut manager = open_files(&root, &log, None).await;
    assert_eq!(manager.get_checkpoint().await.unwrap(), 7);

    manager.write_checkpoint(&ids(&["m"]), 8).await.unwrap();
    assert_eq!(names_in(&dir), ["checkpoint.json", "notes.txt"]);
    assert_eq!(manager.get_checkpoint().await.unwrap(), 8);
}

/// A record file holding bytes that are not UTF-8 is a corrupt record naming the file;
/// a write over it is refused and the file is left as it was.
#[tokio::test]
async fn non_utf8_record_file_is_corrupt_and_left_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, log) = (tmp.path().join("state"), tmp.path().join("acks.log"));
    let path = root.join("pipeline/checkpoint.json");
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let bytes = b"{\"offset\": 5, \"note\": \"\xff\"}";
    fs::write(&path, bytes).unwrap();

    let mut manager = open_files(&root, &log, None).await;
    let err = checkpoint_error(manager.get_checkpoint().await);
    assert!(
        matches!(&err, CheckpointError::CorruptRecord(m) if m.contains("checkpoint.json")),
        "{err:?}"
    );
    let err = checkpoint_error(manager.write_checkpoint(&ids(&["m"]), 6).await);
    assert!(matches!(err, CheckpointError::CorruptRecord(_)), "{err:?}");
    assert_eq!(fs::read(&path).unwrap(), bytes);
    assert!(FileConsumer::read_log(&log).unwrap().is_empty());
}

/// Managers for different keys over one root keep separate record files.
#[tokio::test]
async fn separate_keys_keep_separate_files() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, log) = (tmp.path().join("state"), tmp.path().join("acks.log"));
    let mut first = open_files(&root, &log, Some("topic-a/offset")).await;
    first.write_checkpoint(&ids(&["a"]), 5).await.unwrap();
    drop(first);
    let mut second = open_files(&root, &log, Some("topic-b/offset")).await;
    second.write_checkpoint(&ids(&["b"]), 2).await.unwrap();
    drop(second);

    assert_eq!(names_in(&root), ["topic-a", "topic-b"]);
    let mut first = open_files(&root, &log, Some("topic-a/offset")).await;
    assert_eq!(first.get_checkpoint().await.unwrap(), 5);
    let mut second = open_files(&root, &log, Some("topic-b/offset")).await;
    assert_eq!(second.get_checkpoint().await.unwrap(), 2);
}

/// Conditional puts from many writers at once lose no update: each writer reads the
/// counter and its version and puts counter + 1 expecting that version, so the final
/// counter equals the number of puts that succeeded, and every other put was a
/// conflict. Without the directory lock, two writers could both pass the comparison
/// and one increment would vanish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_conditional_puts_are_atomic() {
    use pipeline_checkpoint_host::storage::Expected;
    use pipeline_checkpoint_host::{Fault, Storage, StorageExt};

    const WRITERS: usize = 4;
    const ATTEMPTS: usize = 50;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("state");
    let mut first = FileStorage::open(&root).await.unwrap();
    first.replace(KEY, "0").await.unwrap();
    let writers: Vec<_> = (0..WRITERS)
        .map(|_| {
            let root = root.clone();
            tokio::spawn(async move {
                // Each writer its own FileStorage, as separate processes would be.
                let mut storage = FileStorage::open(&root).await.unwrap();
                let (mut won, mut conflicts) = (0, 0);
                for _ in 0..ATTEMPTS {
                    let stored = storage.get(KEY).await.unwrap().unwrap();
                    let next = stored.value.parse::<usize>().unwrap() + 1;
                    let expected = Expected::Version(stored.version);
                    match storage.put(KEY, &next.to_string(), expected).await {
                        Ok(_) => won += 1,
                        Err(Fault::Error(StorageError::Conflict(_))) => conflicts += 1,
                        Err(e) => panic!("unexpected {e:?}"),
                    }
                }
                (won, conflicts)
            })
        })
        .collect();
    let mut outcomes: Vec<(usize, usize)> = Vec::new();
    for writer in writers {
        outcomes.push(writer.await.unwrap());
    }
    let won: usize = outcomes.iter().map(|o| o.0).sum();
    let conflicts: usize = outcomes.iter().map(|o| o.1).sum();
    assert_eq!(won + conflicts, WRITERS * ATTEMPTS);
    let mut storage = FileStorage::open(&root).await.unwrap();
    let counter = storage.value(KEY).await.unwrap().unwrap();
    assert_eq!(counter, won.to_string(), "{conflicts} conflicts");
}
