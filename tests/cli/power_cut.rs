//! Power loss, which `kill -9` cannot show: the kernel's page cache outlives a killed
//! process, so only a file system that forgets what was not synced proves that the
//! fsyncs are there. These tests mount one with FUSE (`power_cut/volume.rs` says what
//! it keeps), run the real `host-example run` on it, cut the power at seeded
//! instants, and check after every cut, from the files alone, that the checkpoint
//! record is whole, that no message is acknowledged ahead of the durable offset, that
//! the offset never moves backwards, and, once a final run completes, that nothing
//! was lost. They need `/dev/fuse` and the right to mount (root); without
//! `/dev/fuse` they print `SKIPPED: no /dev/fuse` and pass.
//!
//! The instants are counted in the CLI's mutating file operations, not in time, so a
//! seed (printed; `CHECKPOINT_TEST_SEED` replays it) replays the same cuts exactly.
#![cfg(target_os = "linux")]

mod cut_loop;

use cut_loop::{Plan, Tally, cut_loop};
use pipeline_checkpoint_test_support::power_cut::{CutMode, PowerCutMount};

use crate::seeded::{count_from_env, seed};

/// Across 36 power cuts at random instants of real runs, 12 of each mode, the files
/// never show a torn record, an ack ahead of the durable offset or an offset going
/// backwards, and the run that finally completes has lost nothing.
#[test]
fn power_cuts_at_random_instants_never_lose_an_acknowledged_message() {
    power_cuts(36);
}

/// The same property with the record, the sink and the ack log in one SQLite
/// database on the power-cut file system (`--storage sqlite://…`), across 24 cuts.
#[test]
fn power_cuts_with_sqlite_storage_never_lose_an_acknowledged_message() {
    let Some(mut fs) = PowerCutMount::mount_or_skip() else {
        return;
    };
    let plan = Plan {
        cuts: 24,
        modes: &CutMode::ALL,
        left_out_sync: None,
        sqlite: true,
    };
    let tally = cut_loop(&mut fs, &plan, seed()).unwrap_or_else(|fault| panic!("{fault}"));
    print_summary(&tally);
}

/// The same property across 600 cuts (or `POWER_CUTS`).
#[test]
#[ignore = "minutes long; run with --ignored, POWER_CUTS=N to change the count"]
fn power_cut_long() {
    power_cuts(count_from_env("POWER_CUTS", 600));
}

/// With the directory fsync after the rename left out of `put`, a cut that drops what
/// was not synced takes the new record's name away while its acks stay: caught.
#[cfg(debug_assertions)]
#[test]
fn without_the_directory_fsync_a_cut_loses_the_checkpoint() {
    let Some(fault) = caught_mutant("directory") else {
        return;
    };
    assert!(
        fault.contains("is acked but the durable offset is"),
        "{fault}"
    );
}

/// With the temporary file's fsync left out of `put`, the rename and its directory
/// fsync make durable a name whose data is not: a cut leaves an empty record.
#[cfg(debug_assertions)]
#[test]
fn without_the_file_fsync_a_cut_leaves_a_record_that_does_not_parse() {
    let Some(fault) = caught_mutant("file") else {
        return;
    };
    assert!(fault.contains("the record is not whole JSON"), "{fault}");
}

fn power_cuts(cuts: usize) {
    let Some(mut fs) = PowerCutMount::mount_or_skip() else {
        return;
    };
    let plan = Plan {
        cuts,
        modes: &CutMode::ALL,
        left_out_sync: None,
        sqlite: false,
    };
    let tally = cut_loop(&mut fs, &plan, seed()).unwrap_or_else(|fault| panic!("{fault}"));
    print_summary(&tally);
}

/// Runs the loop with `sync` left out of every `put` and returns the violation it
/// found (`None` where there is no `/dev/fuse`); fails if it found none.
#[cfg(debug_assertions)]
fn caught_mutant(sync: &'static str) -> Option<String> {
    // Fixed, so that the test is deterministic: cutting where the CLI's own
    // operations are counted, this schedule catches the mutant at its first cuts.
    const SEED: u64 = 1;
    let mut fs = PowerCutMount::mount_or_skip()?;
    // Dropping everything unsynced is where a missing fsync always shows.
    let plan = Plan {
        cuts: 10,
        modes: &[CutMode::DropAll],
        left_out_sync: Some(sync),
        sqlite: false,
    };
    match cut_loop(&mut fs, &plan, SEED) {
        Ok(tally) => panic!(
            "{} cuts without the {sync} fsync went unnoticed",
            tally.cuts()
        ),
        Err(fault) => {
            println!("without the {sync} fsync: {fault}");
            Some(fault)
        }
    }
}

fn print_summary(tally: &Tally) {
    let [drop_all, random_prefix, torn] = tally.cuts_by_mode;
    println!(
        "power cuts: {} cuts ({drop_all} dropping all unsynced changes, {random_prefix} \
         keeping a random prefix, {torn} tearing the last write; {} before the run's first \
         durable checkpoint), {} runs ({} finished before their cut), {} messages, offset \
         {} at the last cut, lost 0, acked ahead of durability 0, duplicate acks {}, \
         re-processed {}, {:.1} s",
        tally.cuts(),
        tally.cuts_without_progress,
        tally.runs,
        tally.finished_early,
        tally.messages,
        tally.offset_at_last_cut,
        tally.duplicate_acks,
        tally.reprocessed,
        tally.elapsed.as_secs_f64(),
    );
}
