//! How a test lines up one group commit of many tenants' puts: the tenants, each a
//! manager whose puts count themselves as they leave for the committer, and the plug
//! that holds the committer in a commit of its own while their puts queue.

use std::sync::Arc;
use std::task::Poll;

use pipeline_checkpoint_host::backends::Backend;
use pipeline_checkpoint_host::backends::sqlite::SqliteLocation;
use pipeline_checkpoint_host::storage::{Expected, Stored};
use pipeline_checkpoint_host::{
    BoxFuture, COMPONENT, DynStorage, Error, Host, HostConfig, Manager, PoolConfig, Runtime,
    Storage, StorageResult,
};
use pipeline_checkpoint_test_support::power_cut::{Hold, PowerCutMount};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::TENANTS;
use crate::support::Recorder;

/// A storage whose puts count themselves in `queued` once they are on their way to
/// the committer (after the first poll of the put, which sends its request).
pub(super) struct Counted {
    inner: Box<dyn DynStorage>,
    queued: Arc<watch::Sender<usize>>,
}

impl Storage for Counted {
    async fn get(&mut self, key: &str) -> StorageResult<Option<Stored>> {
        self.inner.get(key).await
    }

    async fn put(&mut self, key: &str, value: &str, expected: Expected) -> StorageResult<u64> {
        let mut put = self.inner.put_boxed(key, value, expected);
        let mut sent = false;
        std::future::poll_fn(|cx| {
            let poll = put.as_mut().poll(cx);
            if !std::mem::replace(&mut sent, true) {
                self.queued.send_modify(|n| *n += 1);
            }
            poll
        })
        .await
    }
}

/// The tenants of one database: each a manager over a handle of its own (whose puts
/// are counted in the returned receiver) and the consumer in `acks` at its index.
pub(super) async fn open_tenants(
    runtime: &Runtime,
    location: &SqliteLocation,
    acks: &[Recorder],
) -> (Vec<Manager>, watch::Receiver<usize>) {
    let queued = Arc::new(watch::Sender::new(0));
    let mut managers = Vec::new();
    for (t, consumer) in acks.iter().enumerate() {
        let storage = Counted {
            inner: location.for_tenant(&id(t)).open().await.unwrap(),
            queued: queued.clone(),
        };
        managers.push(runtime.open(None, storage, consumer.clone()).await.unwrap());
    }
    (managers, queued.subscribe())
}

/// Every tenant writes batch `batch` (its one message, at offset `batch`), each in a
/// task of its own, all at once.
pub(super) fn write_batch(
    managers: Vec<Manager>,
    batch: u64,
) -> Vec<JoinHandle<(Manager, Result<(), Error>)>> {
    managers
        .into_iter()
        .enumerate()
        .map(|(t, mut manager)| {
            tokio::spawn(async move {
                let result = manager.write_checkpoint(&[message(t, batch)], batch).await;
                (manager, result)
            })
        })
        .collect()
}

/// The managers back from [`write_batch`]'s tasks, and each tenant's result.
pub(super) async fn returned(
    tasks: Vec<JoinHandle<(Manager, Result<(), Error>)>>,
) -> (Vec<Manager>, Vec<Result<(), Error>>) {
    let mut returned = (Vec::new(), Vec::new());
    for task in tasks {
        let (manager, result) = task.await.unwrap();
        returned.0.push(manager);
        returned.1.push(result);
    }
    returned
}

/// Writes every tenant's first batch, which must succeed.
pub(super) async fn first_batch(managers: Vec<Manager>) -> Vec<Manager> {
    let (managers, results) = returned(write_batch(managers, 1)).await;
    for (t, result) in results.into_iter().enumerate() {
        result.unwrap_or_else(|e| panic!("{}: the first batch: {e}", id(t)));
    }
    managers
}

pub(super) fn id(tenant: usize) -> String {
    format!("tenant-{tenant:03}")
}

/// Tenant `tenant`'s one message of batch `batch`.
pub(super) fn message(tenant: usize, batch: u64) -> String {
    format!("{}-batch-{batch}", id(tenant))
}

/// The batch a message belongs to, which is the offset written with it.
pub(super) fn batch_of(message: &str) -> u64 {
    message.rsplit('-').next().unwrap().parse().unwrap()
}

/// A runtime of two worker threads for the tenants' tasks, and a component on a host
/// with room for all their instances.
pub(super) fn runtimes() -> (tokio::runtime::Runtime, Runtime) {
    let executor = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let host = Host::new(HostConfig {
        pool: Some(PoolConfig {
            instances: TENANTS as u32 + 8,
            ..PoolConfig::default()
        }),
        ..HostConfig::default()
    })
    .unwrap();
    (executor, host.load(COMPONENT).unwrap())
}

/// Polls `future` once.
pub(super) async fn poll_once<T>(future: &mut BoxFuture<'_, T>) -> Poll<T> {
    std::future::poll_fn(|cx| Poll::Ready(future.as_mut().poll(cx))).await
}

/// Holds every mutating operation and sends a lone put, the plug, whose commit stops
/// at its first write: the committer is then inside the plug's group, which holds the
/// plug alone, and whatever is sent next queues for the group after it.
pub(super) async fn plug_the_committer<'a>(
    fs: &PowerCutMount,
    plug: &'a mut Box<dyn DynStorage>,
) -> BoxFuture<'a, StorageResult<u64>> {
    let mut arrivals = fs.arrivals();
    let before = *arrivals.borrow_and_update();
    fs.hold(Hold::Everything);
    let mut put = plug.put_boxed("plug", "the plug", Expected::Absent);
    assert!(
        poll_once(&mut put).await.is_pending(),
        "the plug went through"
    );
    arrivals.wait_for(|&n| n > before).await.unwrap();
    put
}

/// Lets the plug's commit finish, one operation at a time, until the plug has its
/// answer: the committer has then moved on to the next group, and is held at its first
/// mutating operation (if it has one). Returns the plug's answer.
pub(super) async fn unplug_up_to_the_next_group(
    fs: &PowerCutMount,
    mut plug: BoxFuture<'_, StorageResult<u64>>,
) -> StorageResult<u64> {
    let mut arrivals = fs.arrivals();
    loop {
        if let Poll::Ready(answer) = poll_once(&mut plug).await {
            return answer;
        }
        let seen = *arrivals.borrow_and_update();
        fs.let_one_through();
        tokio::select! {
            answer = &mut plug => return answer,
            arrived = arrivals.wait_for(|&n| n > seen) => {
                arrived.unwrap();
            }
        }
    }
}

/// Every tenant's first batch is durable; then all their second puts queue behind the
/// plug, and the committer, once the plug is committed, is held at the first write of
/// their one group. Returns the second batch's tasks.
pub(super) async fn line_up_a_group(
    fs: &PowerCutMount,
    location: &SqliteLocation,
    managers: Vec<Manager>,
    queued: &mut watch::Receiver<usize>,
) -> Vec<JoinHandle<(Manager, Result<(), Error>)>> {
    let mut plug = location.for_tenant("plug").open().await.unwrap();
    let plugged = plug_the_committer(fs, &mut plug).await;
    let second = write_batch(managers, 2);
    // Both batches' puts are counted: every one of the second is on its way.
    queued.wait_for(|&n| n == 2 * TENANTS).await.unwrap();
    unplug_up_to_the_next_group(fs, plugged)
        .await
        .expect("the plug is committed");
    second
}
