//! The shared fixtures of `pipeline-checkpoint-test-support`, and the helpers that run
//! the real `host-example` binary, which only this package's tests can name.

use std::path::Path;
use std::process::{Command, Output};

pub use pipeline_checkpoint_test_support::*;

/// Runs the real `host-example` binary on the state directory `state`.
pub fn host_example(state: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_host-example"))
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
    Command::new(env!("CARGO_BIN_EXE_host-example"))
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
