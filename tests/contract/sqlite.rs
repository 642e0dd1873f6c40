//! `SqliteStorage` through the component: fencing, acks only after the commit,
//! many tenants' writers at once, and the record as Python's `sqlite3` reads it. Power
//! cuts are in `sqlite_power_cut.rs`.

use std::sync::Arc;

use pipeline_checkpoint_host::backends::Backend;
use pipeline_checkpoint_host::backends::sqlite::{SqliteLocation, SqliteStorage};
use pipeline_checkpoint_host::storage::Expected;
use pipeline_checkpoint_host::{DynStorage, Fault, Storage, StorageError};
use tokio::sync::Barrier;

use crate::store_properties::{
    assert_a_manager_is_fenced_once_a_new_manager_takes_over,
    assert_acks_happen_only_once_the_new_offset_is_stored,
};
use crate::support::{KEY, Recorder, ids, offset_in, python, runtime};

pub(crate) async fn storage(location: &SqliteLocation) -> Box<dyn DynStorage> {
    location.open().await.expect("the database opens")
}

/// The record under [`KEY`] at `location`, read through a handle of its own.
async fn stored_value(location: &SqliteLocation) -> Option<String> {
    let stored = storage(location).await.get(KEY).await.unwrap();
    stored.map(|s| s.value)
}

/// A manager whose record was taken over by a new manager is fenced: its write
/// changes nothing and acks nothing.
#[tokio::test]
async fn a_manager_is_fenced_once_a_new_manager_takes_over_its_record() {
    let dir = tempfile::tempdir().unwrap();
    let location = SqliteLocation::new(dir.path().join("fence.db"));
    assert_a_manager_is_fenced_once_a_new_manager_takes_over(
        async || storage(&location).await,
        async || stored_value(&location).await,
    )
    .await;
}

/// When the component acks a batch, the database already holds its new offset, read
/// through another handle at the moment of the ack.
#[tokio::test]
async fn acks_happen_only_once_the_new_offset_is_committed() {
    let dir = tempfile::tempdir().unwrap();
    let location = SqliteLocation::new(dir.path().join("order.db"));
    let reader = location.clone();
    assert_acks_happen_only_once_the_new_offset_is_stored(storage(&location).await, move || {
        let reader = reader.clone();
        Box::pin(async move { offset_in(stored_value(&reader).await) })
    })
    .await;
}

/// Many tenants' writers at once, each racing a rival on its own key with the same
/// expected version, round after round: per key and round exactly one put wins, the
/// other gets a conflict, and no tenant's outcome touches another's record. The
/// writers are tasks on two worker threads, all waiting on the committer at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_of_many_tenants_each_get_their_own_result() {
    const TENANTS: usize = 32;
    const ROUNDS: u64 = 20;
    let dir = tempfile::tempdir().unwrap();
    let location = SqliteLocation::new(dir.path().join("race.db"));
    let tenants: Vec<_> = (0..TENANTS)
        .map(|t| location.for_tenant(&format!("tenant-{t}")))
        .collect();
    for tenant in &tenants {
        let mut storage = tenant.open().await.unwrap();
        storage.put(KEY, "0", Expected::Absent).await.unwrap();
    }
    for round in 1..=ROUNDS {
        let barrier = Arc::new(Barrier::new(2 * TENANTS));
        let mut writers = Vec::new();
        for writer in 0..2 * TENANTS {
            let (tenant, barrier) = (writer / 2, barrier.clone());
            let mut storage = tenants[tenant].open().await.unwrap();
            let before = storage.get(KEY).await.unwrap().unwrap();
            writers.push(tokio::spawn(async move {
                let value = format!("{round} by {writer}");
                barrier.wait().await;
                match storage
                    .put(KEY, &value, Expected::Version(before.version))
                    .await
                {
                    Ok(_) => (tenant, true),
                    Err(Fault::Error(StorageError::Conflict(_))) => (tenant, false),
                    Err(e) => panic!("round {round} writer {writer}: {e:?}"),
                }
            }));
        }
        let mut outcomes: Vec<(usize, bool)> = Vec::new();
        for writer in writers {
            outcomes.push(writer.await.unwrap());
        }
        for (tenant, storage) in tenants.iter().enumerate() {
            let won: Vec<_> = outcomes
                .iter()
                .filter(|(t, won)| *t == tenant && *won)
                .collect();
            assert_eq!(won.len(), 1, "round {round} tenant {tenant}: {outcomes:?}");
            let stored = storage.open().await.unwrap().get(KEY).await.unwrap();
            let stored = stored.unwrap().value;
            assert!(stored.starts_with(&format!("{round} by ")), "{stored}");
            let writer: usize = stored.rsplit(' ').next().unwrap().parse().unwrap();
            assert_eq!(writer / 2, tenant, "tenant {tenant} holds another's write");
        }
    }
}

/// The record in the database is the seed's JSON, which Python's standard library
/// reads once the process has closed the database; and one Python wrote is read back.
#[tokio::test]
async fn records_in_sqlite_are_the_seeds_json_read_and_written_by_pythons_sqlite3() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("py.db");
    let location = SqliteLocation::new(&path).for_tenant("t1");
    let mut manager = runtime()
        .open(
            None,
            storage(&SqliteLocation::new(&path)).await,
            Recorder::new(),
        )
        .await
        .unwrap();
    manager.write_checkpoint(&ids(&["a"]), 41).await.unwrap();
    // The manager's handle was the database's last: dropping it closes the database.
    drop(manager);
    let script = r#"
import json, sqlite3, sys
db = sqlite3.connect(sys.stdin.read())
(value,) = db.execute("SELECT value FROM records WHERE key = 'pipeline/checkpoint.json'").fetchone()
record = json.loads(value)
assert isinstance(record["offset"], int) and isinstance(record["written_at"], float), record
db.execute("INSERT INTO records (key, value, version) VALUES (?, ?, "
           "(SELECT MAX(version) + 1 FROM records))",
           ("t1/pipeline/checkpoint.json", json.dumps({"offset": 7, "written_at": 1.5, "host": "py"})))
db.commit()
print(record["offset"])
"#;
    assert_eq!(python(script, path.to_str().unwrap()).trim(), "41");
    let mut manager = runtime()
        .open(None, location.open().await.unwrap(), Recorder::new())
        .await
        .unwrap();
    assert_eq!(manager.get_checkpoint().await.unwrap(), 7);
    manager.write_checkpoint(&ids(&["b"]), 8).await.unwrap();
}

/// Every handle opened from one location (its clones, and the tenants' locations it
/// derives) shares one database and its committer: the store a put sees is the one
/// every tenant sees. (A location parsed apart for the same file is another owner,
/// refused while this one holds the database: see `sqlite_ownership.rs`.)
#[tokio::test]
async fn handles_on_one_path_share_one_store() {
    let dir = tempfile::tempdir().unwrap();
    let location = SqliteLocation::new(dir.path().join("shared.db"));
    let mut one = SqliteStorage::open(&location).await.unwrap();
    let mut two = SqliteStorage::open(&location.clone()).await.unwrap();
    let version = one.put(KEY, "x", Expected::Absent).await.unwrap();
    assert_eq!(two.get(KEY).await.unwrap().unwrap().version, version);
    let mut tenant = location.for_tenant("t1").open().await.unwrap();
    tenant.put(KEY, "t", Expected::Absent).await.unwrap();
    let tenant_key = format!("t1/{KEY}");
    assert_eq!(two.get(&tenant_key).await.unwrap().unwrap().value, "t");
}

/// On a full disk a put fails as `no-space`, the record keeps its previous value, and
/// once there is room again the next put lands.
#[tokio::test]
async fn a_full_disk_fails_the_put_as_no_space_and_keeps_the_previous_record() {
    let fs = match crate::faults::enospc::Tmpfs::mount("256k") {
        Ok(fs) => fs,
        Err(reason) => {
            pipeline_checkpoint_test_support::skip(
                &format!("full disk: SKIPPED: cannot mount tmpfs: {reason}"),
                "tmpfs",
                "run as root (mount needs CAP_SYS_ADMIN)",
            );
            return;
        }
    };
    let path = fs.path().join("full.db");
    let location = SqliteLocation::new(&path);
    let mut storage = SqliteStorage::open(&location).await.unwrap();
    let first = storage.put(KEY, "before", Expected::Absent).await.unwrap();
    let filler = fs.path().join("filler");
    fill(&filler);
    let big = "x".repeat(64 << 10);
    let full = storage.put(KEY, &big, Expected::Version(first)).await;
    assert!(
        matches!(full, Err(Fault::Error(StorageError::NoSpace(_)))),
        "{full:?}"
    );
    let stored = storage.get(KEY).await.unwrap().unwrap();
    assert_eq!((stored.value.as_str(), stored.version), ("before", first));
    std::fs::remove_file(&filler).unwrap();
    storage
        .put(KEY, "after", Expected::Version(first))
        .await
        .unwrap();
    // Closed with its location, and opened again from the file.
    drop((storage, location));
    let mut reopened = SqliteStorage::open(&SqliteLocation::new(&path))
        .await
        .unwrap();
    let reopened = reopened.get(KEY).await.unwrap();
    assert_eq!(reopened.unwrap().value, "after");
}

/// A symbolic link in the database's place is refused, not written through.
#[tokio::test]
async fn a_symlink_in_the_databases_place_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("elsewhere.db");
    std::fs::write(&target, b"").unwrap();
    let link = dir.path().join("records.db");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let refused = SqliteStorage::open(&SqliteLocation::new(&link))
        .await
        .unwrap_err();
    assert!(
        matches!(refused, StorageError::InvalidData(_))
            && refused
                .to_string()
                .contains("records.db is a symbolic link"),
        "{refused}"
    );
    assert_eq!(
        std::fs::read(&target).unwrap(),
        b"",
        "nothing written through the link"
    );
}

/// Writes to `path` until the file system is full.
fn fill(path: &std::path::Path) {
    use std::io::Write;
    let mut file = std::fs::File::create(path).unwrap();
    let block = vec![0u8; 4096];
    loop {
        match file.write_all(&block).and_then(|()| file.sync_all()) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::StorageFull => return,
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
}
