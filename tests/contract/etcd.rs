//! `EtcdStorage` against a real etcd: the conditional write, the error mapping, and the
//! component on top of it. An outage in the middle of a run is a CLI test.

use std::net::TcpListener;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use pipeline_checkpoint_host::storage::Expected;
use pipeline_checkpoint_host::{EtcdStorage, Fault, Storage, StorageError, StorageExt};

use crate::etcd_server::EtcdServer;
use crate::support::{KEY, assert_a_write_over_it_is_corrupt_record};
use pipeline_checkpoint_test_support::etcd_or_skip;
use tokio::time::timeout;

/// A put is a compare-and-swap on etcd's `mod_revision`: creating over a value, or
/// replacing a version that was replaced, is a conflict that names what is there, and
/// writes nothing.
#[tokio::test]
async fn etcd_put_if_is_a_compare_and_swap_on_mod_revision() {
    let etcd = etcd_or_skip!("etcd_put_if_is_a_compare_and_swap_on_mod_revision");
    let mut storage = etcd.storage("cas");
    assert_eq!(storage.get(KEY).await.unwrap(), None);

    let first = storage.put(KEY, "one", Expected::Absent).await.unwrap();
    let stored = storage.get(KEY).await.unwrap().unwrap();
    assert_eq!((stored.value.as_str(), stored.version), ("one", first));

    // Expecting absence over a stored value, or a version that was replaced: refused,
    // nothing written.
    let second = storage
        .put(KEY, "two", Expected::Version(first))
        .await
        .unwrap();
    assert!(second > first);
    for stale in [Expected::Absent, Expected::Version(first)] {
        let refused = storage.put(KEY, "stale", stale).await;
        assert!(
            matches!(&refused, Err(Fault::Error(StorageError::Conflict(why))) if why.to_string().contains(&second.to_string())),
            "{stale:?}: {refused:?}"
        );
    }
    assert_eq!(storage.value(KEY).await.unwrap().as_deref(), Some("two"));
}

/// An etcd error answer (here: a request over etcd's size limit) is a storage error
/// that carries etcd's message, and nothing is stored.
#[tokio::test]
async fn etcd_errors_are_storage_errors_with_etcds_message() {
    let etcd = etcd_or_skip!("etcd_errors_are_storage_errors_with_etcds_message");
    let mut storage = etcd.storage("errors");
    let huge = "x".repeat(1_800_000); // over etcd's 1.5 MiB request limit
    let refused = storage.put(KEY, &huge, Expected::Absent).await;
    assert!(
        matches!(&refused, Err(Fault::Error(StorageError::Io(why))) if why.to_string().contains("too large")),
        "{refused:?}"
    );
    assert_eq!(storage.get(KEY).await.unwrap(), None);
}

/// Each storage's keys live under its prefix, where another prefix does not see them,
/// and a key that breaks the naming rules is refused before etcd is asked.
#[tokio::test]
async fn etcd_keys_live_under_their_prefix_and_are_validated() {
    let etcd = etcd_or_skip!("etcd_keys_live_under_their_prefix_and_are_validated");
    let (mut a, mut b) = (etcd.storage("tenant-a"), etcd.storage("tenant-b"));
    a.replace(KEY, "a").await.unwrap();
    assert_eq!(b.get(KEY).await.unwrap(), None);
    assert_eq!(
        raw_get(&etcd, "tenant-a/pipeline/checkpoint.json")
            .await
            .as_deref(),
        Some(&b"a"[..])
    );
    for key in ["", "/abs", "a/../b", "a\nb"] {
        assert!(
            matches!(
                a.get(key).await,
                Err(Fault::Error(StorageError::InvalidKey(_)))
            ),
            "{key:?}"
        );
    }
}

/// A value that is not UTF-8 is `InvalidData`, which the component reports as a
/// corrupt record, and a write over it leaves the bytes as they were.
#[tokio::test]
async fn etcd_value_that_is_not_utf8_is_invalid_data_and_a_corrupt_record() {
    let etcd = etcd_or_skip!("etcd_value_that_is_not_utf8_is_invalid_data_and_a_corrupt_record");
    raw_put(
        &etcd,
        "bytes/pipeline/checkpoint.json",
        b"{\"offset\": \xff}",
    )
    .await;
    let mut storage = etcd.storage("bytes");
    let got = storage.get(KEY).await;
    assert!(
        matches!(&got, Err(Fault::Error(StorageError::InvalidData(why))) if why.to_string().contains("UTF-8")),
        "{got:?}"
    );

    assert_a_write_over_it_is_corrupt_record(storage, "a value that is not UTF-8").await;
    assert_eq!(
        raw_get(&etcd, "bytes/pipeline/checkpoint.json")
            .await
            .unwrap(),
        b"{\"offset\": \xff}"
    );
}

/// A port nothing listens on, and a listener that never answers, are `Unavailable`
/// for reads and writes alike, within the URL's timeout.
#[tokio::test]
async fn unreachable_or_silent_etcd_is_unavailable() {
    // Nothing listens on a port just released; a listener that never accepts lets the
    // connection in and then never answers, so the call times out.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap();
    for url in [
        format!("etcd://{closed}/p?timeout_ms=500"),
        format!("etcd://{silent_addr}/p?timeout_ms=300"),
    ] {
        let mut storage = EtcdStorage::open(url.parse().unwrap()).await.unwrap();
        // A hang detector far above the timeout, not a speed check.
        let limit = Duration::from_secs(30);
        let got = timeout(limit, storage.get(KEY))
            .await
            .expect("the get returns");
        assert!(
            matches!(&got, Err(Fault::Error(StorageError::Unavailable(_)))),
            "{url}: {got:?}"
        );
        let put = timeout(limit, storage.put(KEY, "v", Expected::Absent))
            .await
            .expect("the put returns");
        assert!(
            matches!(&put, Err(Fault::Error(StorageError::Unavailable(_)))),
            "{url}: {put:?}"
        );
    }
    drop(silent);
}

/// A write that reached etcd and was applied, but whose answer was lost (a member that
/// hung up after it), is `Unavailable`, "may or may not have been applied", and is not
/// sent again to the next member, where its compare would fail: never a false
/// conflict. The record is the one written.
#[tokio::test]
async fn a_write_whose_answer_is_lost_is_unavailable_and_not_retried_into_a_conflict() {
    let etcd = etcd_or_skip!(
        "a_write_whose_answer_is_lost_is_unavailable_and_not_retried_into_a_conflict"
    );
    let member = authority(&etcd);
    let proxy = answer_swallowing_proxy(member.parse().unwrap()).await;
    // The proxy first: every call goes to it, and then, if the client moves on, to
    // the member itself.
    let url = format!("etcd://{proxy},{member}/lost?timeout_ms=2000");
    let mut storage = EtcdStorage::open(url.parse().unwrap()).await.unwrap();
    let put = storage.put(KEY, "v", Expected::Absent).await;
    let Err(Fault::Error(StorageError::Unavailable(why))) = &put else {
        panic!("{put:?}")
    };
    assert!(
        why.to_string().contains("may or may not have been applied"),
        "{why}"
    );
    assert_eq!(
        etcd.storage("lost").value(KEY).await.unwrap().as_deref(),
        Some("v")
    );
}

/// A TCP proxy to `target` that passes requests on and, once the answer starts, hangs
/// up on the client without passing it on. Its address.
async fn answer_swallowing_proxy(target: std::net::SocketAddr) -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut server = tokio::net::TcpStream::connect(target).await.unwrap();
                let (mut request, mut answer) = ([0u8; 4096], [0u8; 4096]);
                loop {
                    tokio::select! {
                        read = client.read(&mut request) => match read {
                            Ok(0) | Err(_) => return,
                            Ok(n) => server.write_all(&request[..n]).await.unwrap(),
                        },
                        // The member answered: it has acted on the request.
                        _ = server.read(&mut answer) => return,
                    }
                }
            });
        }
    });
    address
}

/// `etcds://` to a member that speaks plain text is an error that says to use
/// `etcd://`, not a handshake failure blamed on the CA.
#[tokio::test]
async fn etcds_to_a_plain_text_member_says_to_use_etcd() {
    let etcd = etcd_or_skip!("etcds_to_a_plain_text_member_says_to_use_etcd");
    let url = etcd.url("tls").replacen("etcd://", "etcds://", 1);
    let mut storage = EtcdStorage::open(url.parse().unwrap()).await.unwrap();
    let got = storage.get(KEY).await;
    let Err(Fault::Error(error)) = &got else {
        panic!("{got:?}")
    };
    assert!(
        !matches!(error, StorageError::AccessDenied(_))
            && error.to_string().contains("use etcd://"),
        "{error}"
    );
}

async fn raw_put(etcd: &EtcdServer, key: &str, value: &[u8]) {
    let body = serde_json::json!({ "key": BASE64.encode(key), "value": BASE64.encode(value) });
    gateway(etcd, "kv/put", &body).await;
}

/// The raw bytes under an etcd key.
async fn raw_get(etcd: &EtcdServer, key: &str) -> Option<Vec<u8>> {
    let answer = gateway(
        etcd,
        "kv/range",
        &serde_json::json!({ "key": BASE64.encode(key) }),
    )
    .await;
    let value = answer["kvs"][0]["value"].as_str()?;
    Some(BASE64.decode(value).unwrap())
}

/// `HOST:PORT` of the member's client URL.
fn authority(etcd: &EtcdServer) -> String {
    etcd.url("")
        .trim_start_matches("etcd://")
        .split('/')
        .next()
        .unwrap()
        .to_owned()
}

async fn gateway(etcd: &EtcdServer, method: &str, body: &serde_json::Value) -> serde_json::Value {
    let authority = authority(etcd);
    let text = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(format!("http://{authority}/v3/{method}"))
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .text()
        .await
        .unwrap();
    serde_json::from_str(&text).unwrap()
}
