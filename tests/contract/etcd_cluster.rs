//! `EtcdStorage` against a real three-member cluster: failover when members die or
//! freeze, fencing across members, TLS with a CA the test makes, and authentication.
//! The leader killed under a running pipeline is a CLI test.

use std::future::Future;
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

async fn open(url: &str) -> EtcdStorage {
    EtcdStorage::open(url.parse().unwrap()).await.unwrap()
}

/// Awaits `call` and fails the test if it has not returned within `limit`: a hang
/// detector, far above the URL's timeout, not a speed check.
async fn returns_within<T>(limit: Duration, call: impl Future<Output = T>) -> T {
    tokio::time::timeout(limit, call)
        .await
        .unwrap_or_else(|_| panic!("a storage call hung for {limit:?}"))
}

/// A put as the component makes it: a write reported as possibly applied is read
/// back, and is ours if the stored value is; else it is sent again over what is there.
async fn put_as_the_contract_says(storage: &mut EtcdStorage, value: &str, version: u64) -> u64 {
    match storage.put(KEY, value, Expected::Version(version)).await {
        Ok(version) => version,
        Err(Fault::Error(StorageError::Unavailable(why))) => {
            assert!(
                why.to_string().contains("may or may not have been applied"),
                "{why}"
            );
            let stored = storage.get(KEY).await.unwrap().unwrap();
            if stored.value == value {
                return stored.version;
            }
            assert_eq!(stored.version, version, "someone else wrote");
            storage
                .put(KEY, value, Expected::Version(version))
                .await
                .unwrap()
        }
        Err(other) => panic!("{value}: {other:?}"),
    }
}

/// With the leader killed, three times over, every put lands (or is read back as
/// landed); with two of three members down a put is `Unavailable` within its timeout,
/// and the record is intact once a member is back.
#[tokio::test]
async fn cluster_keeps_serving_when_the_leader_and_then_another_member_are_killed() {
    let Some(mut etcd) = EtcdCluster::start(
        "cluster_keeps_serving_when_the_leader_and_then_another_member_are_killed",
        ClusterOptions::default(),
    ) else {
        return;
    };
    let mut storage = etcd.storage("failover");
    let mut version = storage.put(KEY, "0", Expected::Absent).await.unwrap();
    for round in 1..=3 {
        let leader = etcd.leader();
        etcd.kill(leader);
        // A put sent to a follower of the dead leader may time out unknown: read back.
        version = put_as_the_contract_says(&mut storage, &round.to_string(), version).await;
        assert_eq!(
            storage.value(KEY).await.unwrap().as_deref(),
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
    let got = returns_within(
        Duration::from_secs(30),
        blind.put(KEY, "lost", Expected::Version(version)),
    )
    .await;
    assert!(
        matches!(&got, Err(Fault::Error(StorageError::Unavailable(_)))),
        "{got:?}"
    );
    etcd.restart(leader);
    let stored = storage.get(KEY).await.unwrap().unwrap();
    // The put without quorum may have been proposed, but it cannot have committed.
    assert_eq!((stored.value.as_str(), stored.version), ("3", version));
}

/// A frozen (SIGSTOPped) leader, first in the URL, makes no call hang: each put moves
/// on to the other members within its timeout.
#[tokio::test]
async fn a_frozen_member_makes_no_call_hang_and_the_others_serve() {
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
    let mut storage = open(&url).await;
    let mut version = storage.put(KEY, "0", Expected::Absent).await.unwrap();
    etcd.signal(leader, true);
    for round in 1..=5 {
        version = returns_within(
            Duration::from_secs(30),
            put_as_the_contract_says(&mut storage, &round.to_string(), version),
        )
        .await;
    }
    assert!(storage.value(KEY).await.unwrap().is_some());
    etcd.signal(leader, false);
}

/// Two writers talking to different members fence each other: what one writes the
/// other reads at once, and the other's stale or blind create is a conflict.
#[tokio::test]
async fn two_writers_on_different_members_fence_each_other() {
    let Some(etcd) = EtcdCluster::start(
        "two_writers_on_different_members_fence_each_other",
        ClusterOptions::default(),
    ) else {
        return;
    };
    let mut first = open(&etcd.url_in_order("fence", &[0, 1, 2], "timeout_ms=5000")).await;
    let mut second = open(&etcd.url_in_order("fence", &[2, 1, 0], "timeout_ms=5000")).await;
    let created = first.put(KEY, "a1", Expected::Absent).await.unwrap();
    let seen = second.get(KEY).await.unwrap().unwrap();
    assert_eq!(
        seen.version, created,
        "a write on member 0 is read on member 2 at once"
    );
    let replaced = first
        .put(KEY, "a2", Expected::Version(created))
        .await
        .unwrap();
    let stale = second.put(KEY, "b", Expected::Version(seen.version)).await;
    assert!(
        matches!(&stale, Err(Fault::Error(StorageError::Conflict(_)))),
        "{stale:?}"
    );
    let absent = second.put(KEY, "b", Expected::Absent).await;
    assert!(
        matches!(&absent, Err(Fault::Error(StorageError::Conflict(_)))),
        "{absent:?}"
    );
    assert_eq!(second.get(KEY).await.unwrap().unwrap().version, replaced);
    assert_eq!(second.value(KEY).await.unwrap().as_deref(), Some("a2"));
}

/// A TLS cluster serves a client that trusts its CA, and refuses, as access denied or
/// with a word on the scheme, a wrong CA, the system's roots, and plain text.
#[tokio::test]
async fn tls_cluster_serves_its_ca_and_refuses_a_wrong_ca_and_plain_text() {
    let dir = tempfile::tempdir().unwrap();
    let test = "tls_cluster_serves_its_ca_and_refuses_a_wrong_ca_and_plain_text";
    let Some((certs, etcd)) = tls_cluster(test, dir.path(), false) else {
        return;
    };
    let mut storage = etcd.storage("tls");
    assert!(storage.url().to_string().starts_with("etcds://"));
    let version = storage
        .put(KEY, "over TLS", Expected::Absent)
        .await
        .unwrap();
    assert_eq!(storage.get(KEY).await.unwrap().unwrap().version, version);

    let wrong_ca = etcd.url_in_order(
        "tls",
        &[0, 1, 2],
        &format!("ca={}", certs.other_ca.display()),
    );
    let got = open(&wrong_ca).await.get(KEY).await;
    let Err(Fault::Error(StorageError::AccessDenied(why))) = &got else {
        panic!("{got:?}")
    };
    assert!(
        why.to_string().contains("TLS") && why.to_string().contains("ca="),
        "{why}"
    );

    // The system's roots do not know the test's CA either.
    let got = open(&etcd.url_in_order("tls", &[0], ""))
        .await
        .get(KEY)
        .await;
    assert!(
        matches!(&got, Err(Fault::Error(StorageError::AccessDenied(_)))),
        "{got:?}"
    );

    let plain = etcd
        .url_in_order("tls", &[0, 1, 2], "")
        .replacen("etcds://", "etcd://", 1);
    let got = open(&plain).await.get(KEY).await;
    let Err(Fault::Error(error)) = &got else {
        panic!("{got:?}")
    };
    assert!(error.to_string().contains("etcds://"), "{error}");
}

/// A cluster that demands client certificates takes the one the URL names, and a
/// client without one is access denied.
#[tokio::test]
async fn a_cluster_that_demands_client_certificates_takes_ours_and_refuses_none() {
    let dir = tempfile::tempdir().unwrap();
    let test = "a_cluster_that_demands_client_certificates_takes_ours_and_refuses_none";
    let Some((certs, etcd)) = tls_cluster(test, dir.path(), true) else {
        return;
    };
    let mut storage = etcd.storage("mtls");
    assert!(storage.url().to_string().contains("cert="));
    storage
        .put(KEY, "with a client certificate", Expected::Absent)
        .await
        .unwrap();

    let without = etcd.url_in_order("mtls", &[0, 1, 2], &format!("ca={}", certs.ca.display()));
    let got = open(&without).await.get(KEY).await;
    assert!(
        matches!(&got, Err(Fault::Error(StorageError::AccessDenied(_)))),
        "{got:?}"
    );
}

/// A wrong password is access denied, saying so; the right one writes; a client
/// without a user is told that the cluster requires authentication; and no message,
/// `Debug` or URL shows either password.
#[tokio::test]
async fn a_wrong_password_is_access_denied_and_no_message_shows_a_password() {
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
    let bad = open(&url_with(&file("wrong", wrong))).await;
    let shown = format!("{bad:?}");
    let got = bad.clone().get(KEY).await;
    let Err(Fault::Error(StorageError::AccessDenied(why))) = &got else {
        panic!("{got:?}")
    };
    assert!(why.to_string().contains("wrong password"), "{why}");
    let shown = format!("{shown} {got:?} {why} {}", bad.url());
    for secret in [right, wrong] {
        assert!(!shown.contains(secret), "a password shows: {shown}");
    }

    let mut good = open(&url_with(&file("right", right))).await;
    good.put(KEY, "authenticated", Expected::Absent)
        .await
        .unwrap();
    assert!(!format!("{good:?}").contains(right));

    let anonymous = open(&etcd.url("auth")).await.get(KEY).await;
    let Err(Fault::Error(StorageError::AccessDenied(why))) = &anonymous else {
        panic!("{anonymous:?}")
    };
    assert!(why.to_string().contains("requires authentication"), "{why}");
}

/// An auth token that etcd let expire, or forgot in a restart of every member, is
/// renewed and the call goes on.
#[tokio::test]
async fn an_expired_or_forgotten_auth_token_is_renewed_and_the_call_goes_on() {
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
    let mut storage = open(&url).await;
    let mut version = storage.put(KEY, "1", Expected::Absent).await.unwrap();
    // The token lives one idle second (on etcd's clock, which the test cannot move):
    // three seconds later etcd has dropped it.
    tokio::time::sleep(Duration::from_secs(3)).await;
    version = storage
        .put(KEY, "2", Expected::Version(version))
        .await
        .unwrap();
    // Simple tokens live in members' memory: a restart of every member forgets them.
    etcd.restart_all();
    storage
        .put(KEY, "3", Expected::Version(version))
        .await
        .unwrap();
    assert_eq!(storage.value(KEY).await.unwrap().as_deref(), Some("3"));
}
