//! `RedisStreamConsumer` against a real redis-server: the component's acks become
//! `XACK`s that empty the group's pending list, only after the checkpoint is durable;
//! an unreachable server is `ack-failed(unavailable)` with the offset durable, and the
//! retry of the same write acknowledges; what Redis refuses is `rejected`.

use std::net::TcpListener;
use std::time::Duration;

use pipeline_checkpoint_host::backends::redis::{RedisStreamUrl, redis};
use pipeline_checkpoint_host::{
    AckError, CheckpointError, Consumer, Fault, MemoryStorage, RedisStreamConsumer,
};
use pipeline_checkpoint_test_support::redis::RedisServer;

use crate::support::runtime;

const GROUP: &str = "g";

type Client = redis::aio::MultiplexedConnection;

/// `count` entries in `stream`, delivered to a consumer of the group and so pending.
async fn delivered(client: &mut Client, stream: &str, count: usize) -> Vec<String> {
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(stream)
        .arg(GROUP)
        .arg("0")
        .arg("MKSTREAM")
        .query_async(client)
        .await
        .unwrap();
    let mut ids: Vec<String> = Vec::new();
    for n in 0..count {
        let id = redis::cmd("XADD")
            .arg(stream)
            .arg("*")
            .arg("n")
            .arg(n)
            .query_async(client)
            .await
            .unwrap();
        ids.push(id);
    }
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg(GROUP)
        .arg("reader")
        .arg("STREAMS")
        .arg(stream)
        .arg(">")
        .query_async(client)
        .await
        .unwrap();
    ids
}

async fn pending_count(client: &mut Client, stream: &str) -> u64 {
    let summary: (u64, redis::Value, redis::Value, redis::Value) = redis::cmd("XPENDING")
        .arg(stream)
        .arg(GROUP)
        .query_async(client)
        .await
        .unwrap();
    summary.0
}

/// The component's acks are XACKs sent once the checkpoint is durable, and empty the
/// group's pending list; XACK again acknowledges nothing more and is no error; with the
/// server down the ack is `unavailable` and the offset durable, and the same write once
/// the server is back acknowledges.
#[tokio::test]
async fn acks_are_xacks_after_the_checkpoint_and_a_retry_after_an_outage_acknowledges() {
    let Some(mut server) = RedisServer::start(
        "acks_are_xacks_after_the_checkpoint_and_a_retry_after_an_outage_acknowledges",
    ) else {
        return;
    };
    let mut client = server.connection().await;
    let ids = delivered(&mut client, "s", 10).await;
    let url = format!("{}&group={GROUP}", server.url("s"))
        .parse()
        .unwrap();
    let mut manager = runtime()
        .open(
            None,
            MemoryStorage::new(),
            RedisStreamConsumer::open(&url).await.unwrap(),
        )
        .await
        .unwrap();
    manager.write_checkpoint(&ids[..4], 4).await.unwrap();
    assert_eq!(pending_count(&mut client, "s").await, 6);
    // XACK is idempotent: the same batch again acknowledges nothing more, no error.
    manager.write_checkpoint(&ids[..4], 4).await.unwrap();

    server.stop();
    let failed = manager.write_checkpoint(&ids[4..], 10).await.unwrap_err();
    assert!(
        matches!(
            failed.checkpoint(),
            Some(CheckpointError::AckFailed(AckError::Unavailable(_)))
        ),
        "{failed}"
    );
    assert_eq!(
        manager.get_checkpoint().await.unwrap(),
        10,
        "the offset is durable"
    );
    server.restart();
    manager.write_checkpoint(&ids[4..], 10).await.unwrap();
    let mut client = server.connection().await;
    assert_eq!(pending_count(&mut client, "s").await, 0);
}

/// What Redis refuses (XACK on a key that is not a stream, an id that is not a stream
/// id) is `rejected`, with Redis's words and the call's name.
#[tokio::test]
async fn what_redis_refuses_is_rejected_with_its_words() {
    let Some(server) = RedisServer::start("what_redis_refuses_is_rejected_with_its_words") else {
        return;
    };
    let mut client = server.connection().await;
    let _: () = redis::cmd("SET")
        .arg("text")
        .arg("x")
        .query_async(&mut client)
        .await
        .unwrap();
    delivered(&mut client, "s", 1).await;
    for (stream, id, says) in [
        ("text", "1-1", "WRONGTYPE"),
        ("s", "not-an-id", "Invalid stream ID"),
    ] {
        let url = format!("{}&group={GROUP}", server.url(stream))
            .parse()
            .unwrap();
        let mut consumer = RedisStreamConsumer::open(&url).await.unwrap();
        match consumer.ack(&[id.to_owned()]).await {
            Err(Fault::Error(AckError::Rejected(why))) => {
                assert!(why.contains("XACK") && why.contains(says), "{why}")
            }
            other => panic!("{stream} {id}: {other:?}"),
        }
    }
}

/// A server that stops answering (frozen with SIGSTOP) makes an ack `unavailable`
/// within the URL's timeout instead of hanging; once it answers again, the same ack
/// goes through.
#[tokio::test]
async fn a_frozen_server_makes_an_ack_unavailable_in_time_and_the_retry_acknowledges() {
    let Some(server) = RedisServer::start(
        "a_frozen_server_makes_an_ack_unavailable_in_time_and_the_retry_acknowledges",
    ) else {
        return;
    };
    let mut client = server.connection().await;
    let ids = delivered(&mut client, "s", 2).await;
    let url = format!("{}&group={GROUP}", server.url("s"))
        .replace("timeout_ms=2000", "timeout_ms=300")
        .parse()
        .unwrap();
    let mut consumer = RedisStreamConsumer::open(&url).await.unwrap();
    let pid = i32::try_from(server.pid().unwrap()).unwrap();
    // SAFETY: kill(2) on the server this test started; its drop kills it even stopped.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    // A hang detector far above the timeout, not a speed check.
    let got = tokio::time::timeout(Duration::from_secs(30), consumer.ack(&ids))
        .await
        .expect("an ack to a frozen server returns");
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGCONT) }, 0);
    assert!(
        matches!(&got, Err(Fault::Error(AckError::Unavailable(_)))),
        "{got:?}"
    );
    consumer.ack(&ids).await.unwrap();
    assert_eq!(pending_count(&mut client, "s").await, 0);
}

/// A port nothing listens on, and a listener that never answers, are `unavailable`
/// when a connection opens, within the URL's timeout.
#[tokio::test]
async fn unreachable_or_silent_redis_is_unavailable() {
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap();
    for address in [closed, silent_addr] {
        let url: RedisStreamUrl = format!("redis://{address}/s?timeout_ms=300")
            .parse()
            .unwrap();
        let opened = tokio::time::timeout(Duration::from_secs(30), RedisStreamConsumer::open(&url))
            .await
            .expect("connecting returns");
        match opened {
            Err(e) => assert!(e.is_unavailable(), "{address}: {e}"),
            Ok(_) => panic!("{address}: connected"),
        }
    }
    drop(silent);
}
