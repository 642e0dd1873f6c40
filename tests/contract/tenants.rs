//! Many tenants in one process: isolation at scale, tenant handles, and the
//! compiled-component cache that makes a host's later starts cheap.

use std::collections::HashSet;

use pipeline_checkpoint_host::cache::Origin;
use pipeline_checkpoint_host::{
    COMPONENT, FileConsumer, Host, HostConfig, Limits, PoolConfig, TenantError, Tenants,
};

use crate::seeded::{Rng, seed};

const TENANTS: usize = 1_000;
const ROUNDS: u64 = 3;

/// 1,000 tenants open at once in one engine (pooled instances), writing in a seeded
/// interleaving: each ends with exactly its own offset, and its ack log holds exactly
/// its own ids, in the order it wrote them.
#[tokio::test]
async fn a_thousand_interleaved_tenants_each_keep_exactly_their_own_offset_and_acks() {
    let seed = seed();
    let mut rng = Rng::new(seed);
    let host = Host::new(HostConfig {
        pool: Some(PoolConfig {
            instances: TENANTS as u32 + 10,
            ..PoolConfig::default()
        }),
        ..HostConfig::default()
    })
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let tenants = Tenants::new(host.load(COMPONENT).unwrap(), tmp.path());
    let mut open = Vec::with_capacity(TENANTS);
    for i in 0..TENANTS {
        open.push(tenants.open(&format!("tenant-{i:04}")).await.unwrap());
    }

    // Every tenant writes ROUNDS checkpoints; which tenant writes next is drawn at
    // random, so writes of different tenants interleave arbitrarily.
    let mut pending: Vec<usize> = (0..TENANTS)
        .flat_map(|i| std::iter::repeat_n(i, ROUNDS as usize))
        .collect();
    let mut written = vec![0u64; TENANTS];
    while !pending.is_empty() {
        let tenant = pending.swap_remove(rng.below(pending.len()));
        written[tenant] += 1;
        let round = written[tenant];
        let mut ids = vec![
            format!("t{tenant}-r{round}-a"),
            format!("t{tenant}-r{round}-b"),
        ];
        open[tenant]
            .write_checkpoint_batch(&mut ids, round * 2)
            .await
            .unwrap_or_else(|e| panic!("seed {seed}: tenant {tenant} round {round}: {e}"));
    }

    for (i, tenant) in open.iter_mut().enumerate() {
        assert_eq!(
            tenant.get_checkpoint().await.unwrap(),
            ROUNDS * 2,
            "seed {seed}: tenant {i}"
        );
        let acked = FileConsumer::read_log(&tenant.dir().join("acks.log"))
            .unwrap()
            .concat();
        let expected: Vec<String> = (1..=ROUNDS)
            .flat_map(|r| [format!("t{i}-r{r}-a"), format!("t{i}-r{r}-b")])
            .collect();
        assert_eq!(acked, expected, "seed {seed}: tenant {i}");
    }
    let dirs: HashSet<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(dirs.len(), TENANTS);
}

/// A tenant id is validated before anything is created, and one tenant cannot be
/// open twice at once (two writers of one checkpoint); it can be reopened once closed.
#[tokio::test]
async fn tenant_ids_are_validated_and_a_tenant_is_open_once_at_a_time() {
    let tmp = tempfile::tempdir().unwrap();
    let tenants = Tenants::new(crate::support::runtime().clone(), tmp.path());
    for id in ["../escape", "/abs", "Upper", "a/b", ""] {
        assert!(
            matches!(tenants.open(id).await, Err(TenantError::InvalidId { .. })),
            "{id:?}"
        );
    }
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);

    let first = tenants.open("acme").await.unwrap();
    assert!(matches!(
        tenants.clone().open("acme").await,
        Err(TenantError::AlreadyOpen(id)) if id == "acme"
    ));
    drop(first);
    let mut again = tenants.open("acme").await.unwrap();
    again.write_checkpoint(&["m".to_owned()], 1).await.unwrap();
}

/// A pool of N instances admits N live tenants; one more is refused with a typed
/// error, and closing one makes room.
#[tokio::test]
async fn a_full_instance_pool_refuses_the_next_tenant_until_one_closes() {
    let host = Host::new(HostConfig {
        pool: Some(PoolConfig {
            instances: 3,
            ..PoolConfig::default()
        }),
        ..HostConfig::default()
    })
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let tenants = Tenants::new(host.load(COMPONENT).unwrap(), tmp.path());
    let mut open = Vec::new();
    for i in 0..3 {
        open.push(tenants.open(&format!("t{i}")).await.unwrap());
    }
    assert!(matches!(
        tenants.open("t3").await,
        Err(TenantError::Host { .. })
    ));
    open.pop();
    tenants.open("t3").await.unwrap();
}

/// The first start compiles the component and stores it in the cache; a second start
/// (a new engine, as in a new process) loads it from there and works the same. A
/// damaged artifact is never loaded: it is compiled again and replaced.
#[tokio::test]
async fn second_start_loads_the_compiled_component_from_the_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let cache_dir = tmp.path().join("cache");
    let start = || {
        Host::new(HostConfig {
            cache_dir: Some(cache_dir.clone()),
            ..HostConfig::default()
        })
        .unwrap()
        .load(COMPONENT)
        .unwrap()
    };
    let first = start();
    assert_eq!(first.origin(), Origin::Compiled);
    let artifacts: Vec<_> = std::fs::read_dir(&cache_dir).unwrap().collect();
    assert_eq!(artifacts.len(), 1);
    let artifact = artifacts[0].as_ref().unwrap().path();
    assert!(artifact.to_string_lossy().ends_with(".cwasm"));

    let second = start();
    assert_eq!(second.origin(), Origin::Cached);
    let mut tenant = Tenants::new(second, tmp.path().join("state"))
        .open("t")
        .await
        .unwrap();
    tenant.write_checkpoint(&["m".to_owned()], 1).await.unwrap();
    assert_eq!(tenant.get_checkpoint().await.unwrap(), 1);

    // Flip one byte of the compiled code: the checksum no longer matches.
    let mut bytes = std::fs::read(&artifact).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&artifact, &bytes).unwrap();
    assert_eq!(start().origin(), Origin::Compiled);
    assert_eq!(start().origin(), Origin::Cached);

    // Other limits on the same host do not change the artifact; another component does.
    let host = Host::new(HostConfig {
        cache_dir: Some(cache_dir.clone()),
        ..HostConfig::default()
    })
    .unwrap();
    let other_limits = Limits {
        memory_bytes: 1 << 20,
        ..Limits::default()
    };
    assert_eq!(
        host.load_with_limits(COMPONENT, other_limits)
            .unwrap()
            .origin(),
        Origin::Cached
    );
    let plugin = pipeline_checkpoint_test_support::hostile::component(
        pipeline_checkpoint_test_support::hostile::TRAP_COMPONENT,
    );
    assert_eq!(host.load(&plugin).unwrap().origin(), Origin::Compiled);
    assert_eq!(std::fs::read_dir(&cache_dir).unwrap().count(), 2);
}
