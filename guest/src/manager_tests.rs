use super::*;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use crate::record::DEFAULT_KEY;

/// One call the manager made. Storage, clock and consumer append to one shared log,
/// so a test can assert that an ack came after the put that made it safe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    Get,
    Put,
    Now,
    Ack,
}
use Call::{Ack, Get, Now, Put};

type Error = CheckpointError<&'static str, &'static str>;

const NOW: WallTime = WallTime {
    seconds: 1_764_230_400,
    nanoseconds: 123_456_789,
};

/// In-memory storage, a clock and a consumer, each logging its calls; `put`, `get`
/// and the ack can be made to fail.
#[derive(Default)]
struct Fakes {
    records: HashMap<String, String>,
    /// The version of each record; every put (and [`Fakes::replace`]) bumps it.
    versions: HashMap<String, u64>,
    last_version: u64,
    /// Every key passed to `get` or `put`, in order.
    keys: Vec<String>,
    log: Rc<RefCell<Vec<Call>>>,
    fail_put: bool,
    fail_get: bool,
    fail_ack: bool,
}

/// The error a put over a version that no longer holds returns.
const CONFLICT: &str = "conflict";

impl RecordStore for Fakes {
    type Error = &'static str;

    fn put(&mut self, key: &str, value: &str, expected: Expected) -> Result<u64, &'static str> {
        self.log.borrow_mut().push(Put);
        self.keys.push(key.to_string());
        if self.fail_put {
            return Err("put refused");
        }
        let current = self.records.get(key).map(|_| self.versions[key]);
        let matches = match expected {
            Expected::Absent => current.is_none(),
            Expected::Version(v) => current == Some(v),
        };
        if !matches {
            return Err(CONFLICT);
        }
        Ok(self.replace(key, value))
    }

    fn get(&mut self, key: &str) -> Result<Option<Stored>, &'static str> {
        self.log.borrow_mut().push(Get);
        self.keys.push(key.to_string());
        if self.fail_get {
            return Err("get refused");
        }
        Ok(self.records.get(key).map(|value| Stored {
            value: value.clone(),
            version: self.versions[key],
        }))
    }

    fn conflict<'a>(error: &'a &'static str) -> Option<&'a str> {
        (*error == CONFLICT).then_some(CONFLICT)
    }
}

impl Fakes {
    /// RecordStore that already holds `text` under the default key, as after a restart.
    fn holding(text: &str) -> Self {
        Fakes::holding_at(DEFAULT_KEY, text)
    }

    fn holding_at(key: &str, text: &str) -> Self {
        let mut fakes = Fakes::default();
        fakes.replace(key, text);
        fakes
    }

    /// Stores `text` under `key` with a new version, as another writer would.
    fn replace(&mut self, key: &str, text: &str) -> u64 {
        self.last_version += 1;
        self.records.insert(key.to_string(), text.to_string());
        self.versions.insert(key.to_string(), self.last_version);
        self.last_version
    }

    fn write(&mut self, manager: &mut CheckpointManager, offset: u64) -> Result<(), Error> {
        let (now_log, ack_log, fail_ack) = (self.log.clone(), self.log.clone(), self.fail_ack);
        let now = move || {
            now_log.borrow_mut().push(Now);
            NOW
        };
        let ack = move || {
            ack_log.borrow_mut().push(Ack);
            if fail_ack { Err("ack refused") } else { Ok(()) }
        };
        manager.write_checkpoint(self, offset, now, ack)
    }

    fn get(&mut self, manager: &mut CheckpointManager) -> Result<u64, Error> {
        manager.get_checkpoint(self)
    }

    /// The calls made since the last look.
    fn calls(&self) -> Vec<Call> {
        self.log.take()
    }

    /// The offset stored under `key`, decoded the way any reader would.
    fn stored(&self, key: &str) -> Option<u64> {
        let text = self.records.get(key)?;
        Some(record::decode(text).expect("a valid record").offset)
    }
}

fn manager() -> CheckpointManager {
    CheckpointManager::new(None)
}

fn regression(durable: u64, requested: u64) -> Error {
    CheckpointError::OffsetRegression { durable, requested }
}

#[test]
fn first_write_reads_then_puts_then_acks() {
    let (mut fakes, mut manager) = (Fakes::default(), manager());
    assert_eq!(fakes.write(&mut manager, 5), Ok(()));
    // The clock is read before the put because the record carries the time.
    assert_eq!(fakes.calls(), [Get, Now, Put, Ack]);
    assert_eq!(fakes.stored(DEFAULT_KEY), Some(5));
    // Later writes trust what the manager made durable and do not read again.
    assert_eq!(fakes.write(&mut manager, 6), Ok(()));
    assert_eq!(fakes.calls(), [Now, Put, Ack]);
}

#[test]
fn ack_never_runs_when_put_fails() {
    let (mut fakes, mut manager) = (Fakes::default(), manager());
    fakes.fail_put = true;
    let failed = Err(CheckpointError::WriteFailed("put refused"));
    assert_eq!(fakes.write(&mut manager, 5), failed);
    assert_eq!(fakes.calls(), [Get, Now, Put]);
    assert_eq!(fakes.stored(DEFAULT_KEY), None);
}

#[test]
fn failed_put_keeps_the_previous_offset_and_the_batch_can_be_retried() {
    let (mut fakes, mut manager) = (Fakes::default(), manager());
    fakes.write(&mut manager, 5).unwrap();
    fakes.fail_put = true;
    let failed = Err(CheckpointError::WriteFailed("put refused"));
    assert_eq!(fakes.write(&mut manager, 9), failed);
    assert_eq!(fakes.get(&mut manager), Ok(5));
    fakes.calls();

    // The failed offset was never remembered as durable, so the retry puts it again
    // instead of mistaking itself for an idempotent retry that only acks.
    fakes.fail_put = false;
    assert_eq!(fakes.write(&mut manager, 9), Ok(()));
    assert_eq!(fakes.calls(), [Now, Put, Ack]);
    assert_eq!(fakes.stored(DEFAULT_KEY), Some(9));
}

#[test]
fn offset_regression_is_refused_without_put_or_ack() {
    let (mut fakes, mut manager) = (Fakes::default(), manager());
    fakes.write(&mut manager, 10).unwrap();
    fakes.calls();
    for requested in [9, 1, 0] {
        let refused = Err(regression(10, requested));
        assert_eq!(fakes.write(&mut manager, requested), refused);
        assert_eq!(fakes.calls(), []);
        assert_eq!(fakes.stored(DEFAULT_KEY), Some(10));
    }
}

#[test]
fn equal_offset_is_an_idempotent_retry() {
    let (mut fakes, mut manager) = (Fakes::default(), manager());
    fakes.write(&mut manager, 10).unwrap();
    let record = fakes.records[DEFAULT_KEY].clone();
    fakes.calls();
    assert_eq!(fakes.write(&mut manager, 10), Ok(()));
    assert_eq!(fakes.write(&mut manager, 10), Ok(()));
    // Acked each time; the clock was not read and the record, timestamp included,
    // was not rewritten. The same holds for a refused regression (tested above).
    assert_eq!(fakes.calls(), [Ack, Ack]);
    assert_eq!(fakes.records[DEFAULT_KEY], record);
}

#[test]
fn restart_cannot_move_the_offset_back() {
    let stored = r#"{"offset": 10, "written_at": 1700000000.5}"#;
    let (mut fakes, mut manager) = (Fakes::holding(stored), manager());
    assert_eq!(fakes.write(&mut manager, 5), Err(regression(10, 5)));
    assert_eq!(fakes.calls(), [Get]);
    assert_eq!(fakes.records[DEFAULT_KEY], stored);

    // A pipeline that crashed after its put but before its ack redelivers the batch
    // with the same offset: the stored record stands and only the ack is repeated.
    assert_eq!(fakes.write(&mut manager, 10), Ok(()));
    assert_eq!(fakes.calls(), [Ack]);
    assert_eq!(fakes.records[DEFAULT_KEY], stored);
}

#[test]
fn first_write_of_offset_zero_creates_the_record() {
    // No record is not the same as a record at 0: the first write must store one.
    let (mut fakes, mut manager) = (Fakes::default(), manager());
    assert_eq!(fakes.write(&mut manager, 0), Ok(()));
    assert_eq!(fakes.calls(), [Get, Now, Put, Ack]);
    assert_eq!(fakes.stored(DEFAULT_KEY), Some(0));
}

#[test]
fn get_checkpoint_only_ever_reads() {
    // Empty storage reads as 0; no outcome, good or bad, ever writes or acks.
    let mut failing = Fakes::holding(r#"{"offset": 3}"#);
    failing.fail_get = true;
    let cases = [
        (Fakes::default(), Ok(0)),
        (Fakes::holding(r#"{"offset": 3}"#), Ok(3)),
        (
            Fakes::holding(""),
            Err(CheckpointError::CorruptRecord(RecordFault::Empty)),
        ),
        (failing, Err(CheckpointError::ReadFailed("get refused"))),
    ];
    for (mut fakes, expected) in cases {
        let mut manager = manager();
        let before = fakes.records.clone();
        for _ in 0..3 {
            assert_eq!(fakes.get(&mut manager), expected);
        }
        assert_eq!(fakes.calls(), [Get, Get, Get]);
        assert_eq!(fakes.records, before);
    }
}

#[test]
fn corrupt_record_is_reported_and_never_overwritten() {
    for text in [
        "",
        "\0\0\0\0",
        r#"{"offset": 5"#,
        "[1,2]",
        r#"{"offset": -1}"#,
    ] {
        let fault = record::decode(text).expect_err("the text is corrupt");
        let corrupt = Err(CheckpointError::CorruptRecord(fault));
        let (mut fakes, mut manager) = (Fakes::holding(text), manager());
        assert_eq!(fakes.get(&mut manager).map(drop), corrupt, "{text:?}");
        // Each write reads again and refuses again: a corrupt record is not taken
        // for an absent one, which would let the next write overwrite it.
        assert_eq!(fakes.write(&mut manager, 7), corrupt, "{text:?}");
        assert_eq!(fakes.write(&mut manager, 7), corrupt, "{text:?}");
        assert_eq!(fakes.calls(), [Get, Get, Get], "{text:?}");
        assert_eq!(fakes.records[DEFAULT_KEY], text);
    }
}

/// A record that a read finds damaged after earlier writes is not overwritten by the
/// next write either: the read forgot the cached offset, so the write reads again.
#[test]
fn record_found_corrupt_later_is_not_overwritten() {
    let (mut fakes, mut manager) = (Fakes::default(), manager());
    assert_eq!(fakes.write(&mut manager, 3), Ok(()));
    fakes.replace(DEFAULT_KEY, "\0\0");
    assert!(matches!(
        fakes.get(&mut manager),
        Err(CheckpointError::CorruptRecord(_))
    ));
    assert!(matches!(
        fakes.write(&mut manager, 9),
        Err(CheckpointError::CorruptRecord(_))
    ));
    assert_eq!(fakes.records[DEFAULT_KEY], "\0\0");
}

#[test]
fn read_failure_blocks_the_first_write_until_a_read_succeeds() {
    let (mut fakes, mut manager) = (Fakes::holding(r#"{"offset": 10}"#), manager());
    fakes.fail_get = true;
    let failed = Err(CheckpointError::ReadFailed("get refused"));
    assert_eq!(fakes.write(&mut manager, 5), failed);
    assert_eq!(fakes.get(&mut manager).map(drop), failed);
    assert_eq!(fakes.calls(), [Get, Get]);

    // Nothing was learned from the failed reads, so the next write reads first and
    // still refuses to move the offset back.
    fakes.fail_get = false;
    assert_eq!(fakes.write(&mut manager, 5), Err(regression(10, 5)));
    assert_eq!(fakes.write(&mut manager, 11), Ok(()));
    assert_eq!(fakes.calls(), [Get, Now, Put, Ack]);
}

#[test]
fn ack_failure_leaves_the_offset_durable_and_a_retry_only_acks() {
    let (mut fakes, mut manager) = (Fakes::default(), manager());
    fakes.fail_ack = true;
    let failed = Err(CheckpointError::AckFailed("ack refused"));
    assert_eq!(fakes.write(&mut manager, 7), failed);
    assert_eq!(fakes.calls(), [Get, Now, Put, Ack]);
    assert_eq!(fakes.stored(DEFAULT_KEY), Some(7));
    assert_eq!(fakes.get(&mut manager), Ok(7));
    fakes.calls();

    fakes.fail_ack = false;
    assert_eq!(fakes.write(&mut manager, 7), Ok(()));
    assert_eq!(fakes.calls(), [Ack]);
}

#[test]
fn default_and_custom_keys_are_used_for_both_get_and_put() {
    const CUSTOM: &str = "tenant-a/ckpt";
    for (key, own, other) in [
        (None, DEFAULT_KEY, CUSTOM),
        (Some(CUSTOM), CUSTOM, DEFAULT_KEY),
    ] {
        // A record under the other key must be invisible to this manager.
        let mut fakes = Fakes::holding_at(other, r#"{"offset": 100}"#);
        let mut manager = CheckpointManager::new(key.map(str::to_string));
        assert_eq!(manager.key(), own);
        assert_eq!(fakes.get(&mut manager), Ok(0));
        assert_eq!(fakes.write(&mut manager, 4), Ok(()));
        // The get told the manager that no record exists, so the write need not read.
        assert_eq!(fakes.calls(), [Get, Now, Put, Ack]);
        assert_eq!(fakes.keys, [own; 2]);
        assert_eq!(fakes.stored(own), Some(4));
        assert_eq!(fakes.stored(other), Some(100));
    }
}

#[test]
fn stored_record_is_the_encoded_offset_and_time() {
    let (mut fakes, mut manager) = (Fakes::default(), manager());
    for offset in [0, 1, 41, 42, u64::MAX] {
        fakes.write(&mut manager, offset).unwrap();
        let mut expected = String::new();
        record::encode(offset, NOW, &mut expected);
        assert_eq!(fakes.records[DEFAULT_KEY], expected);
        assert_eq!(fakes.stored(DEFAULT_KEY), Some(offset));
    }
}

#[test]
fn every_ack_follows_a_durable_put_of_its_offset() {
    // Random writes and restarts with puts, gets and acks failing at random, checked
    // at every step against the contract and a model of the durable offset.
    const SEED: u64 = 0x9e37_79b9_7f4a_7c15;
    println!("every_ack_follows_a_durable_put_of_its_offset: seed {SEED:#x}");
    let mut state = SEED;
    let mut next = move |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let (mut fakes, mut manager) = (Fakes::default(), manager());
    let mut durable: Option<u64> = None;
    // How often each outcome occurred, so the run cannot silently miss one.
    let mut seen = [0usize; 5];
    for step in 0..5_000 {
        if next(8) == 0 {
            manager = CheckpointManager::new(None);
        }
        let requested = durable.map_or(0, |d| d.saturating_sub(1)) + next(4);
        (fakes.fail_put, fakes.fail_get, fakes.fail_ack) =
            (next(4) == 0, next(4) == 0, next(4) == 0);
        let result = fakes.write(&mut manager, requested);
        let calls = fakes.calls();
        if calls.contains(&Ack) {
            assert_eq!(fakes.stored(DEFAULT_KEY), Some(requested), "step {step}");
            assert!(!(fakes.fail_put && calls.contains(&Put)), "step {step}");
        }
        let outcome = match result {
            Err(CheckpointError::OffsetRegression { durable: d, .. }) => {
                assert_eq!((Some(d), requested < d), (durable, true), "step {step}");
                0
            }
            Err(CheckpointError::ReadFailed(_)) => 1,
            Err(CheckpointError::WriteFailed(_)) => 2,
            Err(CheckpointError::AckFailed(_)) => 3,
            Ok(()) => 4,
            Err(e) => panic!("step {step}: unexpected {e:?}"),
        };
        if outcome >= 3 {
            durable = Some(requested);
        }
        seen[outcome] += 1;
        assert_eq!(fakes.stored(DEFAULT_KEY), durable, "step {step}");
    }
    assert!(seen.iter().all(|&n| n > 100), "outcomes {seen:?}");
}

#[path = "manager_failed_put_tests.rs"]
mod failed_put;
use failed_put::StoredThenFailed;

#[path = "manager_fencing_tests.rs"]
mod fencing;
