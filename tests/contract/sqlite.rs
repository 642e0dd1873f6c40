//! `SqliteStorage` through the component: fencing, acks only after the commit,
//! many tenants' writers at once, and the record as Python's `sqlite3` reads it. Power
//! cuts are in `sqlite_power_cut.rs`.

use std::sync::{Arc, Barrier};

use pipeline_checkpoint_host::backends::Backend;
use pipeline_checkpoint_host::backends::sqlite::{SqliteLocation, SqliteStorage};
use pipeline_checkpoint_host::storage::Expected;
use pipeline_checkpoint_host::{Fault, Storage, StorageError};

use crate::store_properties::{
    assert_a_manager_is_fenced_once_a_new_manager_takes_over,
    assert_acks_happen_only_once_the_new_offset_is_stored,
};
use crate::support::{KEY, Recorder, ids, offset_in, python, runtime};

fn storage(location: &SqliteLocation) -> Box<dyn Storage> {
    location.open().expect("the database opens")
}

/// A manager whose record was taken over by a new manager is fenced: its write
/// changes nothing and acks nothing.
#[test]
fn a_manager_is_fenced_once_a_new_manager_takes_over_its_record() {
    let dir = tempfile::tempdir().unwrap();
    let location = SqliteLocation::new(dir.path().join("fence.db"));
    assert_a_manager_is_fenced_once_a_new_manager_takes_over(
        || storage(&location),
        || storage(&location).get(KEY).unwrap().map(|s| s.value),
    );
}

/// When the component acks a batch, the database already holds its new offset, read
/// through another handle at the moment of the ack.
#[test]
fn acks_happen_only_once_the_new_offset_is_committed() {
    let dir = tempfile::tempdir().unwrap();
    let location = SqliteLocation::new(dir.path().join("order.db"));
    let mut reader = storage(&location);
    assert_acks_happen_only_once_the_new_offset_is_stored(storage(&location), move || {
        offset_in(reader.get(KEY).unwrap().map(|s| s.value))
    });
}

/// Many tenants' writers at once, each racing a rival on its own key with the same
/// expected version, round after round: per key and round exactly one put wins, the
/// other gets a conflict, and no tenant's outcome touches another's record.
#[test]
fn concurrent_writers_of_many_tenants_each_get_their_own_result() {
    const TENANTS: usize = 32;
    const ROUNDS: u64 = 20;
    let dir = tempfile::tempdir().unwrap();
    let location = SqliteLocation::new(dir.path().join("race.db"));
    let tenants: Vec<_> = (0..TENANTS)
        .map(|t| location.for_tenant(&format!("tenant-{t}")))
        .collect();
    for tenant in &tenants {
        tenant
            .open()
            .unwrap()
            .put(KEY, "0", Expected::Absent)
            .unwrap();
    }
    for round in 1..=ROUNDS {
        let barrier = Arc::new(Barrier::new(2 * TENANTS));
        let outcomes: Vec<(usize, bool)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..2 * TENANTS)
                .map(|writer| {
                    let (tenant, barrier) = (writer / 2, barrier.clone());
                    let mut storage = tenants[tenant].open().unwrap();
                    let before = storage.get(KEY).unwrap().unwrap();
                    scope.spawn(move || {
                        let value = format!("{round} by {writer}");
                        barrier.wait();
                        match storage.put(KEY, &value, Expected::Version(before.version)) {
                            Ok(_) => (tenant, true),
                            Err(Fault::Error(StorageError::Conflict(_))) => (tenant, false),
                            Err(e) => panic!("round {round} writer {writer}: {e:?}"),
                        }
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (tenant, storage) in tenants.iter().enumerate() {
            let won: Vec<_> = outcomes
                .iter()
                .filter(|(t, won)| *t == tenant && *won)
                .collect();
            assert_eq!(won.len(), 1, "round {round} tenant {tenant}: {outcomes:?}");
            let stored = storage.open().unwrap().get(KEY).unwrap().unwrap().value;
            assert!(stored.starts_with(&format!("{round} by ")), "{stored}");
            let writer: usize = stored.rsplit(' ').next().unwrap().parse().unwrap();
            assert_eq!(writer / 2, tenant, "tenant {tenant} holds another's write");
        }
    }
}

/// The record in the database is the seed's JSON, which Python's standard library
/// reads once the process has closed the database; and one Python wrote is read back.
#[test]
fn records_in_sqlite_are_the_seeds_json_read_and_written_by_pythons_sqlite3() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("py.db");
    let location = SqliteLocation::new(&path).for_tenant("t1");
    let mut manager = runtime()
        .open(None, storage(&SqliteLocation::new(&path)), Recorder::new())
        .unwrap();
    manager.write_checkpoint(&ids(&["a"]), 41).unwrap();
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
        .open(None, location.open().unwrap(), Recorder::new())
        .unwrap();
    assert_eq!(manager.get_checkpoint().unwrap(), 7);
    manager.write_checkpoint(&ids(&["b"]), 8).unwrap();
}

/// A second database handle in the same process shares the first's committer; the
/// store a put sees is the one every tenant sees.
#[test]
fn handles_on_one_path_share_one_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let mut one = SqliteStorage::open(&SqliteLocation::new(&path)).unwrap();
    let mut two =
        SqliteStorage::open(&SqliteLocation::new(dir.path().join("./shared.db"))).unwrap();
    let version = one.put(KEY, "x", Expected::Absent).unwrap();
    assert_eq!(two.get(KEY).unwrap().unwrap().version, version);
}

/// On a full disk a put fails as `no-space`, the record keeps its previous value, and
/// once there is room again the next put lands.
#[test]
fn a_full_disk_fails_the_put_as_no_space_and_keeps_the_previous_record() {
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
    let location = SqliteLocation::new(fs.path().join("full.db"));
    let mut storage = SqliteStorage::open(&location).unwrap();
    let first = storage.put(KEY, "before", Expected::Absent).unwrap();
    let filler = fs.path().join("filler");
    fill(&filler);
    let big = "x".repeat(64 << 10);
    let full = storage.put(KEY, &big, Expected::Version(first));
    assert!(
        matches!(full, Err(Fault::Error(StorageError::NoSpace(_)))),
        "{full:?}"
    );
    let stored = storage.get(KEY).unwrap().unwrap();
    assert_eq!((stored.value.as_str(), stored.version), ("before", first));
    std::fs::remove_file(&filler).unwrap();
    storage.put(KEY, "after", Expected::Version(first)).unwrap();
    drop(storage);
    let reopened = SqliteStorage::open(&location).unwrap().get(KEY).unwrap();
    assert_eq!(reopened.unwrap().value, "after");
}

/// A symbolic link in the database's place is refused, not written through.
#[test]
fn a_symlink_in_the_databases_place_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("elsewhere.db");
    std::fs::write(&target, b"").unwrap();
    let link = dir.path().join("records.db");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let refused = SqliteStorage::open(&SqliteLocation::new(&link)).unwrap_err();
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
