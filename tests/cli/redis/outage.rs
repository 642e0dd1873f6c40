//! Redis killed (SIGKILL) under a run and restarted: the run stops with `unavailable`
//! (status 5) having acknowledged nothing ahead of its checkpoint, and the next run,
//! once Redis is back with its append-only file, completes with every entry once.

use std::thread;
use std::time::{Duration, Instant};

use pipeline_checkpoint_host::backends::redis::redis;
use pipeline_checkpoint_test_support::redis::RedisServer;

use super::{check_streams, durable_offset, pending, produce, run_args};
use crate::support::{host_example, spawn_host_example};

#[test]
fn redis_killed_mid_run_is_unavailable_acks_nothing_ahead_and_a_resume_completes() {
    let Some(mut redis) = RedisServer::start(
        "redis_killed_mid_run_is_unavailable_acks_nothing_ahead_and_a_resume_completes",
    ) else {
        return;
    };
    let state = tempfile::tempdir().unwrap();
    produce(&redis, "in", 20_000);
    let mut args = run_args(&redis, "in", "out");
    args.extend(["--batch-size".to_owned(), "10".to_owned()]);
    let mut child = spawn_host_example(
        state.path(),
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let mut client = redis.client();
    let give_up = Instant::now() + Duration::from_secs(60);
    while redis::cmd("XLEN")
        .arg("out")
        .query::<u64>(&mut client)
        .unwrap()
        < 500
    {
        assert!(child.try_wait().unwrap().is_none(), "the run ended early");
        assert!(Instant::now() < give_up, "the run never wrote");
        thread::sleep(Duration::from_millis(1));
    }
    redis.stop();
    let stopped = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&stopped.stderr);
    assert_eq!(stopped.status.code(), Some(5), "{said}");
    assert!(
        said.contains("127.0.0.1"),
        "the error names the server: {said}"
    );

    redis.restart();
    let mut client = redis.client();
    let durable = durable_offset(state.path());
    let (output, acked) = check_streams(&mut client, "in", "out", durable);
    assert!(output >= durable && acked <= durable, "after the outage");

    let resumed = host_example(
        state.path(),
        &run_args(&redis, "in", "out")
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    assert_eq!(durable_offset(state.path()), 20_000);
    assert_eq!(
        check_streams(&mut client, "in", "out", 20_000),
        (20_000, 20_000)
    );
    assert!(pending(&mut client, "in").is_empty());
}
