//! `kill -9` at random instants of real runs against Redis. After every kill, Redis
//! and the record show: the output holds the source's first entries once each, in
//! order; no entry is acknowledged (gone from the pending list) unless the durable
//! checkpoint covers it; the offset never goes back. A final run completes with
//! nothing lost and nothing pending.

use std::os::unix::process::ExitStatusExt;
use std::process::Child;
use std::thread;
use std::time::{Duration, Instant};

use pipeline_checkpoint_test_support::redis::RedisServer;

use pipeline_checkpoint_host::backends::redis::redis;

use super::{
    Entry, check_streams, durable_offset, last_delivered, pending, produce, run_args, stream_id,
};
use crate::seeded::{Rng, seed};
use crate::support::spawn_host_example;

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
    let mut source_ids = produce(redis, "in", CHUNK);
    let mut produced = source_ids.len() as u64;
    let mut verified = 0;
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
        verified = check_since(&mut client, &source_ids, verified, offset);
        if killed && output.status.signal() == Some(9) {
            done += 1;
        } else {
            assert!(
                output.status.success(),
                "a run failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            exited += 1;
            source_ids.extend(produce(redis, "in", CHUNK));
            produced = source_ids.len() as u64;
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
    let mut args = run_args(redis, "in", "out");
    args.extend(["--batch-size".to_owned(), BATCH.to_string()]);
    spawn_host_example(state, &args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// The checks of [`check_streams`], made incrementally so that a loop over a growing
/// stream stays linear: the output entries after the first `verified` (which never
/// change once written) must be the next source entries; and every entry the group
/// delivered past the durable offset must still be pending. Returns the output's
/// length, all verified.
#[track_caller]
fn check_since(
    client: &mut redis::Connection,
    source_ids: &[String],
    verified: u64,
    durable: u64,
) -> u64 {
    let new: Vec<Entry> = redis::cmd("XRANGE")
        .arg("out")
        .arg(format!("(0-{verified}"))
        .arg("+")
        .query(client)
        .expect("XRANGE");
    for (index, (id, fields)) in new.iter().enumerate() {
        let position = verified + index as u64 + 1;
        assert_eq!(id, &format!("0-{position}"), "output entry {position}'s id");
        let source_id = source_ids
            .get(position as usize - 1)
            .unwrap_or_else(|| panic!("output entry {id} has no source entry"));
        assert_eq!(
            fields[..2],
            ["source-id".to_owned(), source_id.clone()],
            "output entry {id}"
        );
    }
    let length = verified + new.len() as u64;
    assert!(
        length >= durable,
        "the checkpoint says {durable} but the output holds {length}"
    );
    let pending = pending(client, "in");
    if let Some(last) = last_delivered(client, "in") {
        let last = stream_id(&last);
        for (index, id) in source_ids.iter().enumerate().skip(durable as usize) {
            if stream_id(id) > last {
                break;
            }
            assert!(
                pending.contains(id),
                "entry {id} (number {}) is acknowledged but the durable offset is {durable}",
                index + 1
            );
        }
    }
    length
}
