//! A real full disk: `FileStorage` and `FileConsumer` on a 64 KiB tmpfs, driven through
//! the component until the file system returns `ENOSPC`.
//!
//! Mounting needs root (or `CAP_SYS_ADMIN`); without it these tests print a loud
//! `SKIPPED` line and pass, so that they never fail for a reason unrelated to the
//! product.

use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use pipeline_checkpoint_host::storage::{Expected, Stored};
use pipeline_checkpoint_host::{
    AckError, CheckpointError, Error, FileConsumer, FileStorage, Manager, MemoryConsumer, Storage,
    StorageError, StorageResult,
};

use crate::support::{fixed_clock, ids, names_in, runtime};

/// A tmpfs of `size` mounted on a fresh temporary directory, unmounted when dropped
/// (also when the test panics), before the directory itself is removed.
pub(crate) struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    pub(crate) fn mount(size: &str) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("creating a mount point: {e}"))?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("running mount: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
        }
        Ok(Self { dir })
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(self.dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            // Something still holds a file open: detach lazily rather than leave a
            // mount behind on the machine.
            eprintln!(
                "umount {} failed; detaching lazily",
                self.dir.path().display()
            );
            let _ = Command::new("umount")
                .arg("-l")
                .arg(self.dir.path())
                .status();
        }
    }
}

/// Mounts a 64 KiB tmpfs, or says loudly why not.
fn small_tmpfs() -> Option<Tmpfs> {
    match Tmpfs::mount("64k") {
        Ok(fs) => Some(fs),
        Err(reason) => {
            pipeline_checkpoint_test_support::skip(
                &format!("full disk: SKIPPED: cannot mount tmpfs: {reason}"),
                "tmpfs",
                "run as root (mount needs CAP_SYS_ADMIN)",
            );
            None
        }
    }
}

/// Writes `path` until the file system has no space left; returns the bytes written.
fn fill(path: &Path) -> u64 {
    let mut file = fs::File::create(path).unwrap();
    let chunk = [0xa5u8; 1024];
    let mut written = 0;
    loop {
        match file.write(&chunk) {
            Ok(0) => panic!("a write of {} wrote nothing", path.display()),
            Ok(n) => written += n as u64,
            Err(e) if e.kind() == ErrorKind::StorageFull => return written,
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
}

/// The offset in the checkpoint file, parsed with serde_json.
fn offset_in_file(path: &Path) -> u64 {
    let text = fs::read_to_string(path).unwrap();
    let record: serde_json::Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON ({e}): {text:?}", path.display()));
    record["offset"].as_u64().expect("a u64 offset")
}

/// The durable offset as a freshly started process reads it.
async fn offset_after_restart(root: &Path) -> u64 {
    let storage = FileStorage::open(root).await.unwrap();
    let mut manager = runtime()
        .open(None, storage, MemoryConsumer::new())
        .await
        .unwrap();
    manager.get_checkpoint().await.unwrap()
}

async fn open(storage: impl Storage + 'static, log: &Path) -> Manager {
    let consumer = FileConsumer::open(log).await.unwrap();
    runtime()
        .open_with_clock(None, storage, consumer, fixed_clock)
        .await
        .unwrap()
}

/// On a full disk the write fails as `WriteFailed(NoSpace)` naming the record's
/// directory, acks nothing, leaves the previous record intact and readable with no
/// temporary file, and the same write succeeds once space is freed.
#[tokio::test]
async fn full_disk_fails_the_write_acks_nothing_and_keeps_the_previous_record() {
    let Some(tmpfs) = small_tmpfs() else { return };
    let root = tmpfs.path().join("state");
    let log = tmpfs.path().join("acks.log");
    let record = root.join("pipeline/checkpoint.json");
    let mut manager = open(FileStorage::open(&root).await.unwrap(), &log).await;
    manager
        .write_checkpoint(&ids(&["a", "b"]), 1)
        .await
        .unwrap();
    manager.write_checkpoint(&ids(&["c"]), 2).await.unwrap();
    let previous = fs::read(&record).unwrap();

    let filler = tmpfs.path().join("filler");
    let filled = fill(&filler);
    println!("filler took {filled} bytes");
    let batch = ids(&["d", "e"]);
    let err = manager.write_checkpoint(&batch, 3).await.unwrap_err();
    let Error::Checkpoint(CheckpointError::WriteFailed(StorageError::NoSpace(msg))) = &err else {
        panic!("expected WriteFailed(NoSpace), got {err:?}");
    };
    let dir = root.join("pipeline").display().to_string();
    assert!(
        msg.to_string().contains(&dir) && msg.to_string().contains("checkpoint.json"),
        "{msg}"
    );

    let log_lines = FileConsumer::read_log(&log).unwrap();
    assert_eq!(
        log_lines,
        [ids(&["a", "b"]), ids(&["c"])],
        "acked on a failed write"
    );
    assert_eq!(
        fs::read(&record).unwrap(),
        previous,
        "the previous record changed"
    );
    assert_eq!(offset_in_file(&record), 2);
    assert_eq!(manager.get_checkpoint().await.unwrap(), 2);
    assert_eq!(offset_after_restart(&root).await, 2);
    assert_eq!(
        names_in(&root.join("pipeline")),
        ["checkpoint.json"],
        "debris left"
    );

    fs::remove_file(&filler).unwrap();
    manager.write_checkpoint(&batch, 3).await.unwrap();
    assert_eq!(offset_in_file(&record), 3);
    assert_eq!(FileConsumer::read_log(&log).unwrap().last(), Some(&batch));
    assert_eq!(names_in(&root.join("pipeline")), ["checkpoint.json"]);
    drop(manager);
}

/// Storage that fills the file system right after a successful put when armed, as
/// another process writing to the same disk between the put and the ack would.
struct FillAfterPut {
    inner: FileStorage,
    filler: PathBuf,
    armed: Arc<AtomicBool>,
}

impl Storage for FillAfterPut {
    async fn put(&mut self, key: &str, value: &str, expected: Expected) -> StorageResult<u64> {
        let version = self.inner.put(key, value, expected).await?;
        if self.armed.swap(false, Ordering::SeqCst) {
            let filler = self.filler.clone();
            tokio::task::spawn_blocking(move || fill(&filler))
                .await
                .unwrap();
        }
        Ok(version)
    }

    async fn get(&mut self, key: &str) -> StorageResult<Option<Stored>> {
        self.inner.get(key).await
    }
}

/// `ENOSPC` on the ack log after a durable put is `AckFailed` naming the log; the
/// checkpoint is durable, and retrying the same offset once space is freed acks
/// without rewriting it.
#[tokio::test]
async fn full_disk_on_the_ack_log_after_a_durable_put_is_ack_failed_and_the_record_durable() {
    let Some(tmpfs) = small_tmpfs() else { return };
    let root = tmpfs.path().join("state");
    let log = tmpfs.path().join("acks.log");
    let record = root.join("pipeline/checkpoint.json");
    let filler = tmpfs.path().join("filler");
    let armed = Arc::new(AtomicBool::new(false));
    let storage = FillAfterPut {
        inner: FileStorage::open(&root).await.unwrap(),
        filler: filler.clone(),
        armed: armed.clone(),
    };
    let mut manager = open(storage, &log).await;
    manager.write_checkpoint(&ids(&["a"]), 1).await.unwrap();

    // Ids longer than a page: the line cannot fit in the log's last, partly used page,
    // so appending it needs a page the full file system does not have.
    let batch: Vec<String> = (0..64).map(|i| format!("{i:0>100}")).collect();
    armed.store(true, Ordering::SeqCst);
    let mut lent = batch.clone();
    let err = manager
        .write_checkpoint_batch(&mut lent, 2)
        .await
        .unwrap_err();
    let Error::Checkpoint(CheckpointError::AckFailed(AckError::Unavailable(msg))) = &err else {
        panic!("expected AckFailed(Unavailable), got {err:?}");
    };
    assert!(
        msg.contains("no space") && msg.contains(&log.display().to_string()),
        "{msg}"
    );
    assert_eq!(
        offset_in_file(&record),
        2,
        "the put returned ok, so 2 is durable"
    );
    assert_eq!(manager.get_checkpoint().await.unwrap(), 2);
    assert_eq!(offset_after_restart(&root).await, 2);
    assert_eq!(FileConsumer::read_log(&log).unwrap(), [ids(&["a"])]);
    let stored = fs::read(&record).unwrap();

    fs::remove_file(&filler).unwrap();
    manager.write_checkpoint_batch(&mut lent, 2).await.unwrap();
    assert_eq!(
        fs::read(&record).unwrap(),
        stored,
        "the retry rewrote the record"
    );
    assert_eq!(FileConsumer::read_log(&log).unwrap(), [ids(&["a"]), batch]);
    drop(manager);
}
