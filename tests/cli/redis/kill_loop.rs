//! `kill -9` at random instants of real runs against Redis. After every kill, Redis
//! and the record show: the output holds the source's first entries once each, in
//! order; no entry is acknowledged (gone from the pending list) unless the durable
//! checkpoint covers it; the offset never goes back. A final run completes with
//! nothing lost and nothing pending.

use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use pipeline_checkpoint_test_support::redis::RedisServer;

use super::{check_streams, durable_offset, pending, produce, run_args};
use crate::seeded::{Rng, seed};
use crate::support::host_example_command;

/// Entries per batch: each batch one append, one checkpoint, one XACK. Small, so that
/// a run takes seconds and most kills land mid-run.
const BATCH: u64 = 5;
/// The source's initial length, and how much it grows whenever a run drains it before
/// its kill, so that kills keep landing mid-run.
const CHUNK: u64 = 5_000;
/// Kills land up to this long after a spawn: startup (loading the component,
/// reading the record, claiming the pending list) and the batch loop both.
const MAX_DELAY_MS: u64 = 400;

#[test]
fn kill_9_against_redis_never_acks_ahead_of_the_checkpoint_nor_doubles_or_loses_entries() {
    let Some(redis) = RedisServer::start(
        "kill_9_against_redis_never_acks_ahead_of_the_checkpoint_nor_doubles_or_loses_entries",
    ) else {
        return;
    };
    kill_loop(&redis, 30);
}

/// The same across 1,000 kills (or `REDIS_KILLS`).
#[test]
#[ignore = "minutes long; run with --ignored, REDIS_KILLS=N to change the count"]
fn redis_kill_loop_long() {
    let Some(redis) = RedisServer::start("redis_kill_loop_long") else {
        return;
    };
    let kills =
        std::env::var("REDIS_KILLS").map_or(1000, |n| n.parse().expect("REDIS_KILLS is a number"));
    kill_loop(&redis, kills);
}

fn kill_loop(redis: &RedisServer, kills: u64) {
    let seed = seed();
    eprintln!("redis kill loop: {kills} kills, seed {seed} (CHECKPOINT_TEST_SEED replays it)");
    let mut rng = Rng::new(seed);
    let state = tempfile::tempdir().unwrap();
    let mut client = redis.client();
    let mut produced = produce(redis, "in", CHUNK).len() as u64;
    let (mut done, mut exited, mut last_offset) = (0, 0, 0);
    let started = Instant::now();
    while done < kills {
        let delay = rng.between(0, MAX_DELAY_MS);
        let mut child = spawn(redis, state.path());
        thread::sleep(Duration::from_millis(delay));
        let killed = child.try_wait().unwrap().is_none() && child.kill().is_ok();
        let output = child.wait_with_output().unwrap();
        let offset = durable_offset(state.path());
        assert!(
            offset >= last_offset,
            "the offset went back from {last_offset} to {offset}"
        );
        last_offset = offset;
        check_streams(&mut client, "in", "out", offset);
        if killed && output.status.signal() == Some(9) {
            done += 1;
        } else {
            assert!(
                output.status.success(),
                "a run failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            exited += 1;
            produced += produce(redis, "in", CHUNK).len() as u64;
        }
    }
    let last = spawn(redis, state.path()).wait_with_output().unwrap();
    assert!(
        last.status.success(),
        "{}",
        String::from_utf8_lossy(&last.stderr)
    );
    assert_eq!(durable_offset(state.path()), produced);
    let (in_output, acked) = check_streams(&mut client, "in", "out", produced);
    assert_eq!(
        (in_output, acked),
        (produced, produced),
        "every entry once, all acknowledged"
    );
    assert!(
        pending(&mut client, "in").is_empty(),
        "the pending list is empty at the end"
    );
    eprintln!(
        "redis kill loop: {done} kills, {exited} runs that drained the stream first, {produced} \
         entries, lost 0, doubled 0, acked ahead 0, {:.1} s, seed {seed}",
        started.elapsed().as_secs_f64()
    );
}

fn spawn(redis: &RedisServer, state: &std::path::Path) -> Child {
    host_example_command()
        .arg("--state-dir")
        .arg(state)
        .args(run_args(redis, "in", "out"))
        .args(["--batch-size", &BATCH.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("host-example starts")
}
