//! The `host-example` binary, run as a user would: the main job, resuming, and refusing
//! bad input with one clear line and nothing written.

use std::path::Path;
use std::process::Output;

use host_example::pipeline::generated;
use pipeline_checkpoint_host::FileConsumer;

use crate::support::{host_example, snapshot, stderr, stdout};

fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "failed: {}{}",
        stdout(output),
        stderr(output)
    );
}

fn sink_ids(state: &Path) -> Vec<String> {
    std::fs::read_to_string(state.join("sink.jsonl"))
        .unwrap()
        .lines()
        .map(|line| {
            serde_json::from_str::<serde_json::Value>(line).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

fn acked_ids(state: &Path) -> Vec<String> {
    FileConsumer::read_log(&state.join("acks.log"))
        .unwrap()
        .concat()
}

fn generated_ids(count: u64) -> Vec<String> {
    (0..count).map(|i| generated(i).id).collect()
}

/// `run` processes every generated message exactly once into the sink, acks each
/// exactly once, and leaves the checkpoint at the end of the stream.
#[test]
fn run_processes_every_message_once_and_checkpoints_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let output = host_example(
        &state,
        &["run", "--messages", "1000", "--batch-size", "100"],
    );
    assert_success(&output);
    assert!(
        stdout(&output).contains("durable offset 1000 of 1000 (complete)"),
        "{}",
        stdout(&output)
    );
    let expected = generated_ids(1000);
    assert_eq!(sink_ids(&state), expected);
    assert_eq!(acked_ids(&state), expected);
    let get = host_example(&state, &["get"]);
    assert_success(&get);
    assert_eq!(stdout(&get).trim(), "1000");
}

/// A run stopped half-way resumes from its checkpoint, and the sink ends complete.
#[test]
fn stopped_run_resumes_from_the_checkpoint_and_completes_the_sink() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let first = host_example(&state, &["run", "--messages", "1000", "--max-batches", "4"]);
    assert_success(&first);
    assert!(
        stdout(&first).contains("durable offset 400 of 1000"),
        "{}",
        stdout(&first)
    );
    let second = host_example(&state, &["run", "--messages", "1000"]);
    assert_success(&second);
    assert!(
        stdout(&second).contains("resumed from offset 400 of 1000"),
        "{}",
        stdout(&second)
    );
    assert_eq!(sink_ids(&state), generated_ids(1000));
    assert_eq!(acked_ids(&state), generated_ids(1000));
}

/// Output written past the checkpoint before a crash (and a line torn by it) is
/// processed again on resume, counted as redelivered, and the sink holds each message
/// once.
#[test]
fn output_past_the_checkpoint_is_redelivered_and_the_sink_stays_exact() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    assert_success(&host_example(
        &state,
        &["run", "--messages", "500", "--max-batches", "2"],
    ));
    // As a crash between the sink's fsync and the checkpoint leaves things: the next
    // batch in the sink, then a torn line.
    let mut sink = std::fs::read_to_string(state.join("sink.jsonl")).unwrap();
    for i in 200..300 {
        sink.push_str(&generated(i).line);
        sink.push('\n');
    }
    sink.push_str("{\"id\":\"torn");
    std::fs::write(state.join("sink.jsonl"), sink).unwrap();
    let resumed = host_example(&state, &["run", "--messages", "500"]);
    assert_success(&resumed);
    assert!(
        stdout(&resumed).contains("(100 redelivered"),
        "{}",
        stdout(&resumed)
    );
    assert_eq!(sink_ids(&state), generated_ids(500));
}

/// A JSON Lines source is processed with its lines copied verbatim to the sink.
#[test]
fn file_source_lines_reach_the_sink_verbatim() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source.jsonl");
    let lines = [
        "{\"id\":\"a\",\"n\":1}",
        "{\"id\":\"b\", \"text\":\"é\"}",
        "{\"id\":\"c\"}",
    ];
    std::fs::write(&source, lines.join("\n") + "\n").unwrap();
    let state = dir.path().join("state");
    let output = host_example(
        &state,
        &[
            "run",
            "--source",
            source.to_str().unwrap(),
            "--batch-size",
            "2",
        ],
    );
    assert_success(&output);
    let sink = std::fs::read_to_string(state.join("sink.jsonl")).unwrap();
    assert_eq!(sink, lines.join("\n") + "\n");
    assert_eq!(
        FileConsumer::read_log(&state.join("acks.log")).unwrap(),
        [vec!["a", "b"], vec!["c"]]
    );
}

/// Bad input stops the CLI with a failure code and one line naming the file and the
/// problem, and leaves the state directory exactly as it was.
#[test]
fn bad_input_fails_with_one_line_naming_the_file_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    assert_success(&host_example(
        &state,
        &["run", "--messages", "300", "--max-batches", "1"],
    ));
    let malformed = dir.path().join("malformed.jsonl");
    std::fs::write(&malformed, "{\"id\":\"a\"}\n{\"id\":\n").unwrap();
    let missing = dir.path().join("missing.jsonl");
    let record = state.join("pipeline/checkpoint.json");

    let cases: Vec<(Vec<String>, Option<&Path>, String)> = vec![
        (
            vec![
                "run".into(),
                "--source".into(),
                missing.display().to_string(),
            ],
            None,
            missing.display().to_string(),
        ),
        (
            vec![
                "run".into(),
                "--source".into(),
                malformed.display().to_string(),
            ],
            None,
            format!("{} line 2", malformed.display()),
        ),
        (
            vec!["run".into(), "--messages".into(), "300".into()],
            Some(&record),
            format!("{}: corrupt checkpoint record", record.display()),
        ),
        (
            vec!["get".into()],
            Some(&record),
            format!("{}: corrupt checkpoint record", record.display()),
        ),
        (
            vec![
                "write".into(),
                "--offset".into(),
                "5".into(),
                "--ids".into(),
                "x".into(),
            ],
            None,
            "lower than the durable offset".into(),
        ),
        (
            vec!["run".into(), "--messages".into(), "50".into()],
            None,
            "the source has only 50".into(),
        ),
    ];
    for (args, corrupt, expected) in cases {
        if let Some(record) = corrupt {
            std::fs::write(record, "\0\0\0\0").unwrap();
        }
        let before = snapshot(&state);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = host_example(&state, &args);
        let err = stderr(&output);
        assert!(!output.status.success(), "{args:?} succeeded");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.starts_with("error: ") && err.contains(&expected),
            "{args:?}: {err}"
        );
        assert_eq!(
            snapshot(&state),
            before,
            "{args:?} changed the state directory"
        );
        if corrupt.is_some() {
            assert!(
                err.contains("reset --offset"),
                "{args:?} names the way out: {err}"
            );
            assert_success(&host_example(&state, &["reset", "--offset", "100"]));
        }
    }
    let bad_flag = host_example(&state, &["run", "--batch-size", "0"]);
    assert!(!bad_flag.status.success());
    assert!(
        stderr(&bad_flag).contains("--batch-size"),
        "{}",
        stderr(&bad_flag)
    );
}

/// `write`, `get`, `inspect` and `reset` work on one state directory, and `inspect`
/// shows a corrupt record's fault instead of an offset.
#[test]
fn write_get_inspect_and_reset_share_one_state_directory() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    assert_success(&host_example(
        &state,
        &["write", "--offset", "3", "--ids", "a,b,c"],
    ));
    assert_eq!(stdout(&host_example(&state, &["get"])).trim(), "3");
    assert_eq!(acked_ids(&state), ["a", "b", "c"]);
    let inspect = host_example(&state, &["inspect"]);
    assert_success(&inspect);
    assert!(
        stdout(&inspect).contains("offset:   3"),
        "{}",
        stdout(&inspect)
    );
    assert!(
        stdout(&inspect).contains("3 ids: a … c"),
        "{}",
        stdout(&inspect)
    );

    std::fs::write(state.join("pipeline/checkpoint.json"), "{\"offset\": 1.5}").unwrap();
    let inspect = host_example(&state, &["inspect"]);
    assert!(!inspect.status.success());
    assert!(
        stdout(&inspect).contains("unreadable: \"offset\" is not an integer: 1.5"),
        "{}",
        stdout(&inspect)
    );

    assert_success(&host_example(&state, &["reset", "--offset", "2"]));
    assert_eq!(stdout(&host_example(&state, &["get"])).trim(), "2");
}

/// Every subcommand documents itself.
#[test]
fn every_subcommand_has_help() {
    let dir = tempfile::tempdir().unwrap();
    for command in ["run", "get", "write", "inspect", "reset"] {
        let output = host_example(dir.path(), &[command, "--help"]);
        assert_success(&output);
        assert!(
            stdout(&output).contains("Usage: host-example"),
            "{command}: {}",
            stdout(&output)
        );
    }
}

/// `write` over a damaged record is refused before it creates anything, the ack log
/// included.
#[test]
fn write_over_a_damaged_record_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir_all(state.join("pipeline")).unwrap();
    std::fs::write(state.join("pipeline/checkpoint.json"), "").unwrap();
    let before = snapshot(&state);
    let output = host_example(&state, &["write", "--offset", "1", "--ids", "a"]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("record is empty"),
        "{}",
        stderr(&output)
    );
    assert_eq!(snapshot(&state), before);
    assert!(!state.join("acks.log").exists());
}

/// `run --tenants N` runs N independent pipelines in one process: each tenant's state
/// directory holds its own complete sink, record and ack log; one tenant's damaged
/// record stops that tenant alone, with its error on its own line and a failing exit.
#[test]
fn run_with_tenants_runs_independent_pipelines_and_one_failure_stays_its_own() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("tenants");
    let args = [
        "run",
        "--tenants",
        "4",
        "--messages",
        "300",
        "--batch-size",
        "50",
        "--quiet",
    ];
    let output = host_example(&root, &args);
    assert_success(&output);
    let text = stdout(&output);
    assert!(text.contains("4 tenants on"), "{text}");
    assert!(
        text.contains("4 complete, 0 failed; 1200 messages in 24 checkpoints"),
        "{text}"
    );
    for i in 0..4 {
        let id = format!("tenant-{i:04}");
        assert!(
            text.contains(&format!(
                "{id}: resumed from 0, processed 300 messages in 6 batches"
            )),
            "{text}"
        );
        let dir = root.join(&id);
        let sink = std::fs::read_to_string(dir.join("sink.jsonl")).unwrap();
        assert_eq!(sink.lines().count(), 300);
        let acked = FileConsumer::read_log(&dir.join("acks.log"))
            .unwrap()
            .concat();
        let expected: Vec<String> = (0..300).map(|n| generated(n).id).collect();
        assert_eq!(acked, expected, "{id}");
    }

    std::fs::write(root.join("tenant-0002/pipeline/checkpoint.json"), "\0\0\0").unwrap();
    let args = [
        "run",
        "--tenants",
        "4",
        "--messages",
        "400",
        "--batch-size",
        "50",
        "--quiet",
    ];
    let output = host_example(&root, &args);
    assert!(!output.status.success());
    let text = stdout(&output);
    assert!(text.contains("tenant-0002: error: checkpoint"), "{text}");
    assert!(text.contains("corrupt checkpoint record"), "{text}");
    assert!(text.contains("3 complete, 1 failed"), "{text}");
    for id in ["tenant-0000", "tenant-0001", "tenant-0003"] {
        assert!(
            text.contains(&format!("{id}: resumed from 300, processed 100")),
            "{text}"
        );
    }
    assert!(stderr(&output).contains("1 of 4 tenants failed"));
}
