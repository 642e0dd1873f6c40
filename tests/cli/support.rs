//! The shared fixtures of `pipeline-checkpoint-test-support`, and the helpers that run
//! the real `host-example` binary, which only this package's tests can name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use host_example::pipeline::LOCK_FILE;

pub use pipeline_checkpoint_test_support::*;

/// The real `host-example` binary, with the test credentials of the object storage
/// emulators in its environment (the other backends ignore them).
pub fn host_example_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_host-example"));
    command.envs(object_stores::credentials_env());
    command
}

/// Runs the real `host-example` binary on the state directory `state`.
pub fn host_example(state: &Path, args: &[&str]) -> Output {
    host_example_command()
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .output()
        .expect("host-example runs")
}

/// A finished command's standard output, as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A finished command's standard error, as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Starts the real `host-example` on the state directory `state`, its output captured.
pub fn spawn_host_example(state: &Path, args: &[&str]) -> std::process::Child {
    host_example_command()
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("host-example starts")
}

/// Waits until the ack log at `acks` holds `batches` lines, while `child` runs.
#[track_caller]
pub fn wait_for_acked_batches(child: &mut std::process::Child, acks: &Path, batches: usize) {
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while lines_in(acks) < batches {
        assert!(std::time::Instant::now() < give_up, "the run never acked");
        assert!(child.try_wait().unwrap().is_none(), "the run ended early");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Every entry under `dir`, directories and files with their bytes, to show that a
/// refused command changed nothing. The lock file that `run`, `write` and `reset` take
/// is left out: it says who holds the directory, and is no part of its state.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut entries = BTreeMap::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        let Ok(listing) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in listing {
            let path = entry.unwrap().path();
            if path.file_name().is_some_and(|name| name == LOCK_FILE) {
                continue;
            }
            if path.is_dir() {
                entries.insert(path.clone(), None);
                pending.push(path);
            } else {
                entries.insert(path.clone(), Some(std::fs::read(&path).unwrap()));
            }
        }
    }
    entries
}

/// Sends the signal `name` (`STOP`, `CONT`, `KILL`) to process `pid`.
#[track_caller]
pub fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name} {pid}");
}

/// Checks a finished pipeline over `count` generated messages in `state` as Redis or a
/// reader of its files would: the sink holds every message exactly once, in order, and
/// the ack log acknowledges each exactly once, in order, with every line covered by
/// the durable offset it names.
#[track_caller]
pub fn assert_exactly_once(state: &Path, count: u64) {
    let sink = std::fs::read_to_string(state.join("sink.jsonl")).unwrap_or_default();
    let lines: Vec<&str> = sink.lines().collect();
    assert_eq!(
        lines.len() as u64,
        count,
        "the sink holds {} lines",
        lines.len()
    );
    for (index, line) in lines.iter().enumerate() {
        let expected = host_example::pipeline::generated(index as u64).line;
        assert_eq!(*line, expected, "sink line {}", index + 1);
    }
    let entries = pipeline_checkpoint_host::FileConsumer::read_entries(&state.join("acks.log"))
        .unwrap_or_default();
    let acked: Vec<String> = entries.iter().flat_map(|e| e.ids.clone()).collect();
    let expected: Vec<String> = (0..count)
        .map(|i| host_example::pipeline::generated(i).id)
        .collect();
    assert_eq!(
        acked.len(),
        expected.len(),
        "acks: {} ids for {count} messages",
        acked.len()
    );
    assert!(
        acked == expected,
        "the acks are not each message once, in order"
    );
    let mut covered = 0;
    for entry in &entries {
        covered += entry.ids.len() as u64;
        if let Some(offset) = entry.offset {
            assert!(
                covered <= offset,
                "an ack line covers {covered} ids past offset {offset}"
            );
        }
    }
}
