//! One group commit of the SQLite store carrying hundreds of tenants' puts, made on
//! purpose on the power-cut file system (`tests/support/src/power_cut/`): its gate
//! holds the committer inside the commit of a lone put (the plug) while every tenant's
//! put queues behind it, so that the committer's next group is all of them, and stops
//! the committer again at that group's first write.
//!
//! A power cut in the middle of that group's commit acknowledges none of its messages,
//! and every message acknowledged before it stays durable; with the commits' sync left
//! out (a mutant), the same test sees acknowledged messages lost. A conflict in such a
//! group fails its tenant alone.
#![cfg(target_os = "linux")]

mod lineup;

use std::path::Path;

use pipeline_checkpoint_host::backends::Backend;
use pipeline_checkpoint_host::{CheckpointError, Error, StorageExt};
use pipeline_checkpoint_test_support::power_cut::{CutMode, Hold, PowerCutMount};
use pipeline_checkpoint_test_support::seeded::{Rng, seed};

use crate::sqlite_power_cut::location_of;
use crate::support::{KEY, Recorder, offset_in};
use lineup::{
    batch_of, first_batch, id, line_up_a_group, message, open_tenants, returned, runtimes,
};

/// The tenants whose puts make one group.
const TENANTS: usize = 512;

/// A power cut in the middle of one group commit of 512 tenants' puts acknowledges
/// none of the group's messages, and every message acknowledged before the cut has its
/// offset durable after it, whatever the cut keeps of what was not synced.
#[test]
fn a_power_cut_in_the_middle_of_a_group_of_512_tenants_acknowledges_none_of_its_messages() {
    let Some(mut fs) = PowerCutMount::mount_or_skip() else {
        return;
    };
    let seed = seed();
    for (round, mode) in CutMode::ALL.into_iter().enumerate() {
        let path = fs.path().join(format!("db/group-{round}.db"));
        let summary = cut_a_group(&mut fs, &path, false, mode, seed.wrapping_add(round as u64))
            .unwrap_or_else(|fault| panic!("{fault}"));
        println!("{mode:?}: {summary}");
    }
}

/// With the commits' sync left out (`synchronous=OFF`), the group's commit returns
/// before anything reaches the disk: its messages are acknowledged, and the cut loses
/// them. The same test sees it.
#[cfg(debug_assertions)]
#[test]
fn without_the_commits_sync_a_cut_group_loses_acknowledged_messages() {
    let Some(mut fs) = PowerCutMount::mount_or_skip() else {
        return;
    };
    let path = fs.path().join("db/mutant.db");
    match cut_a_group(&mut fs, &path, true, CutMode::DropAll, 0) {
        Ok(summary) => panic!("the commits' sync was left out, unnoticed: {summary}"),
        Err(fault) => {
            println!("without the commits' sync: {fault}");
            assert!(fault.contains("was acknowledged"), "{fault}");
        }
    }
}

/// Writes a first batch for every tenant, lines up their second batch as one group,
/// cuts the power in the middle of its commit (at its sync; right after it, for a
/// commit without one), and checks what was acknowledged against what is durable.
fn cut_a_group(
    fs: &mut PowerCutMount,
    path: &Path,
    skip_sync: bool,
    mode: CutMode,
    seed: u64,
) -> Result<String, String> {
    let (executor, runtime) = runtimes();
    let location = location_of(path, skip_sync);
    let acks: Vec<Recorder> = (0..TENANTS).map(|_| Recorder::new()).collect();
    let second = executor.block_on(async {
        let (managers, mut queued) = open_tenants(&runtime, &location, &acks).await;
        let managers = first_batch(managers).await;
        let second = line_up_a_group(fs, &location, managers, &mut queued).await;
        // Let the group's writes through and hold its sync, which then fails: the
        // power is lost in the middle of the group's commit. A commit without a sync
        // ends instead, and the power is lost right after it.
        let mut arrivals = fs.arrivals();
        let seen = *arrivals.borrow_and_update();
        fs.hold(Hold::Syncs);
        let mut returning = std::pin::pin!(returned(second));
        let ended = tokio::select! {
            at_the_sync = arrivals.wait_for(|&n| n > seen) => {
                at_the_sync.unwrap();
                None
            }
            ended = &mut returning => Some(ended),
        };
        fs.lose_power_after(1);
        fs.hold(Hold::Nothing);
        let (_managers, results) = match ended {
            Some(ended) => ended,
            None => returning.await,
        };
        results
    });
    // The managers, their handles and the plug's are gone: with the location goes the
    // database's last owner, and the database closes before the power comes back.
    drop(location);
    fs.cut(mode, &mut Rng::new(seed));

    let location = location_of(path, false);
    let durable: Vec<u64> = executor.block_on(async {
        let mut durable = Vec::new();
        for t in 0..TENANTS {
            let mut storage = location.for_tenant(&id(t)).open().await.unwrap();
            let record = storage.value(KEY).await.unwrap();
            durable.push(record.map_or(0, |r| offset_in(Some(r))));
        }
        durable
    });
    let mut faults = Vec::new();
    for (t, ((acked, result), durable)) in acks.iter().zip(&second).zip(&durable).enumerate() {
        for message in acked.acked() {
            if batch_of(&message) > *durable {
                faults.push(format!(
                    "{message} was acknowledged, but {} holds offset {durable}",
                    id(t)
                ));
            }
        }
        if acked.acked().contains(&message(t, 2)) {
            faults.push(format!(
                "{} of the cut group was acknowledged",
                message(t, 2)
            ));
        }
        if result.is_ok() {
            faults.push(format!("{}'s put in the cut group was answered Ok", id(t)));
        }
    }
    if !faults.is_empty() {
        return Err(format!(
            "{mode:?} cut (seed {seed}), {} faults, the first: {}",
            faults.len(),
            faults[..faults.len().min(3)].join("; ")
        ));
    }
    let kept = durable.iter().filter(|&&d| d == 2).count();
    Ok(format!(
        "{TENANTS} tenants' puts in one group, all failed and none acknowledged; after the \
         cut (seed {seed}), {} tenants hold their first batch and {kept} the cut group's (kept by the \
         cut, never acknowledged)",
        TENANTS - kept
    ))
}

/// In one group commit of 512 tenants' puts, one tenant whose record another writer
/// replaced behind its back is fenced, and acknowledges nothing; every other tenant's
/// put in the same group is committed and acknowledged.
#[test]
fn a_conflict_in_a_group_fails_its_tenant_alone() {
    const VICTIM: usize = 137;
    let Some(fs) = PowerCutMount::mount_or_skip() else {
        return;
    };
    let (executor, runtime) = runtimes();
    let location = location_of(&fs.path().join("db/conflict.db"), false);
    let acks: Vec<Recorder> = (0..TENANTS).map(|_| Recorder::new()).collect();
    let theirs = r#"{"offset":1,"written_at":2.5}"#;
    let results = executor.block_on(async {
        let (managers, mut queued) = open_tenants(&runtime, &location, &acks).await;
        let managers = first_batch(managers).await;
        let mut other_writer = location.for_tenant(&id(VICTIM)).open().await.unwrap();
        other_writer.replace(KEY, theirs).await.unwrap();
        let second = line_up_a_group(&fs, &location, managers, &mut queued).await;
        fs.hold(Hold::Nothing);
        let (_managers, results) = returned(second).await;
        results
    });
    for (t, (result, acked)) in results.iter().zip(&acks).enumerate() {
        let acked = acked.acked();
        if t == VICTIM {
            assert!(
                matches!(result, Err(Error::Checkpoint(CheckpointError::Fenced(_)))),
                "{}: {result:?}",
                id(t)
            );
            assert_eq!(acked, [message(t, 1)], "{}", id(t));
        } else {
            assert!(result.is_ok(), "{}: {result:?}", id(t));
            assert_eq!(acked, [message(t, 1), message(t, 2)], "{}", id(t));
        }
    }
    executor.block_on(async {
        for t in 0..TENANTS {
            let mut storage = location.for_tenant(&id(t)).open().await.unwrap();
            let record = storage.value(KEY).await.unwrap();
            match t {
                VICTIM => assert_eq!(record.as_deref(), Some(theirs), "{}", id(t)),
                _ => assert_eq!(offset_in(record), 2, "{}", id(t)),
            }
        }
    });
}
