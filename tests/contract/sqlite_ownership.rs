//! Who holds a SQLite database: the location that opened it. Its clones and the
//! tenants' locations it derives share the open database, whose handles come and go
//! without ever closing it; the database closes when the location and everything
//! derived from it are dropped. A location parsed apart for the same file is another
//! owner, and is refused while the first holds the database.

use pipeline_checkpoint_host::backends::Backend;
use pipeline_checkpoint_host::backends::sqlite::SqliteLocation;
use pipeline_checkpoint_host::storage::Expected;
use pipeline_checkpoint_host::{Storage, StorageError, StorageExt, StorageLocation};

use crate::support::KEY;

const TENANTS: usize = 8;
const ROUNDS: usize = 300;

/// Many tenants, as tasks on two worker threads, each opening a handle on its own
/// location derived from one database's, reading through it (and every tenth round
/// writing) and dropping both, round after round, so that the database's handles
/// often all drop at once: no open and no call ever finds the database locked (as it
/// did when the last handle's drop closed the database while another tenant opened it
/// anew), and every tenant ends with its own last write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_opening_and_dropping_handles_at_once_never_find_the_database_locked() {
    let dir = tempfile::tempdir().unwrap();
    let location = SqliteLocation::new(dir.path().join("churn.db"));
    let tenants: Vec<_> = (0..TENANTS)
        .map(|t| {
            let location = location.clone();
            tokio::spawn(async move {
                let id = format!("tenant-{t}");
                for round in 0..ROUNDS {
                    // A location and a handle of this round's own, both dropped at its
                    // end: most rounds some tenant holds the database's last handle.
                    let tenant = location.for_tenant(&id);
                    let mut storage = tenant
                        .open()
                        .await
                        .unwrap_or_else(|e| panic!("{id}, round {round}: opening: {e}"));
                    storage
                        .value(KEY)
                        .await
                        .unwrap_or_else(|e| panic!("{id}, round {round}: reading: {e:?}"));
                    if round % 10 == 9 {
                        storage
                            .replace(KEY, &format!("{id} round {round}"))
                            .await
                            .unwrap_or_else(|e| panic!("{id}, round {round}: writing: {e:?}"));
                    }
                }
            })
        })
        .collect();
    for tenant in tenants {
        tenant.await.unwrap();
    }
    for t in 0..TENANTS {
        let mut storage = location
            .for_tenant(&format!("tenant-{t}"))
            .open()
            .await
            .unwrap();
        let stored = storage.value(KEY).await.unwrap();
        let last = format!("tenant-{t} round {}", ROUNDS - 1);
        assert_eq!(stored.as_deref(), Some(last.as_str()), "tenant-{t}");
    }
}

/// A second location parsed from the same `sqlite://` URL (or another spelling of the
/// same file) is refused while the first holds the database, even with none of the
/// first's handles open, because the location is the owner; once the first is dropped,
/// the second opens the database and reads what the first wrote.
#[tokio::test]
async fn a_location_parsed_apart_is_refused_while_the_first_holds_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("owned.db");
    let url = format!("sqlite://{}", path.display());
    let first: StorageLocation = url.parse().unwrap();
    let mut handle = first.open().await.unwrap();
    handle.put(KEY, "first's", Expected::Absent).await.unwrap();

    let second: StorageLocation = url.parse().unwrap();
    let spelled_otherwise: StorageLocation =
        format!("sqlite://{}/./owned.db", dir.path().display())
            .parse()
            .unwrap();
    assert_refused(&second, "while a handle is open").await;
    drop(handle);
    assert_refused(&second, "with no handle open").await;
    assert_refused(&spelled_otherwise, "spelled otherwise").await;
    assert_refused(&second.for_tenant("t1"), "a tenant of it").await;

    drop(first);
    let mut accepted = second.open().await.expect("free once the first is dropped");
    assert_eq!(
        accepted.value(KEY).await.unwrap().as_deref(),
        Some("first's")
    );
    // Now the first, parsed again, is the one refused.
    assert_refused(&url.parse().unwrap(), "the first, after the second took it").await;
}

/// `location` cannot open the database: another owner holds it.
async fn assert_refused(location: &StorageLocation, when: &str) {
    match location.open().await {
        Err(refused @ StorageError::Unavailable(_)) => assert!(
            refused
                .to_string()
                .contains("another process has the database open"),
            "{when}: {refused}"
        ),
        Err(other) => panic!("{when}: refused for another reason: {other}"),
        Ok(_) => panic!("{when}: a second owner opened the database"),
    }
}
