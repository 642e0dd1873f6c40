//! The SQLite store on the power-cut file system (`tests/support/src/power_cut/`):
//! tenants' writers put concurrently, so that their puts share commits, until the power
//! is lost at a seeded instant; after each cut every put that returned `Ok` must be
//! there. A commit that the cut interrupted answered every put of its group with an
//! error, so none of them may be missing. With its commits' sync left out (a mutant),
//! the same loop must see acknowledged puts vanish.
#![cfg(target_os = "linux")]

use std::sync::Mutex;

use pipeline_checkpoint_host::backends::Backend;
use pipeline_checkpoint_host::backends::sqlite::SqliteLocation;
use pipeline_checkpoint_host::storage::Expected;
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
    let location = SqliteLocation::new(fs.path().join("db/records.db"));
    let summary = cut_loop(&mut fs, &location, 24, &CutMode::ALL, seed)
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
    let location = SqliteLocation::new(fs.path().join("db/mutant.db")).skipping_sync();
    match cut_loop(&mut fs, &location, 6, &[CutMode::DropAll], 1) {
        Ok(summary) => panic!("the commits' sync was left out, unnoticed: {summary}"),
        Err(fault) => {
            println!("without the commits' sync: {fault}");
            assert!(fault.contains("was acknowledged"), "{fault}");
        }
    }
}

/// Runs `cuts` rounds of writers, power loss and cut, checking every key after each.
fn cut_loop(
    fs: &mut PowerCutMount,
    location: &SqliteLocation,
    cuts: usize,
    modes: &[CutMode],
    seed: u64,
) -> Result<String, String> {
    let mut rng = Rng::new(seed);
    let mut witnesses = vec![Witness::default(); WRITERS];
    let tenants: Vec<_> = (0..WRITERS)
        .map(|w| location.for_tenant(&format!("tenant-{w}")))
        .collect();
    let (mut acknowledged, mut failed_rounds) = (0u64, 0);
    for cut in 0..cuts {
        let mode = modes[cut % modes.len()];
        fs.lose_power_after(rng.between(1, MAX_MUTATIONS));
        let shared = Mutex::new(std::mem::take(&mut witnesses));
        std::thread::scope(|scope| {
            for (writer, tenant) in tenants.iter().enumerate() {
                let shared = &shared;
                scope.spawn(move || {
                    let Ok(mut storage) = tenant.open() else {
                        return;
                    };
                    for put in 0u64.. {
                        let value = format!("{{\"offset\":{put},\"cut\":{cut}}}");
                        let expected = match storage.get(KEY) {
                            Ok(Some(stored)) => Expected::Version(stored.version),
                            Ok(None) => Expected::Absent,
                            Err(_) => return,
                        };
                        let result = storage.put(KEY, &value, expected);
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
                });
            }
        });
        witnesses = shared.into_inner().unwrap();
        // Every handle is dropped: the committer has closed the database.
        fs.cut(mode, &mut rng);
        for (writer, tenant) in tenants.iter().enumerate() {
            let mut storage = tenant
                .open()
                .map_err(|e| format!("seed {seed}, cut {cut} ({mode:?}): reopening: {e}"))?;
            let stored = storage
                .get(KEY)
                .map_err(|e| format!("seed {seed}, cut {cut} ({mode:?}): reading: {e}"))?
                .map(|s| s.value);
            let witness = &mut witnesses[writer];
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
