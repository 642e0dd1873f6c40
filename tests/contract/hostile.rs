//! Hostile plugins, contained: each misbehaving component of `tests/hostile-guest/`
//! runs as a tenant beside well-behaved tenants in the same engine. Each is stopped or
//! refused within its limit, with the typed error that names the limit, three times
//! over (its instance is discarded and restarted every time), while a neighbour keeps
//! checkpointing in a task of its own and ends with exactly its own offset and acks.
//! The plugin and the neighbour are tasks on a runtime of two worker threads. (How a
//! spinning plugin shares its thread with healthy tenants is `fairness.rs`.)

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use pipeline_checkpoint_host::{
    COMPONENT, CheckpointError, Error, FileConsumer, Host, HostConfig, LimitExceeded, Limits,
    PoolConfig, StorageError, Tenants,
};
use pipeline_checkpoint_test_support::foreach_hostile;
use pipeline_checkpoint_test_support::hostile::{self, *};

/// Every misbehaving component the build made has a test here, in a module of its
/// name: a component added without one fails to compile.
macro_rules! assert_test_exists {
    ($module:ident, $component:ident) => {
        #[expect(unused_imports, reason = "only its existence is checked")]
        use $module as _;
        const _: &str = $component;
    };
}
foreach_hostile!(assert_test_exists);

/// The well-behaved tenants' deadline: short, so that the spinning plugin's three
/// attempts take well under a second each.
const DEADLINE: Duration = Duration::from_millis(200);

/// The default limits with the short deadline.
fn short_deadline() -> Limits {
    Limits {
        deadline: DEADLINE,
        ..Limits::default()
    }
}

mod spin {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn is_stopped_at_its_deadline_while_a_neighbour_keeps_checkpointing() {
        contained(
            SPIN_COMPONENT,
            short_deadline(),
            |result| matches!(result, Err(Error::Limit(LimitExceeded::Deadline(d))) if *d == DEADLINE),
        )
        .await;
    }
}

mod memory_bomb {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn is_stopped_at_the_memory_limit() {
        contained(
            MEMORY_BOMB_COMPONENT,
            short_deadline(),
            |result| matches!(result, Err(Error::Limit(LimitExceeded::Memory { limit, .. })) if *limit == 16 << 20),
        )
        .await;
    }
}

mod escape {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn asking_for_paths_outside_its_root_is_refused_and_reaches_nothing() {
        contained(ESCAPE_COMPONENT, short_deadline(), |result| {
            matches!(
                result,
                Err(Error::Checkpoint(CheckpointError::WriteFailed(
                    StorageError::InvalidKey(_)
                )))
            )
        })
        .await;
        assert!(!Path::new("/tmp/escaped.json").exists());
    }
}

mod ack_flood {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn acking_a_million_ids_is_stopped_at_the_ids_per_ack_limit() {
        // Enough memory and time to build the million ids: the ack limit, not memory or
        // the deadline, must stop it.
        let roomy = Limits {
            memory_bytes: 128 << 20,
            deadline: Duration::from_secs(30),
            ..Limits::default()
        };
        contained(ACK_FLOOD_COMPONENT, roomy, |result| {
            matches!(
                result,
                Err(Error::Limit(LimitExceeded::IdsPerAck {
                    count: 1_000_000,
                    limit: 100_000
                }))
            )
        })
        .await;
    }
}

mod huge_id {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn acking_a_100_mib_id_is_stopped_at_the_id_length_limit() {
        // Filling 100 MiB takes a while on a busy machine: time enough that the id
        // limit, not the deadline, is what stops it (as for the million ids above).
        let roomy = Limits {
            memory_bytes: 200 << 20,
            deadline: Duration::from_secs(30),
            ..Limits::default()
        };
        contained(HUGE_ID_COMPONENT, roomy, |result| {
            matches!(
                result,
                Err(Error::Limit(LimitExceeded::IdBytes { len, limit: 4096 })) if *len == 100 << 20
            )
        })
        .await;
    }
}

mod trap {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn trapping_on_every_call_is_restarted_each_time_and_contained() {
        contained(TRAP_COMPONENT, short_deadline(), |result| {
            matches!(result, Err(Error::Trap(_)))
        })
        .await;
    }
}

/// Not a misbehaviour: a call that computes hard, but for less than its deadline, on a
/// thread that waits for a core many deadlines long (a machine with many more
/// runnable threads than cores). The deadline counts the component's CPU time, so
/// the call ends, successfully. The calls are made without an asynchronous runtime of
/// the test's own: each is driven on the thread being measured or starved
/// (`pipeline_checkpoint_test_support::block_on`), so that its CPU time is that thread's.
#[cfg(target_os = "linux")]
mod busy {
    use super::*;
    use pipeline_checkpoint_test_support::block_on;

    /// Short enough that the starved call takes many deadlines of wall-clock time,
    /// long enough for the thirty million turns the component computes.
    const BUSY_DEADLINE: Duration = Duration::from_millis(200);

    #[test]
    fn a_call_starved_of_cpu_is_charged_only_for_the_time_it_computes() {
        let limits = Limits {
            deadline: BUSY_DEADLINE,
            ..Limits::default()
        };
        let host = Host::new(HostConfig {
            limits,
            pool: None,
            cache_dir: None,
        })
        .unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let plugin = hostile::component(BUSY_COMPONENT);
        let plugins = Tenants::new(host.load_with_limits(&plugin, limits).unwrap(), tmp.path());
        let mut busy = block_on(plugins.open("busy")).unwrap();
        // What one call costs in CPU time, on this thread.
        let before = thread_cpu_time();
        block_on(busy.write_checkpoint(&["alone".to_owned()], 1)).unwrap();
        let alone = thread_cpu_time() - before;

        // A scheduler may still hand the idle thread a slice now and then: up to five
        // attempts, each of which must succeed, until one is starved.
        let cpu = first_allowed_cpu();
        let starved = (1..=5).find_map(|attempt| {
            let (result, took) =
                starved_call(cpu, || block_on(busy.write_checkpoint(&[], attempt)));
            println!(
                "attempt {attempt}: the busy call computes for {alone:?}; starved, it took \
                 {took:?}; its deadline {BUSY_DEADLINE:?}"
            );
            result.expect("a call that computed for less than its deadline goes on");
            (took > 2 * BUSY_DEADLINE).then_some(took)
        });
        assert!(
            alone < BUSY_DEADLINE / 2,
            "the call computes too long for this test's deadline ({alone:?})"
        );
        assert!(
            starved.is_some(),
            "no attempt was starved, so this run proves nothing"
        );
    }

    /// Runs `call` on a thread at idle priority that shares `cpu` with a thread that
    /// never stops computing: its result and how long it took.
    fn starved_call<R: Send>(cpu: usize, call: impl FnOnce() -> R + Send) -> (R, Duration) {
        let (spinning, done) = (AtomicBool::new(false), AtomicBool::new(false));
        thread::scope(|s| {
            // A thread of normal priority, always runnable, on the one core the call
            // may use: the call's thread, at idle priority, runs only in its gaps.
            s.spawn(|| {
                pin_to(cpu);
                spinning.store(true, Ordering::Release);
                while !done.load(Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            });
            let starved = s.spawn(|| {
                pin_to(cpu);
                at_idle_priority();
                while !spinning.load(Ordering::Acquire) {
                    thread::yield_now();
                }
                let started = Instant::now();
                let result = call();
                (result, started.elapsed())
            });
            let outcome = starved.join().unwrap();
            done.store(true, Ordering::Relaxed);
            outcome
        })
    }

    fn thread_cpu_time() -> Duration {
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `now` is a valid timespec for the call to write.
        let read = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
        assert_eq!(read, 0, "{}", std::io::Error::last_os_error());
        Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
    }

    fn first_allowed_cpu() -> usize {
        // SAFETY: `set` is a valid cpu_set_t for the call to fill; pid 0 is this thread.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            let got = libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set);
            assert_eq!(got, 0, "{}", std::io::Error::last_os_error());
            (0..libc::CPU_SETSIZE as usize)
                .find(|&cpu| libc::CPU_ISSET(cpu, &set))
                .expect("the process may run somewhere")
        }
    }

    /// Keeps the calling thread on `cpu`.
    fn pin_to(cpu: usize) {
        // SAFETY: `set` is a valid cpu_set_t; pid 0 is the calling thread.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            let pinned = libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set);
            assert_eq!(pinned, 0, "cpu {cpu}: {}", std::io::Error::last_os_error());
        }
    }

    /// The lowest priority there is: the calling thread runs only when nothing else on
    /// its core can.
    fn at_idle_priority() {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: `param` is a valid sched_param; pid 0 is the calling thread.
        let set = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
        assert_eq!(set, 0, "SCHED_IDLE: {}", std::io::Error::last_os_error());
    }
}

#[cfg(not(target_os = "linux"))]
mod busy {}

/// Runs the plugin built with `component` as tenant `evil` (with `limits`) beside
/// tenant `good`, which checkpoints in a task of its own throughout, and tenant
/// `other-tenant`, whose files the plugin must not reach.
async fn contained(
    component: &'static str,
    limits: Limits,
    expected: impl Fn(&Result<(), Error>) -> bool,
) {
    let feature = Path::new(component)
        .file_stem()
        .and_then(|stem| stem.to_str())
        .unwrap_or(component);
    let host = Host::new(HostConfig {
        limits: Limits {
            deadline: DEADLINE,
            ..Limits::default()
        },
        pool: Some(PoolConfig {
            instances: 16,
            memory_bytes: 256 << 20,
            ..PoolConfig::default()
        }),
        cache_dir: None,
    })
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("tenants");
    let tenants = Tenants::new(host.load(COMPONENT).unwrap(), &root);

    let mut victim = tenants.open("other-tenant").await.unwrap();
    victim
        .write_checkpoint(&["v-1".to_owned()], 7)
        .await
        .unwrap();
    drop(victim);
    let victim_files = snapshot(&root.join("other-tenant"));

    let plugin = hostile::component(component);
    let plugins = Tenants::new(host.load_with_limits(&plugin, limits).unwrap(), &root);
    let mut evil = plugins.open("evil").await.unwrap();

    let mut good = tenants.open("good").await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stopping = stop.clone();
    let neighbour = tokio::spawn(async move {
        let mut written = Vec::new();
        while !stopping.load(Ordering::Relaxed) || written.is_empty() {
            let offset = (written.len() as u64 + 1) * 10;
            let mut ids = vec![format!("good-{offset}")];
            good.write_checkpoint_batch(&mut ids, offset).await.unwrap();
            written.push(ids.remove(0));
        }
        (written, good)
    });
    // Stops the neighbour however this test ends: a failed assertion below must fail
    // the test, not leave it waiting for a neighbour that never stops.
    let stop_neighbour = StopOnDrop(stop);
    let started = Instant::now();
    // The plugin's calls, in a task of their own beside the neighbour's.
    let results = tokio::spawn(async move {
        let mut results = Vec::new();
        for attempt in 0..3 {
            let mut ids = vec![format!("evil-{attempt}")];
            results.push(evil.write_checkpoint_batch(&mut ids, 10).await);
        }
        results.push(evil.get_checkpoint().await.map(drop));
        results
    })
    .await
    .unwrap();
    for (call, result) in results.iter().enumerate() {
        let call = match call {
            3 => "get".to_owned(),
            attempt => format!("attempt {attempt}"),
        };
        assert!(expected(result), "{feature}, {call}: {result:?}");
    }
    let stopped_after = started.elapsed();
    drop(stop_neighbour);
    let (written, mut good) = neighbour.await.unwrap();
    println!(
        "{feature}: 4 calls stopped in {stopped_after:?}; the neighbour wrote {} checkpoints meanwhile",
        written.len()
    );

    // The neighbour's state is exactly its own: its last offset, its ids in order.
    let last = written.len() as u64 * 10;
    assert_eq!(good.get_checkpoint().await.unwrap(), last);
    let acked: Vec<String> = FileConsumer::read_log(&root.join("good/acks.log"))
        .unwrap()
        .concat();
    assert_eq!(acked, written);
    // Nothing of anyone else's was touched, and nothing was created outside the tenants'
    // own directories.
    assert_eq!(snapshot(&root.join("other-tenant")), victim_files);
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    dirs.sort();
    assert_eq!(dirs, ["evil", "good", "other-tenant"]);
}

/// Sets its flag when dropped, panicking included.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            for (name, bytes) in snapshot(&path) {
                files.insert(format!("{}/{name}", path.display()), bytes);
            }
        } else {
            files.insert(path.display().to_string(), std::fs::read(&path).unwrap());
        }
    }
    files
}
