//! `--storage sqlite://…` through the real binary: everything a run makes durable is
//! in the database, runs resume from it, one tenant of a `run --tenants` is reached by
//! its prefix, and a second process is refused while one holds the database. Crashes
//! and power cuts are in `crash_loop.rs` and `power_cut.rs`.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::crash_loop::{sqlite_database, sqlite_storage};
use crate::support::{host_example, stderr, stdout};

/// A scratch directory holding a state directory, and the `sqlite://` URL of the
/// database beside it, where the crash loops keep theirs too.
fn scratch() -> (tempfile::TempDir, PathBuf, String) {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let storage = sqlite_storage(&state);
    (dir, state, storage)
}

/// `run --tenants` on `storage`, quietly: `tenants` is the count and any options after
/// it.
fn run_tenants(
    state: &Path,
    storage: &str,
    tenants: &[&str],
    messages: &str,
    batch_size: &str,
) -> Output {
    let mut args = vec!["--storage", storage, "run", "--tenants"];
    args.extend_from_slice(tenants);
    args.extend([
        "--messages",
        messages,
        "--batch-size",
        batch_size,
        "--quiet",
    ]);
    host_example(state, &args)
}

/// A run keeps its record, sink and ack log in the database (the state directory
/// holds only its lock), and the next run resumes from them.
#[test]
fn a_run_on_sqlite_keeps_everything_in_the_database_and_resumes_from_it() {
    let (_dir, state, storage) = scratch();
    for (messages, resumed) in [("250", "0"), ("400", "250")] {
        let out = host_example(
            &state,
            &[
                "--storage",
                &storage,
                "run",
                "--messages",
                messages,
                "--batch-size",
                "50",
                "--quiet",
            ],
        );
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(
            stdout(&out).contains(&format!("resumed from offset {resumed} of {messages}")),
            "{}",
            stdout(&out)
        );
    }
    let names: Vec<_> = std::fs::read_dir(&state)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, [".lock"], "the state directory holds only its lock");
    let out = host_example(&state, &["--storage", &storage, "inspect"]);
    let text = stdout(&out);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(text.contains("offset:   400"), "{text}");
    assert!(text.contains("sink.jsonl (400 messages)"), "{text}");
    assert!(text.contains("acks.log (8 acks)"), "{text}");
}

/// `run --tenants` puts every tenant in one database; `#ID` names one of them.
#[test]
fn tenants_share_one_database_and_each_is_reached_by_its_prefix() {
    let (_dir, state, storage) = scratch();
    let out = run_tenants(&state, &storage, &["3", "--threads", "3"], "30", "7");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("3 complete, 0 failed"),
        "{}",
        stdout(&out)
    );
    let tenant = format!("{storage}#tenant-0001");
    let out = host_example(&state.join("tenant-0001"), &["--storage", &tenant, "get"]);
    assert_eq!(stdout(&out).trim(), "30", "{}", stderr(&out));
    let out = host_example(&state.join("tenant-0001"), &["--storage", &storage, "get"]);
    assert_eq!(
        stdout(&out).trim(),
        "0",
        "without the prefix, no tenant's record"
    );
}

/// While another process has the database open, a run is refused at once as
/// unavailable (exit status 5), naming the reason, and writes nothing.
#[test]
fn a_second_process_on_the_database_is_refused_at_once() {
    let (_dir, state, storage) = scratch();
    let db = sqlite_database(&state);
    let out = host_example(
        &state,
        &["--storage", &storage, "run", "--messages", "20", "--quiet"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // Another process's hold on the database, as a running host-example has it.
    let holder = rusqlite::Connection::open(&db).unwrap();
    holder
        .pragma_update(None, "locking_mode", "EXCLUSIVE")
        .unwrap();
    holder.execute_batch("BEGIN IMMEDIATE; COMMIT;").unwrap();
    let out = host_example(
        &state,
        &["--storage", &storage, "run", "--messages", "40", "--quiet"],
    );
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("another process has the database open"),
        "{}",
        stderr(&out)
    );
    drop(holder);
    let out = host_example(&state, &["--storage", &storage, "get"]);
    assert_eq!(stdout(&out).trim(), "20", "{}", stderr(&out));
}

/// A thousand tenants on one database at the default `--threads`, twenty runs of
/// them (each on a database of its own): no tenant of any run fails. Every tenant opens,
/// uses and drops its handle while others do the same; a database reopened while a
/// dropped handle's connection is still closing fails a tenant with `database is
/// locked`, which is what a process-wide map of weak handles did to a few dozen tenants
/// in every run.
#[test]
fn a_thousand_tenants_on_one_database_fail_none_in_twenty_runs() {
    for run in 1..=20 {
        let (_dir, state, storage) = scratch();
        let out = run_tenants(&state, &storage, &["1000"], "20", "10");
        assert!(out.status.success(), "run {run}: {}", stderr(&out));
        assert!(
            stdout(&out).contains(": 1000 complete, 0 failed"),
            "run {run}: {}",
            stdout(&out)
        );
    }
}
