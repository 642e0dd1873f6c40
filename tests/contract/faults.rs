//! Fault injection through the component: a storage and a consumer that fail on a
//! seeded schedule (returned errors of every case, and aborts that trap the call),
//! driven by a long random sequence of writes, reads and restarts, and checked after
//! every operation against a model of what must be durable, what must be acked and
//! what the caller must be told. `enospc` does the same with a real full file system.

#[cfg(target_os = "linux")]
pub(crate) mod enospc;
mod world;

use std::collections::BTreeMap;
use std::time::Instant;

use pipeline_checkpoint_host::{CheckpointError, Error, Fault, Manager, StorageError};

use crate::seeded::{self, Rng};
use crate::support::{fixed_clock, runtime};
use world::{Event, Rates, World};

/// Each import fails on about one call in ten: often enough that every case is hit
/// hundreds of times in the short run, rarely enough that most batches go through.
const RATES: Rates = Rates {
    put: 12,
    get: 8,
    ack: 12,
};

/// Drives the component through 100,000 random operations with storage and consumer
/// faults and checks every outcome against the model: no ack before its offset is
/// durable, every fault reported as its own case, the stored offset never lower.
#[tokio::test]
async fn random_faults_never_ack_early_never_regress_and_report_the_right_error() {
    run(100_000).await;
}

/// The same as the short form with `FAULT_OPS` operations (default 1,000,000).
#[tokio::test]
#[ignore = "long run: FAULT_OPS operations, default 1,000,000"]
async fn random_faults_long_run() {
    run(seeded::count_from_env("FAULT_OPS", 1_000_000)).await;
}

#[derive(Debug, Clone)]
enum Op {
    /// Drop the manager and open a fresh one over the same storage: a process restart.
    Restart,
    Read,
    Write {
        offset: u64,
        ids: Vec<String>,
        /// Through `write_checkpoint_batch` (host-held ids) rather than a list.
        lent: bool,
    },
}

/// What the call must return, derived from the model and the faults that fired.
#[derive(Debug)]
enum Expected {
    Ok(Option<u64>),
    Checkpoint(CheckpointError),
    /// A trap whose message carries this injected abort's text.
    Trap(String),
}

/// What the test knows must be true of the system.
struct Model {
    /// The offset storage durably holds.
    stored: Option<u64>,
    /// Whether the live instance has learnt the stored offset since it started. If
    /// not (a fresh open, a trap, a failed read or put), its next write must read storage
    /// before anything else: that is what keeps a restart from moving the offset back.
    knows: bool,
}

impl Model {
    /// Checks the calls the component made for `op` against the protocol, advances the
    /// model, and returns what the call must have returned.
    fn expect(&mut self, op: &Op, events: &[Event]) -> Expected {
        let mut calls = events.iter();
        let expected = match op {
            Op::Restart => unreachable!("restarts make no calls"),
            Op::Read => match self.read(calls.next()) {
                Ok(()) => Expected::Ok(Some(self.stored.unwrap_or(0))),
                Err(failure) => failure,
            },
            Op::Write { offset, ids, .. } => self.write(*offset, ids, &mut calls),
        };
        let extra: Vec<&Event> = calls.collect();
        assert!(
            extra.is_empty(),
            "calls after the outcome was decided: {extra:?}"
        );
        expected
    }

    fn read(&mut self, call: Option<&Event>) -> Result<(), Expected> {
        let Some(Event::Get { fault }) = call else {
            panic!("expected a get, got {call:?}");
        };
        // A failed read makes the manager forget what it knew, so it reads again.
        self.knows = fault.is_none();
        match fault.clone() {
            None => Ok(()),
            Some(Fault::Abort(why)) => Err(Expected::Trap(why)),
            // Bytes that are not text are as unusable as a corrupt record.
            Some(Fault::Error(StorageError::InvalidData(why))) => Err(Expected::Checkpoint(
                CheckpointError::CorruptRecord(why.to_string()),
            )),
            Some(Fault::Error(fault)) => {
                Err(Expected::Checkpoint(CheckpointError::ReadFailed(fault)))
            }
            Some(other) => panic!("an unknown fault: {other:?}"),
        }
    }

    fn write<'a>(
        &mut self,
        offset: u64,
        ids: &[String],
        calls: &mut impl Iterator<Item = &'a Event>,
    ) -> Expected {
        if !self.knows
            && let Err(failure) = self.read(calls.next())
        {
            return failure;
        }
        match self.stored {
            Some(durable) if offset < durable => {
                return Expected::Checkpoint(CheckpointError::OffsetRegression {
                    durable,
                    requested: offset,
                });
            }
            // The record is already stored: a retry only acks again.
            Some(durable) if offset == durable => {}
            _ => {
                let call = calls.next();
                let Some(Event::Put { offset: put, fault }) = call else {
                    panic!("expected the put of {offset}, got {call:?}");
                };
                assert_eq!(*put, offset, "the record put is not the requested offset");
                match fault.clone() {
                    None => self.stored = Some(offset),
                    Some(Fault::Abort(why)) => {
                        self.knows = false;
                        return Expected::Trap(why);
                    }
                    Some(Fault::Error(fault)) => {
                        // A failed put may have stored the record anyway, so the
                        // manager must read again before its next write.
                        self.knows = false;
                        return Expected::Checkpoint(CheckpointError::WriteFailed(fault));
                    }
                    Some(other) => panic!("an unknown fault: {other:?}"),
                }
            }
        }
        let call = calls.next();
        let Some(Event::Ack {
            ids: acked,
            writing,
            durable,
            fault,
        }) = call
        else {
            panic!("expected the ack of {ids:?}, got {call:?}");
        };
        assert_eq!(acked, ids, "the ack carries other ids than the batch's");
        assert_eq!(*writing, offset);
        assert_eq!(*durable, self.stored, "acked with another offset stored");
        match fault.clone() {
            None => Expected::Ok(None),
            Some(Fault::Abort(why)) => {
                self.knows = false;
                Expected::Trap(why)
            }
            Some(Fault::Error(fault)) => Expected::Checkpoint(CheckpointError::AckFailed(fault)),
            Some(other) => panic!("an unknown fault: {other:?}"),
        }
    }
}

/// The next operation: mostly writes of increasing offsets, some retries of the last
/// write (same batch, same offset), some lower offsets, reads, and rare restarts.
fn next_op(rng: &mut Rng, model: &Model, last_write: &Option<Op>) -> Op {
    match rng.below(100) {
        0..3 => return Op::Restart,
        3..23 => return Op::Read,
        23..38 => {
            if let Some(retry) = last_write {
                return retry.clone();
            }
        }
        _ => {}
    }
    let base = model.stored.unwrap_or(0);
    let offset = match rng.below(100) {
        0..80 => base + rng.between(1, 5),
        80..90 => base,
        _ if base > 0 => rng.between(0, base - 1),
        _ => base + 1,
    };
    let ids = (0..rng.below(4))
        .map(|i| format!("m-{offset}-{i}"))
        .collect();
    Op::Write {
        offset,
        ids,
        lent: rng.percent(50),
    }
}

async fn open(world: &World) -> Manager {
    runtime()
        .open_with_clock(None, world.clone(), world.clone(), fixed_clock)
        .await
        .expect("opening a manager cannot fail")
}

/// Runs `ops` random operations, checking each, and prints what was done and injected.
async fn run(ops: usize) {
    let seed = seeded::seed();
    let mut rng = Rng::new(seed);
    let world = World::new(rng.fork(), RATES);
    let mut manager = open(&world).await;
    let mut model = Model {
        stored: None,
        knows: false,
    };
    let mut last_write = None;
    let mut acks = 0u64;
    let mut done: BTreeMap<&str, u64> = BTreeMap::new();
    let mut outcomes: BTreeMap<&str, u64> = BTreeMap::new();
    let started = Instant::now();

    for step in 0..ops {
        let op = next_op(&mut rng, &model, &last_write);
        let before = world.stored_offset();
        let result = match &op {
            Op::Restart => {
                drop(manager);
                manager = open(&world).await;
                model.knows = false;
                *done.entry("restart").or_default() += 1;
                continue;
            }
            Op::Read => {
                world.begin(0);
                manager.get_checkpoint().await.map(Some)
            }
            Op::Write { offset, ids, lent } => {
                world.begin(*offset);
                last_write = Some(op.clone());
                if *lent {
                    let mut batch = ids.clone();
                    let result = manager.write_checkpoint_batch(&mut batch, *offset).await;
                    assert_eq!(&batch, ids, "step {step}: the lent ids came back changed");
                    result.map(|()| None)
                } else {
                    manager.write_checkpoint(ids, *offset).await.map(|()| None)
                }
            }
        };
        let events = world.events();
        let context = || format!("step {step}: {op:?}\n  calls: {events:?}\n  result: {result:?}");
        // The guarantee itself, checked on the calls alone: every ack finds its batch's
        // offset already durable, and a batch whose put failed or trapped gets none.
        let mut put_failed = false;
        for event in &events {
            match event {
                Event::Put { fault, .. } => put_failed |= fault.is_some(),
                Event::Ack {
                    writing, durable, ..
                } => {
                    assert!(
                        durable.is_some_and(|d| d >= *writing),
                        "acked before the offset was durable at {}",
                        context()
                    );
                    assert!(!put_failed, "acked after a failed put at {}", context());
                    acks += 1;
                }
                Event::Get { .. } => {}
            }
        }
        let expected =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| model.expect(&op, &events)))
                .unwrap_or_else(|_| panic!("protocol violated at {}", context()));
        let outcome =
            compare(&expected, &result).unwrap_or_else(|why| panic!("{why} at {}", context()));
        let after = world.stored_offset();
        assert_eq!(
            after,
            model.stored,
            "storage and model differ at {}",
            context()
        );
        assert!(
            after >= before,
            "the stored offset went back at {}",
            context()
        );

        *outcomes.entry(outcome).or_default() += 1;
        let kind = match op {
            Op::Read => "get_checkpoint",
            Op::Write { lent: false, .. } => "write_checkpoint",
            Op::Write { lent: true, .. } => "write_checkpoint_batch",
            Op::Restart => unreachable!(),
        };
        *done.entry(kind).or_default() += 1;
    }

    let injected = world.injected();
    println!("{ops} operations in {:.2?}", started.elapsed());
    println!("operations: {done:?}");
    println!("outcomes: {outcomes:?}");
    println!(
        "faults injected ({} in all): {injected:?}",
        injected.values().sum::<u64>()
    );
    println!(
        "acks checked: {acks}; final stored offset: {:?}",
        model.stored
    );
    if ops >= 10_000 {
        // A schedule that never fired some case would leave that case untested.
        assert_eq!(injected.len(), 7 + 7 + 4, "a fault case was never injected");
        assert_eq!(outcomes.len(), 7, "an outcome never occurred: {outcomes:?}");
    }
}

/// Whether `actual` is `expected`; on success, the outcome's name for the tally.
fn compare(
    expected: &Expected,
    actual: &Result<Option<u64>, Error>,
) -> Result<&'static str, String> {
    let name = match (expected, actual) {
        (Expected::Ok(want), Ok(got)) if want == got => "ok",
        (Expected::Checkpoint(want), Err(Error::Checkpoint(got))) if want == got => got.case(),
        (Expected::Trap(why), Err(Error::Trap(trap))) if format!("{trap:?}").contains(why) => {
            "trap"
        }
        _ => return Err(format!("expected {expected:?}")),
    };
    Ok(name)
}
