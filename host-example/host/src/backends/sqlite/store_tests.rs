//! The committer's groups and the database's one holder.

use super::*;
use crate::storage::Expected;

/// One transaction carrying many tenants' puts answers each put alone: the puts
/// whose expectation is wrong fail with a conflict, the others are committed.
#[test]
fn each_put_in_one_group_gets_its_own_result() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("group.db");
    let mut committer = Committer {
        connection: open_connection(&path, false).unwrap(),
        path: path.clone(),
        known: super::super::ops::Known::new(1),
    };
    let put = |tenant: usize, expected| {
        let (reply, answer) = oneshot::channel();
        let op = Op::Put {
            key: format!("tenant-{tenant}/pipeline/checkpoint.json"),
            value: format!("{{\"offset\":{tenant}}}"),
            expected,
        };
        (Request { op, reply }, answer)
    };
    // Every third tenant expects a version its key does not hold.
    let (group, answers): (Vec<_>, Vec<_>) = (0..300)
        .map(|tenant| match tenant % 3 {
            0 => put(tenant, Expected::Version(7)),
            _ => put(tenant, Expected::Absent),
        })
        .unzip();
    let results = committer.commit(&group);
    assert_eq!(results.len(), 300);
    for (tenant, result) in results.iter().enumerate() {
        match tenant % 3 {
            0 => assert!(
                matches!(result, Err(StorageError::Conflict(_))),
                "tenant {tenant}: {result:?}"
            ),
            _ => assert!(
                matches!(result, Ok(Answer::Version(_))),
                "tenant {tenant}: {result:?}"
            ),
        }
    }
    drop((group, answers));
    let stored: i64 = committer
        .connection
        .query_row("SELECT COUNT(*) FROM records", [], |row| row.get(0))
        .unwrap();
    assert_eq!(
        stored, 200,
        "the conflicting puts wrote nothing, the others all"
    );
}

/// The database is this process's alone while it is open: another connection
/// (another process's) is refused with a reason, never let in to interleave.
#[test]
fn a_second_opener_is_refused_while_the_database_is_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("one.db");
    let store = Store::open(&path, false).unwrap();
    let refused = open_connection(&path, false).unwrap_err();
    assert!(
        matches!(refused, StorageError::Unavailable(_))
            && refused.to_string().contains("another process"),
        "{refused}"
    );
    drop(store);
    open_connection(&path, false).expect("free once the store is closed");
}
