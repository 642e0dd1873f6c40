//! `EtcdStorage` against a real three-member cluster: failover when members die or
//! freeze, fencing across members, TLS with a CA the test makes, and authentication.
//! The leader killed under a running pipeline is a CLI test.

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use pipeline_checkpoint_host::storage::Expected;
use pipeline_checkpoint_host::{EtcdStorage, Fault, Storage, StorageError, StorageExt};
use pipeline_checkpoint_test_support::certs::Certificates;
use pipeline_checkpoint_test_support::etcd_cluster::{ClusterOptions, EtcdCluster};

use crate::support::KEY;

/// A cluster serving TLS with certificates made in `dir`, demanding client
/// certificates if `client_cert_auth`.
fn tls_cluster(
    test: &str,
    dir: &std::path::Path,
    client_cert_auth: bool,
) -> Option<(Certificates, EtcdCluster)> {
    let certs = Certificates::make(test, dir)?;
    let options = ClusterOptions {
        tls: Some(certs.clone()),
        client_cert_auth,
        ..Default::default()
    };
    Some((certs, EtcdCluster::start(test, options)?))
}

/// `url` as user `root`, its password read from `password_file`.
fn as_root(etcd: &EtcdCluster, prefix: &str, password_file: &std::path::Path) -> String {
    let query = format!("timeout_ms=5000&password_file={}", password_file.display());
    etcd.url_in_order(prefix, &[0, 1, 2], &query)
        .replacen("etcd://", "etcd://root@", 1)
}

fn open(url: &str) -> EtcdStorage {
    EtcdStorage::open(url.parse().unwrap()).unwrap()
}

/// Runs `call` on another thread and fails the test if it has not returned within
/// `limit`: a hang detector, far above the URL's timeout, not a speed check.
fn returns_within<T: Send + 'static>(
    limit: Duration,
    call: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (done, result) = mpsc::channel();
    thread::spawn(move || done.send(call()));
    result
        .recv_timeout(limit)
        .unwrap_or_else(|_| panic!("a storage call hung for {limit:?}"))
}

/// A put as the component makes it: a write reported as possibly applied is read
/// back, and is ours if the stored value is; else it is sent again over what is there.
fn put_as_the_contract_says(storage: &mut EtcdStorage, value: &str, version: u64) -> u64 {
    match storage.put(KEY, value, Expected::Version(version)) {
        Ok(version) => version,
        Err(Fault::Error(StorageError::Unavailable(why))) => {
            assert!(
                why.to_string().contains("may or may not have been applied"),
                "{why}"
            );
            let stored = storage.get(KEY).unwrap().unwrap();
            if stored.value == value {
                return stored.version;
            }
            assert_eq!(stored.version, version, "someone else wrote");
            storage.put(KEY, value, Expected::Version(version)).unwrap()
        }
        Err(other) => panic!("{value}: {other:?}"),
    }
}

#[test]
fn cluster_keeps_serving_when_the_leader_and_then_another_member_are_killed() {
    let Some(mut etcd) = EtcdCluster::start(
        "cluster_keeps_serving_when_the_leader_and_then_another_member_are_killed",
        ClusterOptions::default(),
    ) else {
        return;
    };
    let mut storage = etcd.storage("failover");
    let mut version = storage.put(KEY, "0", Expected::Absent).unwrap();
    for round in 1..=3 {
        let leader = etcd.leader();
        etcd.kill(leader);
        // A put sent to a follower of the dead leader may time out unknown: read back.
        version = put_as_the_contract_says(&mut storage, &round.to_string(), version);
        assert_eq!(
            storage.value(KEY).unwrap().as_deref(),
            Some(&*round.to_string())
        );
        etcd.restart(leader);
    }
    // Two of three down: no quorum. A call says so within its timeout, and the
    // record is intact once a member is back.
    let leader = etcd.leader();
    let other = (leader + 1) % 3;
    etcd.kill(leader);
    etcd.kill(other);
    let mut blind = storage.clone();
    let got = returns_within(Duration::from_secs(30), move || {
        blind.put(KEY, "lost", Expected::Version(version))
    });
    assert!(
        matches!(&got, Err(Fault::Error(StorageError::Unavailable(_)))),
        "{got:?}"
    );
    etcd.restart(leader);
    let stored = storage.get(KEY).unwrap().unwrap();
    // The put without quorum may have been proposed, but it cannot have committed.
    assert_eq!((stored.value.as_str(), stored.version), ("3", version));
}

#[test]
fn a_frozen_member_makes_no_call_hang_and_the_others_serve() {
    let Some(etcd) = EtcdCluster::start(
        "a_frozen_member_makes_no_call_hang_and_the_others_serve",
        ClusterOptions::default(),
    ) else {
        return;
    };
    // Freeze the leader, and put it first in the URL: the worst case, since every
    // call tries it first until another member answers.
    let leader = etcd.leader();
    let order = [leader, (leader + 1) % 3, (leader + 2) % 3];
    let url = etcd.url_in_order("frozen", &order, "timeout_ms=5000");
    let mut storage = open(&url);
    let mut version = storage.put(KEY, "0", Expected::Absent).unwrap();
    etcd.signal(leader, true);
    for round in 1..=5 {
        let mut call = storage.clone();
        let (got, next) = returns_within(Duration::from_secs(30), move || {
            let got = put_as_the_contract_says(&mut call, &round.to_string(), version);
            (got, call)
        });
        (version, storage) = (got, next);
    }
    assert!(storage.value(KEY).unwrap().is_some());
    etcd.signal(leader, false);
}

#[test]
fn two_writers_on_different_members_fence_each_other() {
    let Some(etcd) = EtcdCluster::start(
        "two_writers_on_different_members_fence_each_other",
        ClusterOptions::default(),
    ) else {
        return;
    };
    let mut first = open(&etcd.url_in_order("fence", &[0, 1, 2], "timeout_ms=5000"));
    let mut second = open(&etcd.url_in_order("fence", &[2, 1, 0], "timeout_ms=5000"));
    let created = first.put(KEY, "a1", Expected::Absent).unwrap();
    let seen = second.get(KEY).unwrap().unwrap();
    assert_eq!(
        seen.version, created,
        "a write on member 0 is read on member 2 at once"
    );
    let replaced = first.put(KEY, "a2", Expected::Version(created)).unwrap();
    let stale = second.put(KEY, "b", Expected::Version(seen.version));
    assert!(
        matches!(&stale, Err(Fault::Error(StorageError::Conflict(_)))),
        "{stale:?}"
    );
    let absent = second.put(KEY, "b", Expected::Absent);
    assert!(
        matches!(&absent, Err(Fault::Error(StorageError::Conflict(_)))),
        "{absent:?}"
    );
    assert_eq!(second.get(KEY).unwrap().unwrap().version, replaced);
    assert_eq!(second.value(KEY).unwrap().as_deref(), Some("a2"));
}

#[test]
fn tls_cluster_serves_its_ca_and_refuses_a_wrong_ca_and_plain_text() {
    let dir = tempfile::tempdir().unwrap();
    let test = "tls_cluster_serves_its_ca_and_refuses_a_wrong_ca_and_plain_text";
    let Some((certs, etcd)) = tls_cluster(test, dir.path(), false) else {
        return;
    };
    let mut storage = etcd.storage("tls");
    assert!(storage.url().to_string().starts_with("etcds://"));
    let version = storage.put(KEY, "over TLS", Expected::Absent).unwrap();
    assert_eq!(storage.get(KEY).unwrap().unwrap().version, version);

    let wrong_ca = etcd.url_in_order(
        "tls",
        &[0, 1, 2],
        &format!("ca={}", certs.other_ca.display()),
    );
    let got = open(&wrong_ca).get(KEY);
    let Err(Fault::Error(StorageError::AccessDenied(why))) = &got else {
        panic!("{got:?}")
    };
    assert!(
        why.to_string().contains("TLS") && why.to_string().contains("ca="),
        "{why}"
    );

    // The public roots do not know the test's CA either.
    let got = open(&etcd.url_in_order("tls", &[0], "")).get(KEY);
    assert!(
        matches!(&got, Err(Fault::Error(StorageError::AccessDenied(_)))),
        "{got:?}"
    );

    let plain = etcd
        .url_in_order("tls", &[0, 1, 2], "")
        .replacen("etcds://", "etcd://", 1);
    let got = open(&plain).get(KEY);
    let Err(Fault::Error(error)) = &got else {
        panic!("{got:?}")
    };
    assert!(error.to_string().contains("etcds://"), "{error}");
}

#[test]
fn a_cluster_that_demands_client_certificates_takes_ours_and_refuses_none() {
    let dir = tempfile::tempdir().unwrap();
    let test = "a_cluster_that_demands_client_certificates_takes_ours_and_refuses_none";
    let Some((certs, etcd)) = tls_cluster(test, dir.path(), true) else {
        return;
    };
    let mut storage = etcd.storage("mtls");
    assert!(storage.url().to_string().contains("cert="));
    storage
        .put(KEY, "with a client certificate", Expected::Absent)
        .unwrap();

    let without = etcd.url_in_order("mtls", &[0, 1, 2], &format!("ca={}", certs.ca.display()));
    let got = open(&without).get(KEY);
    assert!(
        matches!(&got, Err(Fault::Error(StorageError::AccessDenied(_)))),
        "{got:?}"
    );
}

#[test]
fn a_wrong_password_is_access_denied_and_no_message_shows_a_password() {
    let test = "a_wrong_password_is_access_denied_and_no_message_shows_a_password";
    let Some(etcd) = EtcdCluster::start(test, ClusterOptions::default()) else {
        return;
    };
    let (right, wrong) = ("c0rrect-h0rse", "wr0ng-batt3ry");
    etcd.enable_auth(right);
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, format!("{text}\n")).unwrap();
        path
    };
    let url_with = |path: &std::path::Path| as_root(&etcd, "auth", path);
    let bad = open(&url_with(&file("wrong", wrong)));
    let shown = format!("{bad:?}");
    let got = bad.clone().get(KEY);
    let Err(Fault::Error(StorageError::AccessDenied(why))) = &got else {
        panic!("{got:?}")
    };
    assert!(why.to_string().contains("wrong password"), "{why}");
    let shown = format!("{shown} {got:?} {why} {}", bad.url());
    for secret in [right, wrong] {
        assert!(!shown.contains(secret), "a password shows: {shown}");
    }

    let mut good = open(&url_with(&file("right", right)));
    good.put(KEY, "authenticated", Expected::Absent).unwrap();
    assert!(!format!("{good:?}").contains(right));

    let anonymous = open(&etcd.url("auth")).get(KEY);
    let Err(Fault::Error(StorageError::AccessDenied(why))) = &anonymous else {
        panic!("{anonymous:?}")
    };
    assert!(why.to_string().contains("requires authentication"), "{why}");
}

#[test]
fn an_expired_or_forgotten_auth_token_is_renewed_and_the_call_goes_on() {
    let test = "an_expired_or_forgotten_auth_token_is_renewed_and_the_call_goes_on";
    let options = ClusterOptions {
        auth_token_ttl: Some(1),
        ..Default::default()
    };
    let Some(mut etcd) = EtcdCluster::start(test, options) else {
        return;
    };
    etcd.enable_auth("t0ken-test");
    let dir = tempfile::tempdir().unwrap();
    let password = dir.path().join("password");
    std::fs::write(&password, "t0ken-test").unwrap();
    let url = as_root(&etcd, "token", &password);
    let mut storage = open(&url);
    let mut version = storage.put(KEY, "1", Expected::Absent).unwrap();
    // The token lives one idle second: three seconds later etcd has dropped it.
    thread::sleep(Duration::from_secs(3));
    version = storage.put(KEY, "2", Expected::Version(version)).unwrap();
    // Simple tokens live in members' memory: a restart of every member forgets them.
    etcd.restart_all();
    storage.put(KEY, "3", Expected::Version(version)).unwrap();
    assert_eq!(storage.value(KEY).unwrap().as_deref(), Some("3"));
}
