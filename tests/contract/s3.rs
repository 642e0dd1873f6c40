//! `S3Storage` against a real S3 API (moto): the conditional write, a race of writers,
//! the component's ordering and fencing on top of it, the probe, the error mapping,
//! and the record as Python reads it. An outage in the middle of a run is a CLI test.

use std::net::TcpListener;
use std::sync::{Arc, Barrier};

use pipeline_checkpoint_host::backends::s3::{Probe, S3Url};
use pipeline_checkpoint_host::storage::Expected;
use pipeline_checkpoint_host::{Fault, S3Storage, Storage, StorageError, StorageExt};

use crate::store_properties::{
    assert_a_manager_is_fenced_once_a_new_manager_takes_over,
    assert_acks_happen_only_once_the_new_offset_is_stored,
};
use crate::support::{
    KEY, Recorder, assert_a_write_over_it_is_corrupt_record, ids, offset_in, python, runtime,
};
use pipeline_checkpoint_test_support::s3::{
    self, S3Server, SECRET_ACCESS_KEY, SESSION_TOKEN, canned_server, condition_stripping_proxy,
    url_at,
};
use pipeline_checkpoint_test_support::s3_or_skip;

fn open(url: &str) -> Result<S3Storage, StorageError> {
    S3Storage::open_with(url.parse::<S3Url>().expect("a valid URL"), &s3::env)
}

fn is_conflict<T: std::fmt::Debug>(result: &Result<T, Fault<StorageError>>) -> bool {
    matches!(result, Err(Fault::Error(StorageError::Conflict(_))))
}

#[test]
fn s3_put_is_a_compare_and_swap_on_the_etag() {
    let s3 = s3_or_skip!("s3_put_is_a_compare_and_swap_on_the_etag");
    let mut storage = s3.storage("cas-bucket", "p");
    assert_eq!(storage.get(KEY).unwrap(), None);
    let first = storage.put(KEY, "one", Expected::Absent).unwrap();
    let stored = storage.get(KEY).unwrap().unwrap();
    assert_eq!((stored.value.as_str(), stored.version), ("one", first));
    assert_eq!(
        s3.object("cas-bucket", "p/pipeline/checkpoint.json")
            .unwrap(),
        b"one"
    );

    let second = storage.put(KEY, "two", Expected::Version(first)).unwrap();
    assert_ne!(second, first);
    for stale in [Expected::Absent, Expected::Version(first)] {
        let refused = storage.put(KEY, "stale", stale);
        assert!(is_conflict(&refused), "{stale:?}: {refused:?}");
    }
    // Another client, which never saw an ETag, learns the current one and is fenced
    // by the same rule.
    let mut other = s3.storage("cas-bucket", "p");
    assert!(is_conflict(&other.put(
        KEY,
        "stale",
        Expected::Version(first)
    )));
    let third = other.put(KEY, "three", Expected::Version(second)).unwrap();
    assert!(is_conflict(&storage.put(
        KEY,
        "late",
        Expected::Version(second)
    )));
    // An object removed behind the storage's back cannot be replaced "over" it.
    s3.delete_object("cas-bucket", "p/pipeline/checkpoint.json");
    assert!(is_conflict(&other.put(
        KEY,
        "over nothing",
        Expected::Version(third)
    )));
    assert_eq!(s3.object("cas-bucket", "p/pipeline/checkpoint.json"), None);
}

/// N writers holding the same version race to replace it, round after round: each
/// round at most one put succeeds, and the bucket then holds the winner's value.
///
/// A 5xx answer is `unavailable` and not retried (it may or may not have written): a
/// round with one has no winner or one, and its value is the winner's, else one of
/// the unavailable writers' or the round's starting value.
#[test]
fn racing_writers_with_one_expected_version_have_at_most_one_winner_per_round() {
    let s3 =
        s3_or_skip!("racing_writers_with_one_expected_version_have_at_most_one_winner_per_round");
    const WRITERS: usize = 6;
    const ROUNDS: usize = 25;
    let url = s3.url("race-bucket", "race");
    // Each writer has its own client, opened before any round so that a slow open
    // cannot leave the others waiting at the barrier.
    let mut writers: Vec<S3Storage> = (0..WRITERS).map(|_| open(&url).unwrap()).collect();
    writers[0].put(KEY, "round 0", Expected::Absent).unwrap();
    let mut rounds_won = 0;
    for round in 1..=ROUNDS {
        let before = open(&url).unwrap().get(KEY).unwrap().unwrap();
        let barrier = Barrier::new(WRITERS);
        let outcomes: Vec<(String, &'static str)> = std::thread::scope(|scope| {
            let handles: Vec<_> = writers
                .iter_mut()
                .enumerate()
                .map(|(writer, storage)| {
                    let barrier = &barrier;
                    scope.spawn(move || {
                        let value = format!("round {round} writer {writer}");
                        barrier.wait();
                        match storage.put(KEY, &value, Expected::Version(before.version)) {
                            Ok(_) => (value, "won"),
                            Err(Fault::Error(StorageError::Conflict(_))) => (value, "conflict"),
                            Err(Fault::Error(StorageError::Unavailable(_))) => {
                                (value, "unavailable")
                            }
                            Err(e) => panic!("round {round} writer {writer}: {e:?}"),
                        }
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let of = |what: &str| -> Vec<&String> {
            outcomes
                .iter()
                .filter(|(_, o)| *o == what)
                .map(|(v, _)| v)
                .collect()
        };
        let (winners, unavailable) = (of("won"), of("unavailable"));
        assert!(winners.len() <= 1, "round {round}: winners {winners:?}");
        let stored = s3
            .object("race-bucket", "race/pipeline/checkpoint.json")
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
#[test]
fn acks_happen_only_once_the_new_offset_is_in_the_bucket() {
    let s3 = Arc::new(s3_or_skip!(
        "acks_happen_only_once_the_new_offset_is_in_the_bucket"
    ));
    let reader = s3.clone();
    assert_acks_happen_only_once_the_new_offset_is_stored(
        Box::new(s3.storage("order-bucket", "order")),
        move || {
            let bytes = reader.object("order-bucket", "order/pipeline/checkpoint.json");
            offset_in(bytes.map(|b| String::from_utf8(b).unwrap()))
        },
    );
}

/// A manager whose record was taken over by a new manager is fenced: its write
/// changes nothing and acks nothing.
#[test]
fn a_manager_is_fenced_once_a_new_manager_takes_over_its_record() {
    let s3 = s3_or_skip!("a_manager_is_fenced_once_a_new_manager_takes_over_its_record");
    assert_a_manager_is_fenced_once_a_new_manager_takes_over(
        || Box::new(s3.storage("fence-bucket", "f")),
        || {
            let record = s3.object("fence-bucket", "f/pipeline/checkpoint.json");
            record.map(|bytes| String::from_utf8(bytes).unwrap())
        },
    );
}

/// Behind a proxy that drops `If-Match` and `If-None-Match` a stale write would land:
/// the probe sees it, and opening is refused with the reason unless the URL accepts
/// unfenced writes. Straight to moto the probe finds the store fenced.
#[test]
fn the_probe_refuses_a_store_that_ignores_conditional_writes() {
    let s3 = s3_or_skip!("the_probe_refuses_a_store_that_ignores_conditional_writes");
    s3.create_bucket("probe-bucket");
    let direct = open(&url_at(s3.port(), "probe-bucket", "p")).unwrap();
    assert_eq!(direct.probe().unwrap(), Probe::Fenced);

    let proxy = condition_stripping_proxy(s3.port());
    let refused = open(&url_at(proxy, "probe-bucket", "p")).unwrap_err();
    let why = refused.to_string();
    assert!(
        why.contains("ignores conditional writes") && why.contains("accept_unfenced_writes=true"),
        "{why}"
    );
    let accepted = format!(
        "{}&accept_unfenced_writes=true",
        url_at(proxy, "probe-bucket", "p")
    );
    let mut unfenced = open(&accepted).unwrap();
    assert_eq!(unfenced.probe().unwrap(), Probe::IgnoresConditions);
    // What the probe protects against: through the proxy a stale write overwrites.
    let mut fenced = open(&url_at(s3.port(), "probe-bucket", "p")).unwrap();
    let first = fenced.put(KEY, "first", Expected::Absent).unwrap();
    fenced
        .put(KEY, "successor", Expected::Version(first))
        .unwrap();
    assert!(is_conflict(&fenced.put(
        KEY,
        "stale",
        Expected::Version(first)
    )));
    unfenced.get(KEY).unwrap();
    unfenced.put(KEY, "stale", Expected::Absent).unwrap();
    assert_eq!(
        s3.object("probe-bucket", "p/pipeline/checkpoint.json")
            .unwrap(),
        b"stale"
    );
}

/// Each failure of the store is its storage-error case, with S3's code; none of the
/// texts carries the secret key or the session token.
#[test]
fn s3_failures_map_to_storage_error_cases_and_never_show_credentials() {
    let s3 = s3_or_skip!("s3_failures_map_to_storage_error_cases_and_never_show_credentials");
    let mut texts = Vec::new();
    let mut check_cases = |storage: &mut S3Storage, cases: [&str; 2], what: &str| {
        let got = storage.get(KEY).map(drop);
        let put = storage.put(KEY, "v", Expected::Absent).map(drop);
        for (result, case) in [got, put].into_iter().zip(cases) {
            match result {
                Err(Fault::Error(e)) => {
                    assert_eq!(e.case(), case, "{what}: {e}");
                    texts.push(format!("{e} {e:?}"));
                }
                other => panic!("{what}: {other:?}"),
            }
        }
    };
    let error = |code: &'static str| -> &'static str {
        Box::leak(
            format!("<Error><Code>{code}</Code><Message>canned</Message></Error>").into_boxed_str(),
        )
    };
    let read_only = |port: u16| {
        S3Storage::open_read_only_with(url_at(port, "any-bucket", "p").parse().unwrap(), &s3::env)
            .unwrap()
    };
    // A 409 answers only a conditional PUT (another one in flight): the put is retried,
    // then unavailable; to a GET it means nothing known, so it is io.
    for (status, code, cases) in [
        (403, "AccessDenied", ["access-denied"; 2]),
        (401, "Unauthorized", ["access-denied"; 2]),
        (503, "SlowDown", ["unavailable"; 2]),
        (500, "InternalError", ["unavailable"; 2]),
        (429, "TooManyRequests", ["unavailable"; 2]),
        (409, "ConditionalRequestConflict", ["io", "unavailable"]),
        (400, "InvalidRequest", ["io"; 2]),
    ] {
        let mut storage = read_only(canned_server(status, error(code)));
        check_cases(&mut storage, cases, code);
    }
    let mut check =
        |storage: &mut S3Storage, case: &str, what: &str| check_cases(storage, [case, case], what);
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    check(&mut read_only(closed), "unavailable", "a closed port");
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!(
        "s3://any-bucket/p?endpoint=http://{}&timeout_ms=500",
        silent.local_addr().unwrap()
    );
    let mut quick = S3Storage::open_read_only_with(silent_url.parse().unwrap(), &s3::env).unwrap();
    check(&mut quick, "unavailable", "a silent server");
    check(&mut read_only(s3.port()), "io", "a missing bucket");
    // A replacement in a missing bucket is no conflict: the bucket is gone.
    let mut gone = read_only(s3.port());
    let put = gone.put(KEY, "v", Expected::Version(7));
    assert!(
        matches!(&put, Err(Fault::Error(StorageError::Io(why))) if why.to_string().contains("NoSuchBucket")),
        "{put:?}"
    );
    // Opening a missing bucket fails at the probe, with S3's code.
    let missing = open(&url_at(s3.port(), "no-such-bucket", "p")).unwrap_err();
    assert!(missing.to_string().contains("NoSuchBucket"), "{missing}");
    texts.push(format!("{missing} {missing:?}"));

    s3.create_bucket("data-bucket");
    s3.put_object(
        "data-bucket",
        "bytes/pipeline/checkpoint.json",
        b"{\"offset\": \xff}",
    );
    s3.put_object(
        "data-bucket",
        "huge/pipeline/checkpoint.json",
        &vec![b'7'; 2 << 20],
    );
    for prefix in ["bytes", "huge"] {
        let mut storage = open(&url_at(s3.port(), "data-bucket", prefix)).unwrap();
        let got = storage.get(KEY);
        assert!(
            matches!(&got, Err(Fault::Error(StorageError::InvalidData(_)))),
            "{prefix}: {got:?}"
        );
        assert_a_write_over_it_is_corrupt_record(storage, prefix);
    }
    assert_eq!(
        s3.object("data-bucket", "bytes/pipeline/checkpoint.json")
            .unwrap(),
        b"{\"offset\": \xff}"
    );
    let debug = format!("{:?}", s3.storage("data-bucket", "debug"));
    texts.push(debug);
    for text in &texts {
        assert!(
            !text.contains(SECRET_ACCESS_KEY) && !text.contains(SESSION_TOKEN),
            "a credential shows in: {text}"
        );
    }
    drop(silent);
}

/// The record in the bucket is the seed's JSON, which Python with boto3 reads; a
/// record Python wrote, with a field this build does not know, is resumed from.
#[test]
fn records_in_s3_are_the_seeds_json_both_ways_with_boto3() {
    let s3 = s3_or_skip!("records_in_s3_are_the_seeds_json_both_ways_with_boto3");
    let storage = s3.storage("py-bucket", "py");
    let mut manager = runtime().open(None, storage, Recorder::new()).unwrap();
    manager.write_checkpoint(&ids(&["a", "b"]), 42).unwrap();
    let script = "
import json, sys, boto3
endpoint, action = sys.argv[1], sys.argv[2]
s3 = boto3.client('s3', endpoint_url=endpoint, region_name='us-east-1',
                  aws_access_key_id='k', aws_secret_access_key='s')
key = 'py/pipeline/checkpoint.json'
if action == 'read':
    record = json.loads(s3.get_object(Bucket='py-bucket', Key=key)['Body'].read())
    print(sorted(record), record['offset'], type(record['written_at']).__name__)
else:
    body = json.dumps({'offset': 77, 'written_at': 1700000000.5, 'writer': 'python'})
    s3.put_object(Bucket='py-bucket', Key=key, Body=body.encode())
    print('written')
";
    let run = |action: &str| {
        let full = format!(
            "import sys; sys.argv = ['-', '{}', '{action}']\n{script}",
            s3.endpoint()
        );
        python(&full, "")
    };
    assert_eq!(run("read").trim(), "['offset', 'written_at'] 42 float");
    assert_eq!(run("write").trim(), "written");
    let mut resumed = runtime()
        .open(None, s3.storage("py-bucket", "py"), Recorder::new())
        .unwrap();
    assert_eq!(resumed.get_checkpoint().unwrap(), 77);
    resumed.write_checkpoint(&ids(&["c"]), 78).unwrap();
    assert_eq!(run("read").trim(), "['offset', 'written_at'] 78 float");
    // The storage's own view agrees with the raw bytes.
    let mut storage = s3.storage("py-bucket", "py");
    assert_eq!(offset_in(storage.value(KEY).unwrap()), 78);
}
