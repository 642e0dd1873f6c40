//! Fairness: a tenant whose plugin computes without end holds its thread for one
//! epoch tick at a time, not for its whole deadline. At every tick it yields to the
//! executor, which runs the other tenants' tasks before it resumes; so healthy tenants
//! checkpoint while it spins, and it is stopped at its deadline all the same.
//!
//! Proven by ordering, not by timing: every healthy tenant starts once the spinning
//! call has begun and finishes all its checkpoints before that call returns.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use pipeline_checkpoint_host::{
    COMPONENT, Error, FileConsumer, Host, HostConfig, LimitExceeded, Limits, Tenants,
};
use pipeline_checkpoint_test_support::hostile::{self, SPIN_COMPONENT};
use tokio::sync::watch;

/// How long the spinning plugin may compute: far longer than the healthy tenants need
/// for their checkpoints, even when each of their steps waits for the spinner's next
/// yield.
const SPIN_DEADLINE: Duration = Duration::from_secs(2);
/// The checkpoints each healthy tenant writes while the plugin spins.
const CHECKPOINTS: u64 = 5;

/// On two worker threads, 100 healthy tenants each write all their checkpoints while
/// a spinning tenant's call runs, before it returns; the spinner is stopped at its
/// deadline with the error that names it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_tenants_checkpoint_while_a_spinning_tenant_runs_to_its_deadline() {
    spin_beside_healthy_tenants(100).await;
}

/// On a single worker thread, which the spinning tenant and a healthy one share, the
/// healthy one writes all its checkpoints before the spinning call returns: the
/// spinner yields its thread at every tick.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn on_one_thread_a_spinning_tenant_does_not_stall_a_healthy_one() {
    spin_beside_healthy_tenants(1).await;
}

/// Runs a spinning tenant's call and `healthy` healthy tenants, each a task, and checks
/// the order of their ends, the spinner's error and each healthy tenant's state.
async fn spin_beside_healthy_tenants(healthy: usize) {
    let host = Host::new(HostConfig::default()).unwrap();
    let spin_limits = Limits {
        deadline: SPIN_DEADLINE,
        ..Limits::default()
    };
    let plugin = hostile::component(SPIN_COMPONENT);
    let tmp = pipeline_checkpoint_test_support::in_memory_tempdir();
    let spinners = Tenants::new(
        host.load_with_limits(&plugin, spin_limits).unwrap(),
        tmp.path(),
    );
    let tenants = Tenants::new(host.load(COMPONENT).unwrap(), tmp.path());
    let mut spinner = spinners.open("spin").await.unwrap();
    let (spinning, spin_started) = watch::channel(false);
    let finished = Arc::new(AtomicUsize::new(0));

    let mut workers = Vec::new();
    for t in 0..healthy {
        let mut tenant = tenants.open(&format!("healthy-{t:03}")).await.unwrap();
        let (mut spin_started, finished) = (spin_started.clone(), finished.clone());
        workers.push(tokio::spawn(async move {
            spin_started.wait_for(|&started| started).await.unwrap();
            for n in 1..=CHECKPOINTS {
                let mut ids = vec![format!("h{t}-{n}")];
                tenant
                    .write_checkpoint_batch(&mut ids, n * 10)
                    .await
                    .unwrap();
            }
            finished.fetch_add(1, Ordering::SeqCst);
            tenant
        }));
    }
    let finished_at_return = finished.clone();
    let spin = tokio::spawn(async move {
        spinning.send_replace(true);
        let result = spinner.write_checkpoint(&["spun".to_owned()], 1).await;
        (result, finished_at_return.load(Ordering::SeqCst))
    });

    let (result, finished_before_it_returned) = spin.await.unwrap();
    assert!(
        matches!(&result, Err(Error::Limit(LimitExceeded::Deadline(d))) if *d == SPIN_DEADLINE),
        "{result:?}"
    );
    assert_eq!(
        finished_before_it_returned, healthy,
        "healthy tenants that had written all {CHECKPOINTS} checkpoints when the spinning \
         call returned"
    );
    for (t, worker) in workers.into_iter().enumerate() {
        let mut tenant = worker.await.unwrap();
        assert_eq!(tenant.get_checkpoint().await.unwrap(), CHECKPOINTS * 10);
        let acked = FileConsumer::read_log(&tenant.dir().join("acks.log"))
            .unwrap()
            .concat();
        let expected: Vec<String> = (1..=CHECKPOINTS).map(|n| format!("h{t}-{n}")).collect();
        assert_eq!(acked, expected, "healthy-{t:03}");
    }
}
