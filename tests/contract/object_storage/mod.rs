//! `ObjectStorage` against each cloud's emulator (moto for S3, fake-gcs-server behind
//! our front for GCS, Azurite for Azure): the conditional write, a race of writers, the
//! component's ordering and fencing on top of it, the probe, retries and the error
//! mapping (`failures.rs`), and the record as the cloud's own Python client reads it.
//! Each property is one test body, run on every cloud (`object_storage::s3::…`,
//! `::gcs::…`, `::azure::…`).

use std::sync::Arc;

use pipeline_checkpoint_host::backends::object_storage::{Cloud, Probe};
use pipeline_checkpoint_host::storage::Expected;
use pipeline_checkpoint_host::{DynStorage, Fault, Storage, StorageError, StorageExt};
use pipeline_checkpoint_test_support::object_stores::ObjectServer;

use crate::store_properties::{
    assert_a_manager_is_fenced_once_a_new_manager_takes_over,
    assert_acks_happen_only_once_the_new_offset_is_stored,
};
use crate::support::{KEY, Recorder, ids, offset_in, python, runtime};

/// Runs each named body on each cloud, as `s3::NAME`, `gcs::NAME` and `azure::NAME`.
macro_rules! on_each_cloud {
    ($($name:ident),* $(,)?) => {
        on_each_cloud!(@cloud s3, S3, $($name),*);
        on_each_cloud!(@cloud gcs, Gcs, $($name),*);
        on_each_cloud!(@cloud azure, Azure, $($name),*);
    };
    (@cloud $module:ident, $cloud:ident, $($name:ident),*) => {
        mod $module {
            $(
                /// See the body of the same name, run on this module's cloud.
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let test = concat!(stringify!($module), "::", stringify!($name));
                    if let Some(server) = super::ObjectServer::start(super::Cloud::$cloud, test) {
                        super::$name(server).await;
                    }
                }
            )*
        }
    };
}

on_each_cloud!(
    put_is_a_compare_and_swap_on_the_clouds_version,
    racing_writers_with_one_expected_version_have_at_most_one_winner_per_round,
    acks_happen_only_once_the_new_offset_is_in_the_bucket,
    a_manager_is_fenced_once_a_new_manager_takes_over_its_record,
    the_probe_refuses_a_store_that_ignores_conditional_writes,
    a_5xx_answer_is_retried_and_the_write_lands_once,
    failures_map_to_storage_error_cases_and_never_show_credentials,
    records_are_the_seeds_json_both_ways_with_the_clouds_python_client,
);

mod failures;
use failures::{
    a_5xx_answer_is_retried_and_the_write_lands_once,
    failures_map_to_storage_error_cases_and_never_show_credentials,
};

const OBJECT: &str = "pipeline/checkpoint.json";

fn is_conflict<T: std::fmt::Debug>(result: &Result<T, Fault<StorageError>>) -> bool {
    matches!(result, Err(Fault::Error(StorageError::Conflict(_))))
}

/// A put creates only where nothing is, and replaces only the version it names (the
/// ETag, or GCS's generation); another client that never read it learns the current
/// one and is held to the same rule; an object deleted behind its back cannot be
/// replaced "over" it.
async fn put_is_a_compare_and_swap_on_the_clouds_version(cloud: ObjectServer) {
    let mut storage = cloud.storage("cas-bucket", "p").await;
    let object = format!("p/{OBJECT}");
    assert_eq!(storage.get(KEY).await.unwrap(), None);
    let first = storage.put(KEY, "one", Expected::Absent).await.unwrap();
    let stored = storage.get(KEY).await.unwrap().unwrap();
    assert_eq!((stored.value.as_str(), stored.version), ("one", first));
    assert_eq!(cloud.object("cas-bucket", &object).unwrap(), b"one");

    let second = storage
        .put(KEY, "two", Expected::Version(first))
        .await
        .unwrap();
    assert_ne!(second, first);
    for stale in [Expected::Absent, Expected::Version(first)] {
        let refused = storage.put(KEY, "stale", stale).await;
        assert!(is_conflict(&refused), "{stale:?}: {refused:?}");
    }
    let mut other = cloud.storage("cas-bucket", "p").await;
    let stale = other.put(KEY, "stale", Expected::Version(first)).await;
    assert!(is_conflict(&stale), "{stale:?}");
    let third = other
        .put(KEY, "three", Expected::Version(second))
        .await
        .unwrap();
    assert!(is_conflict(
        &storage.put(KEY, "late", Expected::Version(second)).await
    ));
    assert_eq!(cloud.object("cas-bucket", &object).unwrap(), b"three");
    cloud.delete_object("cas-bucket", &object);
    let over_nothing = other
        .put(KEY, "over nothing", Expected::Version(third))
        .await;
    assert!(is_conflict(&over_nothing), "{over_nothing:?}");
    assert_eq!(cloud.object("cas-bucket", &object), None);
}

/// N writers holding the same version race to replace it, round after round: each
/// round at most one put succeeds, and the bucket then holds the winner's value.
///
/// A put that ends `unavailable` may or may not have written: a round with one has no
/// winner or one, and its value is the winner's, else one of the unavailable writers'
/// or the round's starting value.
async fn racing_writers_with_one_expected_version_have_at_most_one_winner_per_round(
    cloud: ObjectServer,
) {
    const WRITERS: usize = 6;
    const ROUNDS: usize = 25;
    let url = cloud.url("race-bucket", "race");
    let mut writers = Vec::new();
    for _ in 0..WRITERS {
        writers.push(cloud.open(&url).await.unwrap());
    }
    writers[0]
        .put(KEY, "round 0", Expected::Absent)
        .await
        .unwrap();
    let mut rounds_won = 0;
    for round in 1..=ROUNDS {
        let before = cloud
            .open_read_only(&url)
            .unwrap()
            .get(KEY)
            .await
            .unwrap()
            .unwrap();
        let barrier = Arc::new(tokio::sync::Barrier::new(WRITERS));
        let tasks: Vec<_> = writers
            .drain(..)
            .enumerate()
            .map(|(writer, mut storage)| {
                let barrier = barrier.clone();
                tokio::spawn(async move {
                    let value = format!("round {round} writer {writer}");
                    barrier.wait().await;
                    let outcome = match storage
                        .put(KEY, &value, Expected::Version(before.version))
                        .await
                    {
                        Ok(_) => "won",
                        Err(Fault::Error(StorageError::Conflict(_))) => "conflict",
                        Err(Fault::Error(StorageError::Unavailable(_))) => "unavailable",
                        Err(e) => panic!("round {round} writer {writer}: {e:?}"),
                    };
                    (storage, value, outcome)
                })
            })
            .collect();
        let mut outcomes = Vec::new();
        for task in tasks {
            let (storage, value, outcome) = task.await.unwrap();
            writers.push(storage);
            outcomes.push((value, outcome));
        }
        let of = |what: &str| -> Vec<&String> {
            outcomes
                .iter()
                .filter(|(_, o)| *o == what)
                .map(|(v, _)| v)
                .collect()
        };
        let (winners, unavailable) = (of("won"), of("unavailable"));
        assert!(winners.len() <= 1, "round {round}: winners {winners:?}");
        let stored = cloud
            .object("race-bucket", &format!("race/{OBJECT}"))
            .unwrap();
        let stored = String::from_utf8(stored).unwrap();
        if let Some(winner) = winners.first() {
            assert_eq!(&stored, *winner, "round {round}");
            rounds_won += 1;
        } else {
            assert!(
                stored == before.value || unavailable.contains(&&stored),
                "round {round}: no winner, yet the bucket holds {stored:?}"
            );
        }
    }
    println!("{rounds_won} of {ROUNDS} rounds had a winner");
    assert!(rounds_won > 0, "no round had a winner");
}

/// When the component acks a batch, the bucket already holds its new offset.
async fn acks_happen_only_once_the_new_offset_is_in_the_bucket(cloud: ObjectServer) {
    let cloud = Arc::new(cloud);
    let storage: Box<dyn DynStorage> = Box::new(cloud.storage("order-bucket", "order").await);
    let reader = cloud.clone();
    assert_acks_happen_only_once_the_new_offset_is_stored(storage, move || {
        let bytes = reader.object("order-bucket", &format!("order/{OBJECT}"));
        Box::pin(async move { offset_in(bytes.map(|b| String::from_utf8(b).unwrap())) })
    })
    .await;
}

/// A manager whose record was taken over by a new manager is fenced: its write changes
/// nothing and acks nothing.
async fn a_manager_is_fenced_once_a_new_manager_takes_over_its_record(cloud: ObjectServer) {
    assert_a_manager_is_fenced_once_a_new_manager_takes_over(
        async || Box::new(cloud.storage("fence-bucket", "f").await) as Box<dyn DynStorage>,
        async || {
            let record = cloud.object("fence-bucket", &format!("f/{OBJECT}"));
            record.map(|bytes| String::from_utf8(bytes).unwrap())
        },
    )
    .await;
}

/// Behind a proxy that drops every write's condition a stale write would land: the
/// probe sees it, and opening is refused with the reason unless the URL accepts
/// unfenced writes. Straight to the emulator the probe finds the store fenced.
async fn the_probe_refuses_a_store_that_ignores_conditional_writes(cloud: ObjectServer) {
    let direct = cloud.open(&cloud.url("probe-bucket", "p")).await.unwrap();
    assert_eq!(direct.probe().await.unwrap(), Probe::Fenced);

    let proxy = cloud.condition_stripping_proxy();
    let refused = cloud
        .open(&cloud.url_at(proxy, "probe-bucket", "p"))
        .await
        .unwrap_err();
    let why = refused.to_string();
    assert!(
        why.contains("ignores conditional writes") && why.contains("accept_unfenced_writes=true"),
        "{why}"
    );
    let accepted = format!(
        "{}&accept_unfenced_writes=true",
        cloud.url_at(proxy, "probe-bucket", "p")
    );
    let mut unfenced = cloud.open(&accepted).await.unwrap();
    assert_eq!(unfenced.probe().await.unwrap(), Probe::IgnoresConditions);
    // What the probe protects against: through the proxy a stale write overwrites.
    let mut fenced = cloud.open(&cloud.url("probe-bucket", "p")).await.unwrap();
    let first = fenced.put(KEY, "first", Expected::Absent).await.unwrap();
    fenced
        .put(KEY, "successor", Expected::Version(first))
        .await
        .unwrap();
    assert!(is_conflict(
        &fenced.put(KEY, "stale", Expected::Version(first)).await
    ));
    unfenced.get(KEY).await.unwrap();
    unfenced.put(KEY, "stale", Expected::Absent).await.unwrap();
    assert_eq!(
        cloud
            .object("probe-bucket", &format!("p/{OBJECT}"))
            .unwrap(),
        b"stale"
    );
}

/// The record in the bucket is the seed's JSON, which the cloud's own Python client
/// (boto3, google-cloud-storage, azure-storage-blob) reads; a record Python wrote, with
/// a field this build does not know, is resumed from.
async fn records_are_the_seeds_json_both_ways_with_the_clouds_python_client(cloud: ObjectServer) {
    let (client, module) = cloud.python_client();
    let importable = std::process::Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|out| out.status.success());
    if !importable {
        let requirement = match cloud.cloud() {
            Cloud::S3 => "s3",
            Cloud::Gcs => "gcs",
            _ => "azure",
        };
        let line = format!("records ({requirement}): SKIPPED: python3 cannot import {module}");
        pipeline_checkpoint_test_support::skip(
            &line,
            requirement,
            "pip install the cloud's client",
        );
        return;
    }
    let storage = cloud.storage("py-bucket", "py").await;
    let mut manager = runtime()
        .open(None, storage, Recorder::new())
        .await
        .unwrap();
    manager
        .write_checkpoint(&ids(&["a", "b"]), 42)
        .await
        .unwrap();
    let run = |action: &str| {
        let script = format!(
            "import json, sys\n{client}\nkey = 'py/{OBJECT}'\n\
             if '{action}' == 'read':\n    \
                 record = json.loads(read('py-bucket', key))\n    \
                 print(sorted(record), record['offset'], type(record['written_at']).__name__)\n\
             else:\n    \
                 body = json.dumps({{'offset': 77, 'written_at': 1700000000.5, 'writer': 'python'}})\n    \
                 write('py-bucket', key, body.encode())\n    \
                 print('written')\n"
        );
        python(&script, "")
    };
    assert_eq!(run("read").trim(), "['offset', 'written_at'] 42 float");
    assert_eq!(run("write").trim(), "written");
    let storage = cloud.storage("py-bucket", "py").await;
    let mut resumed = runtime()
        .open(None, storage, Recorder::new())
        .await
        .unwrap();
    assert_eq!(resumed.get_checkpoint().await.unwrap(), 77);
    resumed.write_checkpoint(&ids(&["c"]), 78).await.unwrap();
    assert_eq!(run("read").trim(), "['offset', 'written_at'] 78 float");
    let mut storage = cloud.storage("py-bucket", "py").await;
    assert_eq!(offset_in(storage.value(KEY).await.unwrap()), 78);
}
