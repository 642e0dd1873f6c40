//! The SQLite store on the power-cut file system (`tests/support/src/power_cut/`):
//! tenants' writers put concurrently, so that their puts share commits, until the power
//! is lost at a seeded instant; after each cut every put that returned `Ok` must be
//! there. A commit that the cut interrupted answered every put of its group with an
//! error, so none of them may be missing. With its commits' sync left out (a mutant),
//! the same loop must see acknowledged puts vanish.
//!
//! The writers are tasks on a runtime of two worker threads. Each round's database is
//! opened by a location of its own, and closed, by dropping that location and every
//! handle, before the power comes back: the check after a cut reads the file as the
//! cut left it, never a database still open from before. (A cut in the middle of one
//! group of hundreds of tenants' puts is `sqlite_groups.rs`.)
#![cfg(target_os = "linux")]

use std::path::Path;
use std::sync::{Arc, Mutex};

use pipeline_checkpoint_host::backends::Backend;
use pipeline_checkpoint_host::backends::sqlite::SqliteLocation;
use pipeline_checkpoint_host::storage::Expected;
use pipeline_checkpoint_host::{DynStorage, Storage};
use pipeline_checkpoint_test_support::power_cut::{CutMode, PowerCutMount};
use pipeline_checkpoint_test_support::seeded::{Rng, seed};

const WRITERS: usize = 8;
const KEY: &str = "pipeline/checkpoint.json";
/// The power is lost at one of the first this many mutating operations: a commit costs
/// a few (the log's write and its sync, now and then a checkpoint into the database).
const MAX_MUTATIONS: u64 = 120;

/// What each writer knows of its key: the last value a put returned `Ok` for, and the
/// value of a put that failed after it (which may or may not have landed).
#[derive(Debug, Default, Clone)]
struct Witness {
    acknowledged: Option<String>,
    uncertain: Option<String>,
}

/// Across 24 cuts, 8 of each mode, at seeded instants of 8 concurrent writers, no put
/// that returned `Ok` is lost and no record is torn.
#[test]
fn power_cuts_never_lose_a_put_that_returned() {
    let Some(mut fs) = PowerCutMount::mount_or_skip() else {
        return;
    };
    let seed = seed();
    let path = fs.path().join("db/records.db");
    let summary = cut_loop(&mut fs, &path, false, 24, &CutMode::ALL, seed)
        .unwrap_or_else(|fault| panic!("{fault}"));
    println!("sqlite power cuts: {summary}");
}

/// With `synchronous=OFF`, commits return before anything is synced: a cut that drops
/// what was not synced takes acknowledged puts with it, and the loop sees it.
#[cfg(debug_assertions)]
#[test]
fn without_the_commits_sync_a_cut_loses_acknowledged_puts() {
    let Some(mut fs) = PowerCutMount::mount_or_skip() else {
        return;
    };
    let path = fs.path().join("db/mutant.db");
    match cut_loop(&mut fs, &path, true, 6, &[CutMode::DropAll], 1) {
        Ok(summary) => panic!("the commits' sync was left out, unnoticed: {summary}"),
        Err(fault) => {
            println!("without the commits' sync: {fault}");
            assert!(fault.contains("was acknowledged"), "{fault}");
        }
    }
}

/// A location of its own for the database at `path`: the database it opens is closed
/// once it, its tenants' locations and their handles are all dropped. `skip_sync`
/// makes it the mutant that never syncs a commit.
pub(crate) fn location_of(path: &Path, skip_sync: bool) -> SqliteLocation {
    let location = SqliteLocation::new(path);
    #[cfg(debug_assertions)]
    if skip_sync {
        return location.skipping_sync();
    }
    assert!(!skip_sync, "the mutant exists in debug builds only");
    location
}

/// Runs `cuts` rounds of writers, power loss and cut, checking every key after each.
fn cut_loop(
    fs: &mut PowerCutMount,
    path: &Path,
    skip_sync: bool,
    cuts: usize,
    modes: &[CutMode],
    seed: u64,
) -> Result<String, String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime for the writers");
    let mut rng = Rng::new(seed);
    let mut witnesses = vec![Witness::default(); WRITERS];
    let (mut acknowledged, mut failed_rounds) = (0u64, 0);
    let mut location = location_of(path, skip_sync);
    for cut in 0..cuts {
        let mode = modes[cut % modes.len()];
        fs.lose_power_after(rng.between(1, MAX_MUTATIONS));
        let tenants: Vec<_> = (0..WRITERS)
            .map(|w| location.for_tenant(&format!("tenant-{w}")))
            .collect();
        witnesses = runtime.block_on(write_until_a_put_fails(tenants, witnesses, cut));
        // Every handle is dropped with the writers' tasks; with the location goes the
        // last owner of the database, whose drop closes it.
        drop(location);
        fs.cut(mode, &mut rng);
        // The next round's location: it reads the file as the cut left it.
        location = location_of(path, skip_sync);
        for (writer, witness) in witnesses.iter_mut().enumerate() {
            let tenant = location.for_tenant(&format!("tenant-{writer}"));
            let stored = runtime
                .block_on(read_record(&*tenant))
                .map_err(|e| format!("seed {seed}, cut {cut} ({mode:?}): {e}"))?;
            let fine =
                stored == witness.acknowledged || stored.is_some() && stored == witness.uncertain;
            if !fine {
                return Err(format!(
                    "seed {seed}, cut {cut} ({mode:?}): tenant-{writer} holds {stored:?}, but \
                     {:?} was acknowledged (and {:?} failed after it)",
                    witness.acknowledged, witness.uncertain
                ));
            }
            acknowledged += u64::from(witness.acknowledged.is_some());
            // What is stored is what the next round's writer starts from.
            witness.acknowledged = stored;
            witness.uncertain = None;
        }
        failed_rounds += usize::from(witnesses.iter().all(|w| w.acknowledged.is_none()));
    }
    Ok(format!(
        "{cuts} cuts (seed {seed}), {acknowledged} tenant records checked, {failed_rounds} \
         rounds before any record was durable"
    ))
}

/// Each tenant's writer, a task, puts to its key until a put fails (the power is
/// lost); returns what each learnt.
async fn write_until_a_put_fails(
    tenants: Vec<Arc<dyn Backend>>,
    witnesses: Vec<Witness>,
    cut: usize,
) -> Vec<Witness> {
    let shared = Arc::new(Mutex::new(witnesses));
    let writers: Vec<_> = tenants
        .into_iter()
        .enumerate()
        .map(|(writer, tenant)| {
            let shared = shared.clone();
            tokio::spawn(async move {
                let Ok(mut storage) = tenant.open().await else {
                    return;
                };
                for put in 0u64.. {
                    let value = format!("{{\"offset\":{put},\"cut\":{cut}}}");
                    let expected = match storage.get(KEY).await {
                        Ok(Some(stored)) => Expected::Version(stored.version),
                        Ok(None) => Expected::Absent,
                        Err(_) => return,
                    };
                    let result = storage.put(KEY, &value, expected).await;
                    let mut witnesses = shared.lock().unwrap();
                    let witness = &mut witnesses[writer];
                    if result.is_ok() {
                        witness.acknowledged = Some(value);
                        witness.uncertain = None;
                    } else {
                        witness.uncertain = Some(value);
                        return;
                    }
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("a writer never panics");
    }
    Arc::into_inner(shared)
        .expect("the writers are done")
        .into_inner()
        .unwrap()
}

/// The record under [`KEY`] at `tenant`, read through a handle of its own.
async fn read_record(tenant: &dyn Backend) -> Result<Option<String>, String> {
    let mut storage: Box<dyn DynStorage> =
        tenant.open().await.map_err(|e| format!("reopening: {e}"))?;
    let stored = storage
        .get(KEY)
        .await
        .map_err(|e| format!("reading: {e}"))?;
    Ok(stored.map(|s| s.value))
}
