//! The pipeline against a real Redis (`run --source redis://… --sink redis://…`),
//! checked from Redis itself: the output stream (`XRANGE`), the group's pending list
//! (`XPENDING`) and its cursor (`XINFO GROUPS`).
//!
//! - here: a run, a rerun, the usage errors, a foreign output stream;
//! - `kill_loop.rs`: kill -9 at random instants;
//! - `takeover.rs`: a second worker on another state directory takes over from a
//!   killed or frozen first, which is fenced when it wakes;
//! - `outage.rs`: Redis killed and restarted under a run.

mod kill_loop;
mod outage;
mod takeover;

use std::collections::HashSet;
use std::path::Path;
use std::process::Output;

use pipeline_checkpoint_host::backends::redis::redis;
use pipeline_checkpoint_test_support::redis::RedisServer;

use crate::support::{host_example, host_example_command, stderr, stdout};

/// The consumer group the tests read through.
pub(crate) const GROUP: &str = "etl";

/// An entry's id and fields, as Redis returns them.
pub(crate) type Entry = (String, Vec<String>);

/// Appends `count` entries to `stream`, each with a number and a body; returns their ids.
pub(crate) fn produce(redis: &RedisServer, stream: &str, count: u64) -> Vec<String> {
    let mut client = redis.client();
    let mut ids = Vec::with_capacity(count as usize);
    let mut from = 0;
    while from < count {
        let to = (from + 1000).min(count);
        let mut pipe = redis::pipe();
        for n in from..to {
            pipe.cmd("XADD")
                .arg(stream)
                .arg("*")
                .arg("n")
                .arg(n)
                .arg("body")
                .arg(format!("{{\"event\":{n}}}"));
        }
        let added: Vec<String> = pipe.query(&mut client).expect("XADD");
        ids.extend(added);
        from = to;
    }
    ids
}

/// Every entry of `stream`, in order.
pub(crate) fn entries(client: &mut redis::Connection, stream: &str) -> Vec<Entry> {
    redis::cmd("XRANGE")
        .arg(stream)
        .arg("-")
        .arg("+")
        .query(client)
        .expect("XRANGE")
}

/// The ids pending in the group, whichever consumer holds them.
pub(crate) fn pending(client: &mut redis::Connection, stream: &str) -> HashSet<String> {
    let rows: Vec<(String, String, u64, u64)> = redis::cmd("XPENDING")
        .arg(stream)
        .arg(GROUP)
        .arg("-")
        .arg("+")
        .arg(10_000_000)
        .query(client)
        .unwrap_or_default();
    rows.into_iter().map(|(id, ..)| id).collect()
}

/// The group's `last-delivered-id` (`None`: no group yet).
pub(crate) fn last_delivered(client: &mut redis::Connection, stream: &str) -> Option<String> {
    let groups: Vec<redis::Value> = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg(stream)
        .query(client)
        .ok()?;
    groups.into_iter().find_map(|group| {
        let fields: Vec<(String, redis::Value)> = redis::from_redis_value(group).ok()?;
        let name = fields.iter().find(|(k, _)| k == "name")?;
        let name: String = redis::from_redis_value(name.1.clone()).ok()?;
        if name != GROUP {
            return None;
        }
        let last = fields
            .into_iter()
            .find(|(k, _)| k == "last-delivered-id")?
            .1;
        redis::from_redis_value(last).ok()
    })
}

/// What the streams show about a pipeline over `source`, checked: the output holds the
/// source's first entries, each once, in order, at ids `0-1`, `0-2`, … with its fields;
/// every acknowledged entry is in the output and covered by `durable` (the record's
/// offset). Returns how many entries the output holds and how many are acknowledged.
#[track_caller]
pub(crate) fn check_streams(
    client: &mut redis::Connection,
    source: &str,
    output: &str,
    durable: u64,
) -> (u64, u64) {
    let source_entries = entries(client, source);
    let output_entries = entries(client, output);
    assert!(
        output_entries.len() as u64 >= durable,
        "the checkpoint says {durable} but the output holds {}",
        output_entries.len()
    );
    for (index, (id, fields)) in output_entries.iter().enumerate() {
        let position = index + 1;
        assert_eq!(id, &format!("0-{position}"), "output entry {position}'s id");
        let (source_id, source_fields) = source_entries
            .get(index)
            .unwrap_or_else(|| panic!("output entry {id} has no source entry"));
        assert_eq!(
            fields[..2],
            ["source-id".to_owned(), source_id.clone()],
            "output entry {id} is not source entry {position}"
        );
        assert_eq!(
            &fields[2..],
            &source_fields[..],
            "output entry {id}'s fields"
        );
    }
    let pending = pending(client, source);
    let delivered_through = last_delivered(client, source);
    let mut acked = 0;
    if let Some(last) = delivered_through {
        for (index, (id, _)) in source_entries.iter().enumerate() {
            if compare(id, &last) == std::cmp::Ordering::Greater {
                break;
            }
            if !pending.contains(id) {
                acked += 1;
                assert!(
                    (index as u64) < durable,
                    "entry {id} (number {}) is acknowledged but the durable offset is {durable}",
                    index + 1
                );
            }
        }
    }
    (output_entries.len() as u64, acked)
}

fn compare(a: &str, b: &str) -> std::cmp::Ordering {
    stream_id(a).cmp(&stream_id(b))
}

/// A stream id, `MS-SEQ`, as a pair that orders as Redis orders ids.
pub(crate) fn stream_id(id: &str) -> (u64, u64) {
    let (ms, seq) = id.split_once('-').expect("a stream id");
    (ms.parse().unwrap(), seq.parse().unwrap())
}

/// `run` over the streams, with the record in `state` (or `storage`).
pub(crate) fn run_args(redis: &RedisServer, source: &str, output: &str) -> Vec<String> {
    vec![
        "run".into(),
        "--source".into(),
        redis.source_url(source, GROUP),
        "--sink".into(),
        redis.url(output),
        "--quiet".into(),
    ]
}

fn run(state: &Path, redis: &RedisServer, source: &str, output: &str, more: &[&str]) -> Output {
    let mut args = run_args(redis, source, output);
    args.extend(more.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    host_example(state, &args)
}

/// The record's offset in a state directory with file storage (0 if none).
pub(crate) fn durable_offset(state: &Path) -> u64 {
    std::fs::read_to_string(state.join("pipeline/checkpoint.json"))
        .ok()
        .map_or(0, |text| crate::support::offset_in(Some(text)))
}

#[test]
fn a_redis_run_writes_each_entry_once_in_order_and_leaves_nothing_pending() {
    let Some(redis) = RedisServer::start(
        "a_redis_run_writes_each_entry_once_in_order_and_leaves_nothing_pending",
    ) else {
        return;
    };
    let state = tempfile::tempdir().unwrap();
    produce(&redis, "in", 1234);
    let first = run(state.path(), &redis, "in", "out", &["--batch-size", "100"]);
    assert!(
        first.status.success(),
        "{}{}",
        stdout(&first),
        stderr(&first)
    );
    assert!(
        stdout(&first).contains("durable offset 1234 of 1234 (complete)"),
        "{}",
        stdout(&first)
    );
    let mut client = redis.client();
    assert_eq!(check_streams(&mut client, "in", "out", 1234), (1234, 1234));
    assert!(pending(&mut client, "in").is_empty());
    assert_eq!(durable_offset(state.path()), 1234);

    // More entries: the next run goes on from the checkpoint; a run with nothing new
    // does nothing.
    produce(&redis, "in", 66);
    let second = run(state.path(), &redis, "in", "out", &[]);
    assert!(
        stdout(&second).contains("resumed from offset 1234 of 1300"),
        "{}",
        stdout(&second)
    );
    assert!(
        stdout(&second).contains("processed 66 messages"),
        "{}",
        stdout(&second)
    );
    let third = run(state.path(), &redis, "in", "out", &[]);
    assert!(
        stdout(&third).contains("processed 0 messages"),
        "{}",
        stdout(&third)
    );
    assert_eq!(check_streams(&mut client, "in", "out", 1300), (1300, 1300));
    assert!(pending(&mut client, "in").is_empty());
}

#[test]
fn an_output_stream_that_is_not_this_pipelines_is_refused_and_nothing_is_acknowledged() {
    let Some(redis) = RedisServer::start(
        "an_output_stream_that_is_not_this_pipelines_is_refused_and_nothing_is_acknowledged",
    ) else {
        return;
    };
    let state = tempfile::tempdir().unwrap();
    produce(&redis, "in", 10);
    let mut client = redis.client();
    let _: String = redis::cmd("XADD")
        .arg("out")
        .arg("0-1")
        .arg("source-id")
        .arg("1-1")
        .query(&mut client)
        .unwrap();
    let refused = run(state.path(), &redis, "in", "out", &[]);
    assert_eq!(refused.status.code(), Some(3), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("is not source entry"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(entries(&mut client, "out").len(), 1, "nothing was appended");
    assert_eq!(durable_offset(state.path()), 0);
    assert_eq!(
        pending(&mut client, "in").len(),
        10,
        "delivered, none acknowledged"
    );
}

#[test]
fn redis_flags_are_checked_and_a_password_is_never_echoed() {
    let state = tempfile::tempdir().unwrap();
    for (args, code, says) in [
        (
            vec!["run", "--source", "redis://127.0.0.1:1/in"],
            2,
            "needs a Redis --sink",
        ),
        (
            vec!["run", "--sink", "redis://127.0.0.1:1/out"],
            2,
            "for a Redis --source",
        ),
        (
            vec![
                "run",
                "--source",
                "redis://u:hunter2@127.0.0.1:1/in",
                "--sink",
                "redis://127.0.0.1:1/o",
            ],
            2,
            "REDIS_PASSWORD",
        ),
        (
            vec![
                "run",
                "--source",
                "redis://127.0.0.1:1/in?group=g",
                "--sink",
                "redis://127.0.0.1:1/o",
            ],
            5,
            "connecting",
        ),
    ] {
        let output = host_example_command()
            .arg("--state-dir")
            .arg(state.path())
            .args(&args)
            .output()
            .unwrap();
        let text = format!("{}{}", stdout(&output), stderr(&output));
        assert_eq!(output.status.code(), Some(code), "{args:?}: {text}");
        assert!(text.contains(says), "{args:?}: {text}");
        assert!(!text.contains("hunter2"), "{args:?}: {text}");
    }
}

#[test]
fn an_output_stream_with_a_hole_or_foreign_ids_is_refused() {
    let Some(redis) = RedisServer::start("an_output_stream_with_a_hole_or_foreign_ids_is_refused")
    else {
        return;
    };
    let ids = produce(&redis, "in", 10);
    let mut client = redis.client();
    for (position, id) in [(1, &ids[0]), (3, &ids[2])] {
        let _: String = redis::cmd("XADD")
            .arg("holed")
            .arg(format!("0-{position}"))
            .arg("source-id")
            .arg(id)
            .query(&mut client)
            .unwrap();
    }
    let _: String = redis::cmd("XADD")
        .arg("foreign")
        .arg("*")
        .arg("k")
        .arg("v")
        .query(&mut client)
        .unwrap();
    for (output, says) in [
        ("holed", "but not 0-2"),
        ("foreign", "which is no position"),
    ] {
        let state = tempfile::tempdir().unwrap();
        let refused = run(state.path(), &redis, "in", output, &[]);
        assert_eq!(
            refused.status.code(),
            Some(3),
            "{output}: {}",
            stderr(&refused)
        );
        assert!(
            stderr(&refused).contains(says),
            "{output}: {}",
            stderr(&refused)
        );
        assert_eq!(durable_offset(state.path()), 0);
    }
    assert_eq!(
        entries(&mut client, "holed").len(),
        2,
        "nothing was appended"
    );
}
