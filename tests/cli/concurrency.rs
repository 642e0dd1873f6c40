//! Many processes on one state directory, as an operator's mistakes or a supervisor
//! that restarts too eagerly would start them: pairs of runs started together, and a
//! run frozen with SIGSTOP while another tries to take its place. After each trial a
//! final run completes, and then the sink holds every message exactly once, in order,
//! the acks acknowledge each exactly once, in order, and every ack is covered by the
//! durable offset its line names. With no crash in the trial, no ack may repeat.
//!
//! The short form (a few trials) runs in `cargo test`; the long form is
//! `CONCURRENCY_TRIALS=200 cargo test -p host-example --test cli concurrency_long --
//! --ignored --nocapture`. Trials are drawn from a printed seed
//! (`CHECKPOINT_TEST_SEED` replays one).

use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use crate::seeded::{Rng, count_from_env, seed};
use crate::support::{
    assert_exactly_once, host_example, lines_in, signal, spawn_host_example, stderr, stdout,
};

#[test]
fn concurrent_and_frozen_runs_on_one_state_directory_keep_every_message_exactly_once() {
    trials(6);
}

#[test]
#[ignore = "long form: CONCURRENCY_TRIALS (default 200) trials"]
fn concurrency_long() {
    trials(count_from_env("CONCURRENCY_TRIALS", 200));
}

/// How the trials went, for the summary line.
#[derive(Default, Debug)]
struct Tally {
    pairs: usize,
    zombies: usize,
    refused: usize,
    messages: u64,
}

fn trials(count: usize) {
    let mut rng = Rng::new(seed());
    let started = Instant::now();
    let mut tally = Tally::default();
    for trial in 0..count {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let messages = rng.between(1_000, 6_000);
        let batch = rng.pick(&[1u64, 7, 50, 100, 333]);
        let args = [
            "run".to_owned(),
            "--quiet".to_owned(),
            "--messages".to_owned(),
            messages.to_string(),
            "--batch-size".to_owned(),
            batch.to_string(),
        ];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        if rng.percent(50) {
            tally.pairs += 1;
            tally.refused += pair(&state, &args);
        } else {
            tally.zombies += 1;
            tally.refused += zombie(&state, &args, &mut rng);
        }
        let last = host_example(&state, &args);
        assert!(last.status.success(), "trial {trial}: {}", stderr(&last));
        assert!(
            stdout(&last).contains(&format!(
                "durable offset {messages} of {messages} (complete)"
            )),
            "trial {trial}: {}",
            stdout(&last)
        );
        assert_exactly_once(&state, messages);
        tally.messages += messages;
    }
    println!(
        "{count} trials ({} pairs, {} frozen holders), {} runs refused, {} messages, lost 0, \
         duplicate acks 0, in {:.1} s",
        tally.pairs,
        tally.zombies,
        tally.refused,
        tally.messages,
        started.elapsed().as_secs_f64()
    );
}

/// Two runs started together; returns how many were refused. At most one may be, and
/// only with status 4.
fn pair(state: &Path, args: &[&str]) -> usize {
    let first = spawn_host_example(state, args);
    let second = spawn_host_example(state, args);
    let outcomes = [first, second].map(|run| run.wait_with_output().unwrap());
    let refused = outcomes.iter().filter(|o| !o.status.success()).count();
    for output in &outcomes {
        if !output.status.success() {
            assert_eq!(
                output.status.code(),
                Some(4),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
    assert!(refused <= 1, "both runs were refused");
    refused
}

/// A run frozen mid-stream while a successor tries to run, then thawed; returns how
/// many runs were refused (the successor, always).
fn zombie(state: &Path, args: &[&str], rng: &mut Rng) -> usize {
    let mut frozen = spawn_host_example(state, args);
    let acks = state.join("acks.log");
    let wanted = rng.below(3) + 1;
    if !wait_for_lines(&mut frozen, &acks, wanted) {
        // It finished before it could be frozen: nothing to take over.
        assert!(frozen.wait().unwrap().success());
        return 0;
    }
    signal(frozen.id(), "STOP");
    if frozen.try_wait().unwrap().is_some() {
        // It ended between its last ack and the signal: nothing is frozen.
        return 0;
    }
    let successor = host_example(state, args);
    signal(frozen.id(), "CONT");
    assert_eq!(successor.status.code(), Some(4), "{}", stderr(&successor));
    let output = frozen.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    1
}

/// Waits until `path` has `lines` lines while `child` runs; false if it ended first.
fn wait_for_lines(child: &mut Child, path: &Path, lines: usize) -> bool {
    let give_up = Instant::now() + Duration::from_secs(120);
    while lines_in(path) < lines {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        assert!(Instant::now() < give_up, "the run never acked");
        std::thread::sleep(Duration::from_millis(2));
    }
    true
}
