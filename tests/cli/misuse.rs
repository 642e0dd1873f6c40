//! The CLI as a hostile user drives it: two runs at once, a frozen holder, keys and
//! numbers chosen to hurt, state files swapped for links or garbage, output that cannot
//! be written. Each test is a way the pipeline around the record used to lose data,
//! hang or panic.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::{
    assert_exactly_once, host_example, signal, snapshot, spawn_host_example, stderr, stdout,
    wait_for_acked_batches,
};

/// A command's exit status, for the classes the CLI documents.
fn status(output: &std::process::Output) -> i32 {
    output.status.code().expect("exited, not killed")
}

/// Two runs started together on one state directory: the second is refused at once
/// with status 4, naming the first's pid, and writes nothing; the first completes, and
/// the sink and the acks hold every message exactly once, in order.
#[test]
fn a_second_run_on_a_state_directory_is_refused_naming_the_holder_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    // Thousands of durable batches: the first run is still at work, whatever the
    // machine's load, when the second has started up and looks.
    let args = [
        "run",
        "--quiet",
        "--messages",
        "40000",
        "--batch-size",
        "40",
    ];
    let mut first = spawn_host_example(&state, &args);
    wait_for_acked_batches(&mut first, &state.join("acks.log"), 1);
    let second = host_example(&state, &args);
    assert_eq!(status(&second), 4, "{}", stderr(&second));
    assert!(
        stderr(&second).contains(&format!("pid {}", first.id())),
        "{}",
        stderr(&second)
    );
    assert!(first.wait_with_output().unwrap().status.success());
    assert_exactly_once(&state, 40_000);
    let again = host_example(&state, &args);
    assert!(stdout(&again).contains("durable offset 40000 of 40000 (complete)"));
    assert_exactly_once(&state, 40_000);
}

/// A run frozen with SIGSTOP keeps its directory: a second run, `write` and `reset`
/// are refused at once (status 4) instead of hanging, `get` still answers, and once
/// thawed the frozen run completes with nothing lost or doubled.
#[test]
fn a_frozen_holder_makes_every_writer_fail_fast_and_completes_once_thawed() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let mut frozen = spawn_host_example(&state, &["run", "--quiet", "--messages", "20000"]);
    wait_for_acked_batches(&mut frozen, &state.join("acks.log"), 2);
    signal(frozen.id(), "STOP");
    for args in [
        &["run", "--quiet", "--messages", "20000"][..],
        &[
            "run",
            "--quiet",
            "--messages",
            "20000",
            "--lock-wait-ms",
            "200",
        ],
        &["write", "--offset", "100000", "--id", "x"],
        &["reset", "--offset", "0"],
    ] {
        let refused = host_example(&state, args);
        assert_eq!(status(&refused), 4, "{args:?}: {}", stderr(&refused));
        assert!(
            stderr(&refused).contains("in use by pid"),
            "{}",
            stderr(&refused)
        );
    }
    assert!(host_example(&state, &["get"]).status.success());
    signal(frozen.id(), "CONT");
    let output = frozen.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_exactly_once(&state, 20000);
}

/// A key that names the state directory's own files is refused (status 2) before
/// anything is written: a record stored there would destroy the sink or the ack log.
#[test]
fn keys_naming_the_state_directorys_own_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    host_example(&state, &["run", "--quiet", "--messages", "300"]);
    let before = snapshot(&state);
    for key in ["sink.jsonl", "acks.log", "sink.jsonl/x", ".lock"] {
        for args in [
            &["reset", "--offset", "0"][..],
            &["run", "--messages", "300"],
        ] {
            let mut args = args.to_vec();
            args.extend(["--key", key]);
            let refused = host_example(&state, &args);
            assert_eq!(status(&refused), 2, "{args:?}: {}", stderr(&refused));
            assert_eq!(snapshot(&state), before, "{args:?} changed the state");
        }
    }
    assert_exactly_once(&state, 300);
}

/// `write` checks every id before it writes anything: an id over the limit, too many
/// ids, or an empty one is refused with status 2 and the offset stays where it was.
/// Ids can be given one per flag (commas and all) or from a file. `run` refuses a
/// source with an id over the limit in the same way.
#[test]
fn write_refuses_bad_ids_before_writing_anything_and_takes_any_id_one_per_flag() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    assert!(
        host_example(&state, &["write", "--offset", "1", "--id", "a"])
            .status
            .success()
    );
    let before = snapshot(&state);
    let many = dir.path().join("many-ids");
    fs::write(
        &many,
        (0..100_001)
            .map(|i| format!("id-{i}\n"))
            .collect::<String>(),
    )
    .unwrap();
    let long = "x".repeat(10_240);
    for args in [
        vec!["write", "--offset", "2", "--id", long.as_str()],
        vec![
            "write",
            "--offset",
            "2",
            "--ids-file",
            many.to_str().unwrap(),
        ],
        vec!["write", "--offset", "2", "--ids", ""],
        vec!["write", "--offset", "2", "--ids", "a,,b"],
    ] {
        let refused = host_example(&state, &args);
        assert_eq!(status(&refused), 2, "{}", stderr(&refused));
        assert!(
            stderr(&refused).contains("nothing was written"),
            "{}",
            stderr(&refused)
        );
        assert_eq!(snapshot(&state), before);
    }
    let commas = host_example(
        &state,
        &["write", "--offset", "2", "--id", "a,b", "--id", "c"],
    );
    assert!(commas.status.success(), "{}", stderr(&commas));
    let acked = pipeline_checkpoint_host::FileConsumer::read_log(&state.join("acks.log")).unwrap();
    assert_eq!(acked.last().unwrap(), &["a,b".to_owned(), "c".to_owned()]);

    let source = dir.path().join("source.jsonl");
    fs::write(
        &source,
        format!("{{\"id\":\"ok\"}}\n{{\"id\":\"{long}\"}}\n"),
    )
    .unwrap();
    let other = dir.path().join("other");
    let refused = host_example(&other, &["run", "--source", source.to_str().unwrap()]);
    assert_eq!(status(&refused), 3, "{}", stderr(&refused));
    assert!(stderr(&refused).contains("line 2"), "{}", stderr(&refused));
    assert!(
        !other.exists(),
        "a refused source created the state directory"
    );
}

/// Numbers at the edges are refused by the parser (status 2) or honoured without
/// allocating for them: never a panic or an abort.
#[test]
fn extreme_numbers_are_refused_or_streamed_never_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    for args in [
        &["run", "--batch-size", "18446744073709551615"][..],
        &["run", "--batch-size", "100000000000"],
        &["run", "--tenants", "0"],
        &["run", "--lock-wait-ms", "18446744073709551615"],
        &[
            "--storage",
            "etcd://127.0.0.1:1/p?timeout_ms=18446744073709551615",
            "get",
        ],
    ] {
        let refused = host_example(&state, args);
        assert_eq!(status(&refused), 2, "{args:?}: {}", stderr(&refused));
        assert!(
            !stderr(&refused).contains("panicked"),
            "{}",
            stderr(&refused)
        );
    }
    assert!(
        !state.exists(),
        "a refused command created the state directory"
    );
    let huge = host_example(
        &state,
        &[
            "run",
            "--quiet",
            "--messages",
            "18446744073709551615",
            "--max-batches",
            "2",
        ],
    );
    assert!(huge.status.success(), "{}", stderr(&huge));
    assert!(
        stdout(&huge).contains("durable offset 200 of 18446744073709551615"),
        "{}",
        stdout(&huge)
    );
}

/// Output that cannot be written: a reader that went away ends the command quietly
/// with status 0, a full device is an error naming standard output; never a panic.
#[test]
fn closed_or_full_standard_output_is_handled_never_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    host_example(
        &state,
        &["run", "--quiet", "--messages", "2000", "--batch-size", "10"],
    );
    for args in [
        &["inspect", "--tail", "10000"][..],
        &["run", "--quiet", "--tenants", "40", "--messages", "10"],
    ] {
        let mut child = crate::support::host_example_command()
            .arg("--state-dir")
            .arg(&state)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The reader goes away before the command writes: every write is EPIPE.
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    if Path::new("/dev/full").exists() {
        let output = crate::support::host_example_command()
            .arg("--state-dir")
            .arg(&state)
            .arg("get")
            .stdout(fs::File::create("/dev/full").unwrap())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{err}");
        assert!(err.contains("writing to standard output"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

/// The sink is checked by content on resume: lines doubled, an edited line, another
/// pipeline's file or a symbolic link in its place are refused with status 3 naming
/// the line, and nothing is changed (the link's target included).
#[test]
fn a_sink_that_is_not_this_pipelines_output_is_refused_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let args = ["run", "--quiet", "--messages", "1000", "--max-batches", "5"];
    host_example(&state, &args);
    let sink = state.join("sink.jsonl");
    let good = fs::read_to_string(&sink).unwrap();
    let lines: Vec<&str> = good.lines().collect();
    let doubled = format!("{}\n{}", lines[..100].join("\n"), good);
    let edited = good.replacen("\"seq\":42}", "\"seq\":43}", 1);
    let elsewhere = dir.path().join("elsewhere.jsonl");
    fs::write(&elsewhere, &good).unwrap();
    for (case, damage, line) in [
        ("100 lines doubled", Damage::Write(doubled), "line 101:"),
        ("an edited line", Damage::Write(edited), "line 43:"),
        ("a symbolic link", Damage::Link(&elsewhere), "symbolic link"),
    ] {
        fs::remove_file(&sink).unwrap();
        match damage {
            Damage::Write(text) => fs::write(&sink, text).unwrap(),
            Damage::Link(target) => std::os::unix::fs::symlink(target, &sink).unwrap(),
        }
        let before = snapshot(&state);
        let refused = host_example(&state, &args);
        assert_eq!(status(&refused), 3, "{case}: {}", stderr(&refused));
        assert!(
            stderr(&refused).contains(line),
            "{case}: {}",
            stderr(&refused)
        );
        assert_eq!(snapshot(&state), before, "{case} changed the state");
    }
    assert_eq!(fs::read_to_string(&elsewhere).unwrap(), good);
    fs::remove_file(&sink).unwrap();
    fs::write(&sink, &good).unwrap();
    assert!(
        host_example(&state, &["run", "--quiet", "--messages", "1000"])
            .status
            .success()
    );
    assert_exactly_once(&state, 1000);
}

enum Damage<'a> {
    Write(String),
    Link(&'a Path),
}

/// A mistyped `--storage` is an error (status 2), never a directory of that name; and
/// `get` and `inspect` create nothing, not even a mistyped state directory.
#[test]
fn mistyped_storage_is_an_error_and_looking_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("typo");
    for storage in [
        "etcdx://127.0.0.1:1/p",
        "ETCD://127.0.0.1:1/p",
        "http://h:1/p",
        "",
        " ",
    ] {
        let refused = host_example(&typo, &["--storage", storage, "get"]);
        assert_eq!(status(&refused), 2, "{storage:?}: {}", stderr(&refused));
    }
    let get = host_example(&typo, &["get"]);
    assert_eq!(stdout(&get).trim(), "0", "{}", stderr(&get));
    assert!(host_example(&typo, &["inspect"]).status.success());
    assert!(host_example(&typo, &["get", "--json"]).status.success());
    assert!(!typo.exists(), "looking created the state directory");
    assert!(fs::read_dir(dir.path()).unwrap().next().is_none());
}

/// A record that is a FIFO or far larger than any record is refused at once, never
/// read whole or waited on; a huge one is damaged data (status 3) with the way out,
/// and `inspect` shows its size, not its bytes.
#[test]
fn fifo_or_huge_records_are_refused_at_once_and_never_printed_whole() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    host_example(&state, &["run", "--quiet", "--messages", "300"]);
    let record = state.join("pipeline/checkpoint.json");
    fs::remove_file(&record).unwrap();
    if Command::new("mkfifo")
        .arg(&record)
        .status()
        .is_ok_and(|s| s.success())
    {
        let refused = host_example(&state, &["get"]);
        assert!(!refused.status.success());
        assert!(
            stderr(&refused).contains("not a regular file"),
            "{}",
            stderr(&refused)
        );
        fs::remove_file(&record).unwrap();
    }
    let huge = format!("{{\"offset\":300,\"pad\":\"{}\"}}", "x".repeat(20 << 20));
    fs::write(&record, huge).unwrap();
    let refused = host_example(&state, &["get"]);
    assert_eq!(status(&refused), 3, "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("reset --offset"),
        "{}",
        stderr(&refused)
    );
    let inspect = host_example(&state, &["inspect"]);
    assert!(
        stdout(&inspect).len() < 10_000,
        "inspect printed {} bytes",
        stdout(&inspect).len()
    );
    assert!(stdout(&inspect).contains("bytes"), "{}", stdout(&inspect));
    assert!(
        host_example(&state, &["reset", "--offset", "300"])
            .status
            .success()
    );
    assert_eq!(stdout(&host_example(&state, &["get"])).trim(), "300");
}

/// Each class of failure has its own exit status: a bad flag 2, a corrupt record 3, a
/// directory in use 4, unreachable storage 5, a limit of the sandbox 6.
#[test]
fn each_failure_class_has_its_own_exit_status() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    host_example(&state, &["run", "--quiet", "--messages", "300"]);
    assert_eq!(
        status(&host_example(&state, &["run", "--batch-size", "0"])),
        2
    );

    let lock = fs::File::open(state.join(".lock")).unwrap();
    lock.lock().unwrap();
    assert_eq!(
        status(&host_example(&state, &["reset", "--offset", "1"])),
        4
    );
    drop(lock);

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let etcd = format!("etcd://{closed}/p?timeout_ms=300");
    assert_eq!(
        status(&host_example(&state, &["--storage", &etcd, "get"])),
        5
    );

    let spin = pipeline_checkpoint_test_support::hostile::SPIN_COMPONENT;
    assert_eq!(
        status(&host_example(&state, &["--component", spin, "get"])),
        6
    );

    fs::write(state.join("pipeline/checkpoint.json"), "{\"offset\": -1}").unwrap();
    assert_eq!(status(&host_example(&state, &["get"])), 3);
}
