//! Damaged state directories, checked in under `tests/fixtures/damaged-state/`: the
//! CLI refuses each with one line naming the file and the fault, changes nothing
//! (never a silent restart from 0), and the way out it names works.
//!
//! Every fixture is the state a `run --batch-size 10 --max-batches 3` left (offset 30,
//! 30 messages in the sink, 3 acks), with the checkpoint damaged one way.

use std::path::{Path, PathBuf};
use std::process::Output;

use host_example::pipeline::generated;
use pipeline_checkpoint_host::FileConsumer;

use crate::support::{fixture_dir, host_example, names_in, snapshot, stderr, stdout};

/// The offset the fixtures were checkpointed at.
const FIXTURE_OFFSET: u64 = 30;
/// The stream every command here runs over.
const MESSAGES: u64 = 1000;
const RECORD: &str = "pipeline/checkpoint.json";

/// Each damaged-record fixture, the fault the CLI must name, and the offset the way
/// out resets to: the fixture's own, or 0 to reprocess everything.
const DAMAGED_RECORDS: &[(&str, &str, u64)] = &[
    ("empty-checkpoint", "record is empty", FIXTURE_OFFSET),
    ("nul-filled-checkpoint", "NUL byte", 0),
    ("truncated-checkpoint", "not valid JSON", FIXTURE_OFFSET),
    ("object-without-offset", "no \"offset\" field", 0),
    ("array-checkpoint", "is a JSON array", FIXTURE_OFFSET),
];
/// The fixtures that are not damaged records.
const OTHER_FIXTURES: &[&str] = &["healthy", "leftover-temp-file"];

/// Every fixture directory has its expectations here, so none goes untested.
#[test]
fn every_damaged_state_fixture_has_an_expectation() {
    let mut expected: Vec<&str> = DAMAGED_RECORDS.iter().map(|(name, ..)| *name).collect();
    expected.extend(OTHER_FIXTURES);
    expected.sort();
    let dirs: Vec<String> = names_in(&fixture_dir("damaged-state"))
        .into_iter()
        .filter(|name| fixture_dir("damaged-state").join(name).is_dir())
        .collect();
    assert_eq!(dirs, expected);
}

/// The healthy fixture resumes from its checkpoint and completes, so the damaged ones
/// fail because of their damage alone.
#[test]
fn healthy_fixture_resumes_from_its_checkpoint_and_completes() {
    let (_dir, state) = copy_fixture("healthy");
    let run = host_example(&state, &["run", "--messages", "1000"]);
    assert_completed(&run, FIXTURE_OFFSET, 0);
    assert_sink_and_acks_complete(&state, FIXTURE_OFFSET);
}

/// A damaged record stops `run`, `get` and `inspect` with a failure code and one line
/// naming the file, the fault and `reset --offset`, and leaves the state directory
/// byte for byte as it was.
#[test]
fn damaged_record_is_refused_naming_file_fault_and_way_out_and_nothing_changes() {
    for &(case, fault, _) in DAMAGED_RECORDS {
        let (_dir, state) = copy_fixture(case);
        let record = state.join(RECORD).display().to_string();
        let before = snapshot(&state);
        for args in [&["run", "--messages", "1000"][..], &["get"], &["inspect"]] {
            let output = host_example(&state, args);
            let what = format!("{case}: {args:?}");
            assert_refused(&output, &[&record, fault, "reset --offset"], &what);
            assert_eq!(
                snapshot(&state),
                before,
                "{what} changed the state directory"
            );
        }
        let inspect = stdout(&host_example(&state, &["inspect"]));
        assert!(
            inspect.contains("offset:   unreadable: record") && inspect.contains(fault),
            "{case}: inspect shows the fault: {inspect}"
        );
    }
}

/// `reset --offset` is the way out of every damaged record: the next run resumes from
/// the chosen offset, and the sink and the ack log end complete.
#[test]
fn reset_then_run_resumes_from_the_chosen_offset_and_completes() {
    for &(case, _, offset) in DAMAGED_RECORDS {
        let (_dir, state) = copy_fixture(case);
        let reset = host_example(&state, &["reset", "--offset", &offset.to_string()]);
        assert_success(&reset, case);
        assert!(
            stdout(&reset).contains(&format!("reset to offset {offset}")),
            "{case}: {}",
            stdout(&reset)
        );
        // Resetting below the sink's end makes the run process those messages again.
        let run = host_example(&state, &["run", "--messages", "1000"]);
        assert_completed(&run, offset, FIXTURE_OFFSET - offset);
        assert_sink_and_acks_complete(&state, offset);
    }
}

/// A leftover temporary file holding a higher offset is never read: `get` and
/// `inspect` show the stable record and change nothing, `run` resumes from it, and the
/// run's first write removes the temporary file.
#[test]
fn leftover_temp_file_is_ignored_and_removed_by_the_next_write() {
    let (_dir, state) = copy_fixture("leftover-temp-file");
    let pipeline = state.join("pipeline");
    let temp = ".checkpoint.json.Ab12Cd.tmp";
    assert_eq!(names_in(&pipeline), [temp, "checkpoint.json"]);
    let before = snapshot(&state);
    let get = host_example(&state, &["get"]);
    assert_success(&get, "get");
    assert_eq!(stdout(&get).trim(), FIXTURE_OFFSET.to_string());
    let inspect = host_example(&state, &["inspect"]);
    assert_success(&inspect, "inspect");
    assert!(
        stdout(&inspect).contains(&format!("offset:   {FIXTURE_OFFSET}\n")),
        "{}",
        stdout(&inspect)
    );
    assert_eq!(
        snapshot(&state),
        before,
        "reading changed the state directory"
    );

    // The crash that left the temporary file came after the next batch reached the
    // sink: those 10 messages are processed again.
    let run = host_example(&state, &["run", "--messages", "1000"]);
    assert_completed(&run, FIXTURE_OFFSET, 10);
    assert_sink_and_acks_complete(&state, FIXTURE_OFFSET);
    assert_eq!(names_in(&pipeline), ["checkpoint.json"]);
}

/// A checkpoint that cannot be read at all (its directory is a regular file, or the
/// record is a directory) stops every command, `reset` included, with one line naming
/// the path and the system's reason, and changes nothing; once the entry is removed,
/// `reset` and `run` complete.
#[test]
fn unreadable_checkpoint_is_refused_by_every_command_until_the_entry_is_repaired() {
    type Damage = fn(&Path);
    let cases: [(&str, Damage, &str); 2] = [
        (
            "pipeline is a regular file",
            |pipeline| {
                std::fs::remove_dir_all(pipeline).unwrap();
                std::fs::write(pipeline, "{\"offset\":30}").unwrap();
            },
            "Not a directory",
        ),
        (
            "checkpoint.json is a directory",
            |pipeline| {
                std::fs::remove_file(pipeline.join("checkpoint.json")).unwrap();
                std::fs::create_dir(pipeline.join("checkpoint.json")).unwrap();
            },
            "Is a directory",
        ),
    ];
    for (case, damage, reason) in cases {
        let (_dir, state) = copy_fixture("healthy");
        damage(&state.join("pipeline"));
        let record = state.join(RECORD).display().to_string();
        let before = snapshot(&state);
        for args in [
            &["run", "--messages", "1000"][..],
            &["get"],
            &["inspect"],
            &["reset", "--offset", "30"],
        ] {
            let output = host_example(&state, args);
            let what = format!("{case}: {args:?}");
            assert_refused(&output, &[&record, reason], &what);
            assert_eq!(
                snapshot(&state),
                before,
                "{what} changed the state directory"
            );
        }

        // The repair is the operator's: remove the entry that is in the way.
        let pipeline = state.join("pipeline");
        if pipeline.is_dir() {
            std::fs::remove_dir_all(&pipeline).unwrap();
        } else {
            std::fs::remove_file(&pipeline).unwrap();
        }
        assert_success(&host_example(&state, &["reset", "--offset", "30"]), case);
        let run = host_example(&state, &["run", "--messages", "1000"]);
        assert_completed(&run, FIXTURE_OFFSET, 0);
        assert_sink_and_acks_complete(&state, FIXTURE_OFFSET);
    }
}

fn assert_success(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed: {}{}",
        stdout(output),
        stderr(output)
    );
}

/// A refusal: a failure exit code (not a panic's, not a signal), and stderr one line
/// that contains every one of `expected`.
#[track_caller]
fn assert_refused(output: &Output, expected: &[&str], what: &str) {
    let err = stderr(output);
    let code = output.status.code();
    assert!(
        code.is_some_and(|c| c != 0 && c != 101),
        "{what}: exit {code:?}\n{err}"
    );
    assert!(!err.contains("panicked"), "{what} panicked: {err}");
    assert_eq!(err.lines().count(), 1, "{what}: stderr is one line: {err}");
    assert!(err.starts_with("error: "), "{what}: {err}");
    for part in expected {
        assert!(err.contains(part), "{what}: stderr names {part:?}: {err}");
    }
}

/// A run that resumed from `resumed_from`, processed `redelivered` messages again, and
/// completed the stream.
#[track_caller]
fn assert_completed(output: &Output, resumed_from: u64, redelivered: u64) {
    assert_success(output, "run");
    let out = stdout(output);
    for line in [
        format!("resumed from offset {resumed_from} of {MESSAGES}"),
        format!("({redelivered} redelivered from the previous run)"),
        format!("durable offset {MESSAGES} of {MESSAGES} (complete)"),
    ] {
        assert!(out.contains(&line), "expected {line:?} in:\n{out}");
    }
}

/// The sink holds every message exactly once, in order; the ack log holds the
/// fixture's acks, then every message from the offset the run resumed from.
#[track_caller]
fn assert_sink_and_acks_complete(state: &Path, resumed_from: u64) {
    let sink = std::fs::read_to_string(state.join("sink.jsonl")).unwrap();
    let expected: String = (0..MESSAGES).map(|i| generated(i).line + "\n").collect();
    assert!(
        sink == expected,
        "the sink is not the stream, once, in order"
    );
    let acked = FileConsumer::read_log(&state.join("acks.log"))
        .unwrap()
        .concat();
    let expected: Vec<String> = (0..FIXTURE_OFFSET)
        .chain(resumed_from..MESSAGES)
        .map(|i| generated(i).id)
        .collect();
    assert!(
        acked == expected,
        "the ack log is not the fixture's, then the run's"
    );
}

/// A fresh copy of the fixture `case`, in a temporary directory.
fn copy_fixture(case: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    copy_tree(&fixture_dir("damaged-state").join(case), &state);
    (dir, state)
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
