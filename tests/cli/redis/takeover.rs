//! Two workers, each with its own state directory (two machines), share the record
//! (etcd, or an S3, GCS or Azure bucket) and Redis. The first is killed (kill -9) or frozen
//! (SIGSTOP) mid-run; the second takes over from the durable checkpoint and completes.
//! A frozen first worker, woken, is fenced: it changes nothing in the output, the
//! pending list or the group.

use std::process::Child;
use std::thread;
use std::time::{Duration, Instant};

use pipeline_checkpoint_host::backends::object_storage::Cloud;
use pipeline_checkpoint_host::backends::redis::redis;
use pipeline_checkpoint_test_support::object_stores::ObjectServer;
use pipeline_checkpoint_test_support::redis::RedisServer;

use super::{check_streams, entries, last_delivered, pending, produce, run_args};
use crate::etcd_server::EtcdServer;
use crate::seeded::{Rng, seed};
use crate::support::{signal, spawn_host_example};

/// Entries per trial: enough that the first worker is still running when it is hit.
const ENTRIES: u64 = 3_000;
/// Entries per batch.
const BATCH: u64 = 10;

#[test]
fn a_second_worker_takes_over_from_a_killed_or_frozen_one_which_is_fenced_with_etcd() {
    let test = "a_second_worker_takes_over_from_a_killed_or_frozen_one_which_is_fenced_with_etcd";
    let Some(redis) = RedisServer::start("takeover with etcd") else {
        return;
    };
    let Some(etcd) = EtcdServer::start(test) else {
        return;
    };
    takeover_loop(&redis, 6, |trial| etcd.url(&format!("takeover-{trial}")));
}

#[test]
fn a_second_worker_takes_over_from_a_killed_or_frozen_one_which_is_fenced_with_s3() {
    let test = "a_second_worker_takes_over_from_a_killed_or_frozen_one_which_is_fenced_with_s3";
    takeover_with(Cloud::S3, test);
}

#[test]
fn a_second_worker_takes_over_from_a_killed_or_frozen_one_which_is_fenced_with_gcs() {
    let test = "a_second_worker_takes_over_from_a_killed_or_frozen_one_which_is_fenced_with_gcs";
    takeover_with(Cloud::Gcs, test);
}

#[test]
fn a_second_worker_takes_over_from_a_killed_or_frozen_one_which_is_fenced_with_azure() {
    let test = "a_second_worker_takes_over_from_a_killed_or_frozen_one_which_is_fenced_with_azure";
    takeover_with(Cloud::Azure, test);
}

/// The takeover loop with the record in `cloud`'s emulator.
fn takeover_with(cloud: Cloud, test: &str) {
    let Some(redis) = RedisServer::start(test) else {
        return;
    };
    let Some(server) = ObjectServer::start(cloud, test) else {
        return;
    };
    server.create_bucket("takeover");
    takeover_loop(&redis, 2, |trial| {
        server.cli_url("takeover", &format!("t{trial}"))
    });
}

/// The etcd takeover across 200 trials (or `TAKEOVER_TRIALS`).
#[test]
#[ignore = "minutes long; run with --ignored, TAKEOVER_TRIALS=N to change the count"]
fn takeover_loop_long() {
    let Some(redis) = RedisServer::start("takeover_loop_long") else {
        return;
    };
    let Some(etcd) = EtcdServer::start("takeover_loop_long") else {
        return;
    };
    let trials = std::env::var("TAKEOVER_TRIALS").map_or(200, |n| n.parse().expect("a number"));
    takeover_loop(&redis, trials, |trial| {
        etcd.url(&format!("takeover-{trial}"))
    });
}

/// Runs `trials` takeovers, alternating kill -9 and SIGSTOP, each on fresh streams and
/// a fresh record at `storage(trial)`.
fn takeover_loop(redis: &RedisServer, trials: u64, storage: impl Fn(u64) -> String) {
    let seed = seed();
    eprintln!("takeover loop: {trials} trials, seed {seed} (CHECKPOINT_TEST_SEED replays it)");
    let mut rng = Rng::new(seed);
    let mut client = redis.client();
    let (mut fenced, mut killed) = (0, 0);
    let started = Instant::now();
    for trial in 0..trials {
        let (source, output) = (format!("in-{trial}"), format!("out-{trial}"));
        produce(redis, &source, ENTRIES);
        let storage = storage(trial);
        let (w1, w2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let mut first = spawn(redis, w1.path(), &storage, &source, &output, "w1");
        // Hit it once it has output some entries, a little later each time.
        let at = rng.between(BATCH, ENTRIES / 3);
        wait_for_output(&mut client, &mut first, &output, at);
        let freeze = trial % 2 == 1;
        if freeze {
            signal(first.id(), "STOP");
        } else {
            first.kill().unwrap();
            first.wait().unwrap();
            killed += 1;
        }
        let second = spawn(redis, w2.path(), &storage, &source, &output, "w2")
            .wait_with_output()
            .unwrap();
        let said = String::from_utf8_lossy(&second.stdout);
        assert!(
            second.status.success()
                && said.contains(&format!("durable offset {ENTRIES} of {ENTRIES} (complete)")),
            "trial {trial}: the successor did not complete: {said}{}",
            String::from_utf8_lossy(&second.stderr)
        );
        assert_eq!(
            check_streams(&mut client, &source, &output, ENTRIES),
            (ENTRIES, ENTRIES)
        );
        assert!(
            pending(&mut client, &source).is_empty(),
            "trial {trial}: entries pending"
        );
        if freeze {
            let before = look(&mut client, &source, &output);
            signal(first.id(), "CONT");
            let woken = first.wait_with_output().unwrap();
            assert_eq!(
                woken.status.code(),
                Some(4),
                "trial {trial}: the woken worker was not fenced: {}{}",
                String::from_utf8_lossy(&woken.stdout),
                String::from_utf8_lossy(&woken.stderr)
            );
            assert!(String::from_utf8_lossy(&woken.stderr).contains("fenced"));
            assert!(
                look(&mut client, &source, &output) == before,
                "trial {trial}: the fenced worker changed the streams"
            );
            fenced += 1;
        }
    }
    eprintln!(
        "takeover loop: {trials} trials ({killed} killed, {fenced} frozen and fenced), {} \
         entries, lost 0, doubled 0, zombie writes 0, {:.1} s, seed {seed}",
        trials * ENTRIES,
        started.elapsed().as_secs_f64()
    );
}

/// What a zombie could change: the output, the pending list, the group's cursor.
fn look(
    client: &mut redis::Connection,
    source: &str,
    output: &str,
) -> (Vec<super::Entry>, Vec<String>, Option<String>) {
    let mut pending: Vec<String> = pending(client, source).into_iter().collect();
    pending.sort();
    (
        entries(client, output),
        pending,
        last_delivered(client, source),
    )
}

#[track_caller]
fn wait_for_output(client: &mut redis::Connection, child: &mut Child, output: &str, at: u64) {
    let give_up = Instant::now() + Duration::from_secs(60);
    loop {
        let len: u64 = redis::cmd("XLEN").arg(output).query(client).unwrap();
        if len >= at {
            return;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the first worker ended early"
        );
        assert!(
            Instant::now() < give_up,
            "the first worker never wrote {at} entries"
        );
        thread::sleep(Duration::from_millis(1));
    }
}

fn spawn(
    redis: &RedisServer,
    state: &std::path::Path,
    storage: &str,
    source: &str,
    output: &str,
    consumer: &str,
) -> Child {
    let mut args = run_args(redis, source, output);
    args[2].push_str(&format!("&consumer={consumer}"));
    args.extend(["--batch-size".to_owned(), BATCH.to_string()]);
    let mut all = vec!["--storage", storage];
    all.extend(args.iter().map(String::as_str));
    spawn_host_example(state, &all)
}
