//! The pipeline with its record in a real three-member etcd cluster whose leader is
//! killed (SIGKILL) and restarted again and again while `host-example run` works, and
//! with a password that must show in none of its output.
//!
//! After every restart the run is paused (SIGSTOP) for a moment and its files and the
//! record are checked together: no message acked ahead of the durable offset, the
//! offset never back. Every run must complete by itself; the last one's files hold
//! every message once. The kill delays come from a seeded generator; the seed is
//! printed, and `CHECKPOINT_TEST_SEED` replays it.

use std::process::Child;
use std::thread;
use std::time::{Duration, Instant};

use pipeline_checkpoint_host::StorageExt;
use pipeline_checkpoint_test_support::block_on;
use pipeline_checkpoint_test_support::etcd_cluster::{ClusterOptions, EtcdCluster};

use crate::crash_loop::{BATCH, completed, run_command};
use crate::observer::Observer;
use crate::seeded::{Rng, seed};
use crate::support::{KEY, signal, stderr, stdout};

/// Messages added to the stream whenever a run completes it: the next run has work.
const STREAM_CHUNK: u64 = 20_000;

/// Three leader kills under a running pipeline.
#[test]
fn etcd_leader_killed_under_a_run_loses_nothing_and_never_acks_ahead() {
    leader_kill_loop(
        "etcd_leader_killed_under_a_run_loses_nothing_and_never_acks_ahead",
        3,
    );
}

/// The same across 50 leader kills (or `ETCD_LEADER_KILLS`).
#[test]
#[ignore = "minutes long; run with --ignored, ETCD_LEADER_KILLS=N to change the count"]
fn etcd_leader_kill_loop_long() {
    let kills = crate::seeded::count_from_env("ETCD_LEADER_KILLS", 50);
    leader_kill_loop("etcd_leader_kill_loop_long", kills);
}

fn leader_kill_loop(test: &str, kills: usize) {
    let Some(mut etcd) = EtcdCluster::start(test, ClusterOptions::default()) else {
        return;
    };
    let seed = seed();
    let mut rng = Rng::new(seed);
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let url = etcd.url("leader-kills");
    let mut records = etcd.storage("leader-kills");
    let mut files = Observer::new(BATCH);
    files.extend_to(STREAM_CHUNK);
    let (mut runs, mut run) = (1, spawn(&state, files.total(), &url));
    let mut offsets_at_kills = Vec::new();
    for kill in 1..=kills {
        thread::sleep(Duration::from_millis(rng.between(50, 500)));
        let leader = etcd.leader();
        etcd.kill(leader);
        thread::sleep(Duration::from_millis(rng.between(0, 1_500)));
        etcd.restart(leader);
        // Paused, the run changes neither its files nor the record: the two are
        // read as one moment.
        signal(run.id(), "STOP");
        let record = block_on(records.value(KEY))
            .unwrap_or_else(|e| panic!("seed {seed}, kill {kill}: reading the record: {e}"));
        let seen = files.observe_with_record(&state, record.map(String::into_bytes));
        signal(run.id(), "CONT");
        let seen = seen.unwrap_or_else(|fault| panic!("seed {seed}, kill {kill}: {fault}"));
        offsets_at_kills.push(seen.offset);
        if run.try_wait().unwrap().is_some() {
            let output = run.wait_with_output().unwrap();
            completed(&output, 0, files.total());
            files.extend_to(files.total() + STREAM_CHUNK);
            runs += 1;
            run = spawn(&state, files.total(), &url);
        }
    }
    let output = run.wait_with_output().unwrap();
    let total = files.total();
    completed(&output, 0, total);
    let record = block_on(records.value(KEY))
        .unwrap()
        .map(String::into_bytes);
    let seen = files
        .observe_with_record(&state, record)
        .unwrap_or_else(|fault| panic!("seed {seed}, after the last run: {fault}"));
    assert_eq!(
        (seen.offset, seen.sink_lines),
        (total, total),
        "seed {seed}"
    );
    let acks = files.ack_tally();
    assert!(
        acks.never_acked.is_empty(),
        "seed {seed}: {:?}",
        acks.never_acked
    );
    println!(
        "etcd leader kills: {kills} kills of the leader, {runs} runs (each completed), \
         {total} messages, lost 0, acked ahead 0, duplicate acks {}, offsets at the kills \
         {:?}…, {:.1} s",
        acks.duplicated_ids,
        &offsets_at_kills[..offsets_at_kills.len().min(5)],
        started.elapsed().as_secs_f64()
    );
}

fn spawn(state: &std::path::Path, messages: u64, url: &str) -> Child {
    run_command(state, messages)
        .args(["--storage", url])
        .spawn()
        .expect("host-example starts")
}

/// With authentication on, the password goes in by `ETCD_PASSWORD`: a run with it
/// works, a run with a wrong one fails as access denied, and neither password shows
/// in stdout, stderr or the logs of a run at `RUST_LOG=trace`.
#[test]
fn etcd_password_from_the_environment_works_and_shows_nowhere() {
    let test = "etcd_password_from_the_environment_works_and_shows_nowhere";
    let Some(etcd) = EtcdCluster::start(test, ClusterOptions::default()) else {
        return;
    };
    let (right, wrong) = ("s3cret-for-etcd", "n0t-the-password");
    etcd.enable_auth(right);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let url = etcd.url("auth-run").replacen("etcd://", "etcd://root@", 1);
    let run = |password: Option<&str>| {
        let mut command = run_command(&state, 1_000);
        command.args(["--storage", &url]).env("RUST_LOG", "trace");
        match password {
            Some(password) => command.env("ETCD_PASSWORD", password),
            None => command.env_remove("ETCD_PASSWORD"),
        };
        command.output().unwrap()
    };
    let denied = run(Some(wrong));
    assert!(!denied.status.success());
    assert!(
        stderr(&denied).contains("access denied") && stderr(&denied).contains("wrong password"),
        "{}",
        stderr(&denied)
    );
    let unset = run(None);
    assert!(!unset.status.success());
    assert!(
        stderr(&unset).contains("ETCD_PASSWORD"),
        "{}",
        stderr(&unset)
    );
    let ok = run(Some(right));
    assert!(ok.status.success(), "{}{}", stdout(&ok), stderr(&ok));
    for output in [&denied, &ok, &unset] {
        let text = format!("{}{}", stdout(output), stderr(output));
        for secret in [right, wrong] {
            assert!(!text.contains(secret), "a password shows: {text}");
        }
    }
}
