//! `RedisStreamConsumer` against a real redis-server: the component's acks become
//! `XACK`s that empty the group's pending list, only after the checkpoint is durable;
//! an unreachable server is `ack-failed(unavailable)` with the offset durable, and the
//! retry of the same write acknowledges; what Redis refuses is `rejected`.

use pipeline_checkpoint_host::backends::redis::redis;
use pipeline_checkpoint_host::{
    AckError, CheckpointError, Consumer, Fault, MemoryStorage, RedisStreamConsumer,
};
use pipeline_checkpoint_test_support::redis::RedisServer;

use crate::support::runtime;

const GROUP: &str = "g";

/// `count` entries in `stream`, delivered to a consumer of the group and so pending.
fn delivered(client: &mut redis::Connection, stream: &str, count: usize) -> Vec<String> {
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(stream)
        .arg(GROUP)
        .arg("0")
        .arg("MKSTREAM")
        .query(client)
        .unwrap();
    let ids: Vec<String> = (0..count)
        .map(|n| {
            redis::cmd("XADD")
                .arg(stream)
                .arg("*")
                .arg("n")
                .arg(n)
                .query(client)
                .unwrap()
        })
        .collect();
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg(GROUP)
        .arg("reader")
        .arg("STREAMS")
        .arg(stream)
        .arg(">")
        .query(client)
        .unwrap();
    ids
}

fn pending_count(client: &mut redis::Connection, stream: &str) -> u64 {
    let summary: (u64, redis::Value, redis::Value, redis::Value) = redis::cmd("XPENDING")
        .arg(stream)
        .arg(GROUP)
        .query(client)
        .unwrap();
    summary.0
}

#[test]
fn acks_are_xacks_after_the_checkpoint_and_a_retry_after_an_outage_acknowledges() {
    let Some(mut server) = RedisServer::start(
        "acks_are_xacks_after_the_checkpoint_and_a_retry_after_an_outage_acknowledges",
    ) else {
        return;
    };
    let mut client = server.client();
    let ids = delivered(&mut client, "s", 10);
    let url = format!("{}&group={GROUP}", server.url("s"))
        .parse()
        .unwrap();
    let mut manager = runtime()
        .open(
            None,
            MemoryStorage::new(),
            RedisStreamConsumer::open(&url).unwrap(),
        )
        .unwrap();
    manager.write_checkpoint(&ids[..4], 4).unwrap();
    assert_eq!(pending_count(&mut client, "s"), 6);
    // XACK is idempotent: the same batch again acknowledges nothing more, no error.
    manager.write_checkpoint(&ids[..4], 4).unwrap();

    server.stop();
    let failed = manager.write_checkpoint(&ids[4..], 10).unwrap_err();
    assert!(
        matches!(
            failed.checkpoint(),
            Some(CheckpointError::AckFailed(AckError::Unavailable(_)))
        ),
        "{failed}"
    );
    assert_eq!(
        manager.get_checkpoint().unwrap(),
        10,
        "the offset is durable"
    );
    server.restart();
    manager.write_checkpoint(&ids[4..], 10).unwrap();
    let mut client = server.client();
    assert_eq!(pending_count(&mut client, "s"), 0);
}

#[test]
fn what_redis_refuses_is_rejected_with_its_words() {
    let Some(server) = RedisServer::start("what_redis_refuses_is_rejected_with_its_words") else {
        return;
    };
    let mut client = server.client();
    let _: () = redis::cmd("SET")
        .arg("text")
        .arg("x")
        .query(&mut client)
        .unwrap();
    delivered(&mut client, "s", 1);
    for (stream, id, says) in [
        ("text", "1-1", "WRONGTYPE"),
        ("s", "not-an-id", "Invalid stream ID"),
    ] {
        let url = format!("{}&group={GROUP}", server.url(stream))
            .parse()
            .unwrap();
        let mut consumer = RedisStreamConsumer::open(&url).unwrap();
        match consumer.ack(&[id.to_owned()]) {
            Err(Fault::Error(AckError::Rejected(why))) => {
                assert!(why.contains("XACK") && why.contains(says), "{why}")
            }
            other => panic!("{stream} {id}: {other:?}"),
        }
    }
}
