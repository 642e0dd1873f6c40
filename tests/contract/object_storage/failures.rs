//! How `ObjectStorage` fails, on each cloud's emulator: retries of a 5xx, each failure
//! as its storage-error case, and credentials never shown.

use std::net::TcpListener;

use pipeline_checkpoint_host::backends::object_storage::Cloud;
use pipeline_checkpoint_host::storage::Expected;
use pipeline_checkpoint_host::{Fault, ObjectStorage, Storage, StorageError};
use pipeline_checkpoint_test_support::http_fronts::{canned_server, flaky_proxy};
use pipeline_checkpoint_test_support::object_stores::ObjectServer;

use super::OBJECT;
use crate::support::{KEY, assert_a_write_over_it_is_corrupt_record};

/// A store that answers a write with 503 once is asked again (object_store's retry
/// with backoff) and the write lands, once; with retries=0 the 503 is `unavailable`
/// and nothing is written.
pub(super) async fn a_5xx_answer_is_retried_and_the_write_lands_once(cloud: ObjectServer) {
    cloud.create_bucket("retry-bucket");
    let flaky = flaky_proxy(cloud.port(), 1);
    let mut storage = cloud
        .open_read_only(&cloud.url_at(flaky, "retry-bucket", "r"))
        .unwrap();
    let version = storage
        .put(KEY, "through a 503", Expected::Absent)
        .await
        .unwrap();
    let stored = storage.get(KEY).await.unwrap().unwrap();
    assert_eq!(
        (stored.value.as_str(), stored.version),
        ("through a 503", version)
    );

    let flaky = flaky_proxy(cloud.port(), 1);
    let url = format!("{}&retries=0", cloud.url_at(flaky, "retry-bucket", "none"));
    let mut storage = cloud.open_read_only(&url).unwrap();
    let put = storage.put(KEY, "never", Expected::Absent).await;
    assert!(
        matches!(&put, Err(Fault::Error(StorageError::Unavailable(_)))),
        "{put:?}"
    );
    assert_eq!(
        cloud.object("retry-bucket", &format!("none/{OBJECT}")),
        None
    );
}

/// Each failure of the store is its storage-error case, with the cloud's answer; none
/// of the texts, nor the storage's Debug, carries a secret of the credentials.
pub(super) async fn failures_map_to_storage_error_cases_and_never_show_credentials(
    cloud: ObjectServer,
) {
    let mut texts = Vec::new();
    let read_only = |port: u16| {
        cloud
            .open_read_only(&cloud.url_at(port, "any-bucket", "p"))
            .unwrap()
    };
    // A 409 answers a conditional PUT when another one of the key is in flight: the put
    // is a conflict (a replacement is retried first); to a GET it means nothing known.
    for (status, code, cases) in [
        (403, "AccessDenied", ["access-denied"; 2]),
        (401, "Unauthorized", ["access-denied"; 2]),
        (503, "SlowDown", ["unavailable"; 2]),
        (500, "InternalError", ["unavailable"; 2]),
        (429, "TooManyRequests", ["unavailable"; 2]),
        (409, "ConditionalRequestConflict", ["io", "conflict"]),
        (400, "InvalidRequest", ["io"; 2]),
    ] {
        let body = format!("<Error><Code>{code}</Code><Message>canned</Message></Error>");
        let mut storage = read_only(canned_server(status, Box::leak(body.into_boxed_str())));
        check_cases(&mut storage, cases, code, &mut texts).await;
    }
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    check_cases(
        &mut read_only(closed),
        ["unavailable"; 2],
        "a closed port",
        &mut texts,
    )
    .await;
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let quick = format!(
        "{}&timeout_ms=500&retries=1",
        cloud
            .url_at(port, "any-bucket", "p")
            .replace("&timeout_ms=2000", "")
    );
    let mut quick = cloud.open_read_only(&quick).unwrap();
    check_cases(
        &mut quick,
        ["unavailable"; 2],
        "a silent server",
        &mut texts,
    )
    .await;
    check_cases(
        &mut read_only(cloud.port()),
        ["io"; 2],
        "a missing bucket",
        &mut texts,
    )
    .await;
    // A replacement in a missing bucket is no conflict: the bucket is gone.
    let missing_bucket = match cloud.cloud() {
        Cloud::Azure => "ContainerNotFound",
        _ => "NoSuchBucket",
    };
    let put = read_only(cloud.port())
        .put(KEY, "v", Expected::Version(7))
        .await;
    assert!(
        matches!(&put, Err(Fault::Error(StorageError::Io(why))) if why.to_string().contains(missing_bucket)),
        "{put:?}"
    );
    let missing = cloud
        .open(&cloud.url_at(cloud.port(), "no-such-bucket", "p"))
        .await
        .unwrap_err();
    assert!(missing.to_string().contains(missing_bucket), "{missing}");
    texts.push(format!("{missing} {missing:?}"));

    cloud.create_bucket("data-bucket");
    cloud.put_object(
        "data-bucket",
        &format!("bytes/{OBJECT}"),
        b"{\"offset\": \xff}",
    );
    cloud.put_object(
        "data-bucket",
        &format!("huge/{OBJECT}"),
        &vec![b'7'; 2 << 20],
    );
    for prefix in ["bytes", "huge"] {
        let mut storage = cloud.open(&cloud.url("data-bucket", prefix)).await.unwrap();
        let got = storage.get(KEY).await;
        assert!(
            matches!(&got, Err(Fault::Error(StorageError::InvalidData(_)))),
            "{prefix}: {got:?}"
        );
        assert_a_write_over_it_is_corrupt_record(storage, prefix).await;
    }
    let bytes = cloud
        .object("data-bucket", &format!("bytes/{OBJECT}"))
        .unwrap();
    assert_eq!(bytes, b"{\"offset\": \xff}");
    texts.push(format!("{:?}", cloud.storage("data-bucket", "debug").await));
    for text in &texts {
        for secret in cloud.secrets() {
            assert!(!text.contains(secret), "a credential shows in: {text}");
        }
    }
    drop(silent);
}

/// A get and a put on `storage` fail with `cases`; their texts go to `texts`.
async fn check_cases(
    storage: &mut ObjectStorage,
    cases: [&str; 2],
    what: &str,
    texts: &mut Vec<String>,
) {
    let got = storage.get(KEY).await.map(drop);
    let put = storage.put(KEY, "v", Expected::Absent).await.map(drop);
    for (result, case) in [got, put].into_iter().zip(cases) {
        match result {
            Err(Fault::Error(e)) => {
                assert_eq!(e.case(), case, "{what}: {e}");
                texts.push(format!("{e} {e:?}"));
            }
            other => panic!("{what}: {other:?}"),
        }
    }
}
