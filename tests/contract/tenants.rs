//! Many tenants in one process: isolation at scale, tenant handles, and the
//! compiled-component cache that makes a host's later starts cheap.

use std::collections::HashSet;
use std::sync::Arc;

use pipeline_checkpoint_host::backends::Backend;
use pipeline_checkpoint_host::backends::logs::Logs;
use pipeline_checkpoint_host::cache::Origin;
use pipeline_checkpoint_host::storage::{Expected, Stored};
use pipeline_checkpoint_host::{
    BoxFuture, COMPONENT, DynStorage, FileConsumer, Host, HostConfig, Limits, PoolConfig, Storage,
    StorageError, StorageLocation, StorageResult, TenantError, Tenants,
};

use tokio::sync::Barrier;

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

/// How many tenants run as tasks at once, and the checkpoints each writes.
const TASK_TENANTS: usize = 2_000;
const TASK_ROUNDS: u64 = 3;

/// 2,000 tenants, each a task on a runtime of two worker threads, driven through
/// `Tenants`: every one of them is suspended inside its first checkpoint at the same
/// moment (its put waits at a barrier that all 2,000 must reach before any goes on,
/// which calls holding a thread could never do on two threads), and each ends with
/// exactly its own offset and an ack log of exactly its own ids, in the order it wrote
/// them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_tenants_as_tasks_on_two_threads_each_keep_their_own_offset_and_acks() {
    let host = Host::new(HostConfig {
        pool: Some(PoolConfig {
            instances: TASK_TENANTS as u32 + 10,
            ..PoolConfig::default()
        }),
        ..HostConfig::default()
    })
    .unwrap();
    // In memory: what this proves is the executor's, and its 18,000 syncs would cost
    // half a minute on a disk without proving more.
    let tmp = pipeline_checkpoint_test_support::in_memory_tempdir();
    let records = StorageLocation::new(MeetingPlace {
        files: StorageLocation::files(tmp.path()),
        barrier: Arc::new(Barrier::new(TASK_TENANTS)),
    });
    let tenants = Tenants::new(host.load(COMPONENT).unwrap(), tmp.path()).with_records(records);
    let tasks: Vec<_> = (0..TASK_TENANTS)
        .map(|i| {
            let tenants = tenants.clone();
            tokio::spawn(async move {
                let mut tenant = tenants.open(&format!("tenant-{i:04}")).await.unwrap();
                for round in 1..=TASK_ROUNDS {
                    let mut ids = vec![format!("t{i}-r{round}-a"), format!("t{i}-r{round}-b")];
                    tenant
                        .write_checkpoint_batch(&mut ids, round * 2)
                        .await
                        .unwrap_or_else(|e| panic!("tenant {i} round {round}: {e}"));
                }
                let offset = tenant.get_checkpoint().await.unwrap();
                (offset, tenant.dir().join("acks.log"))
            })
        })
        .collect();
    for (i, task) in tasks.into_iter().enumerate() {
        let (offset, log) = task.await.unwrap();
        assert_eq!(offset, TASK_ROUNDS * 2, "tenant {i}");
        let acked = FileConsumer::read_log(&log).unwrap().concat();
        let expected: Vec<String> = (1..=TASK_ROUNDS)
            .flat_map(|r| [format!("t{i}-r{r}-a"), format!("t{i}-r{r}-b")])
            .collect();
        assert_eq!(acked, expected, "tenant {i}");
    }
    let dirs = std::fs::read_dir(tmp.path()).unwrap().count();
    assert_eq!(dirs, TASK_TENANTS);
}

/// Records in files, as `Tenants` keeps them by default, whose storages each wait at
/// `barrier` once, in their first put, after the record is written.
#[derive(Debug)]
struct MeetingPlace {
    files: StorageLocation,
    barrier: Arc<Barrier>,
}

impl std::fmt::Display for MeetingPlace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (meeting at a barrier)", self.files)
    }
}

impl Backend for MeetingPlace {
    fn open(&self) -> BoxFuture<'_, Result<Box<dyn DynStorage>, StorageError>> {
        Box::pin(async move {
            let storage = Meeting {
                inner: self.files.open().await?,
                barrier: Some(self.barrier.clone()),
            };
            Ok(Box::new(storage) as Box<dyn DynStorage>)
        })
    }

    fn open_read_only(&self) -> BoxFuture<'_, Result<Box<dyn DynStorage>, StorageError>> {
        self.open()
    }

    fn for_tenant(&self, id: &str) -> Arc<dyn Backend> {
        Arc::new(MeetingPlace {
            files: self.files.for_tenant(id),
            barrier: self.barrier.clone(),
        })
    }

    fn describe(&self, key: &str) -> String {
        self.files.describe(key)
    }

    fn logs(&self) -> Option<Arc<dyn Logs>> {
        None
    }
}

/// A storage whose first put, once written, waits at the barrier.
struct Meeting {
    inner: Box<dyn DynStorage>,
    barrier: Option<Arc<Barrier>>,
}

impl Storage for Meeting {
    async fn get(&mut self, key: &str) -> StorageResult<Option<Stored>> {
        self.inner.get(key).await
    }

    async fn put(&mut self, key: &str, value: &str, expected: Expected) -> StorageResult<u64> {
        let version = self.inner.put(key, value, expected).await?;
        if let Some(barrier) = self.barrier.take() {
            barrier.wait().await;
        }
        Ok(version)
    }
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
