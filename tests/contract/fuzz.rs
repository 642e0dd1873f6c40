//! Fuzzing the record decoder over arbitrary storage contents: whatever `get` returns,
//! the component answers `Ok(offset)` or `CorruptRecord` (never a trap, never another
//! error), agrees with the same decoder compiled natively, and the JSON scanner under
//! it agrees with serde_json except for the differences listed in `oracle`.
//!
//! Why seeded generation rather than cargo-fuzz: libFuzzer needs a nightly toolchain
//! and this project builds on stable only. A hand-rolled generator (`generate`) costs
//! no dependency, knows the record's grammar (keys, escapes, number shapes, nesting
//! around the limit) so most inputs reach deep branches, and replays exactly from the
//! printed seed. Inputs worth keeping live in `tests/fixtures/fuzz-corpus/`, replayed
//! by `corpus_files_have_the_outcome_their_names_state`.

mod generate;
mod mutate;
mod oracle;

use std::collections::BTreeMap;
use std::panic::catch_unwind;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use pipeline_checkpoint_guest::record::{self, RecordFault};
use pipeline_checkpoint_host::storage::{Expected, Stored};
use pipeline_checkpoint_host::{
    AckResult, CheckpointError, Consumer, Error, Manager, Storage, StorageResult,
};

use crate::seeded::{self, Rng};
use crate::support::{fixtures, runtime};
use oracle::Verdict;

/// 100,000 inputs in the short runs, split so that the three run in parallel.
const SHORT_BYTES: usize = 20_000;
const SHORT_GRAMMAR: usize = 50_000;
const SHORT_MUTATED: usize = 30_000;

/// Random bytes are always answered with an offset or `CorruptRecord`, the same as
/// the native decoder, and the scanner agrees with serde_json on them.
#[tokio::test]
async fn random_bytes_decode_alike_in_the_component_and_natively() {
    fuzz(SHORT_BYTES, &[mutate::bytes]).await;
}

/// Grammar-generated records (escaped and repeated keys, every number shape, lone
/// surrogates, nesting around 128) are decoded alike by the component and natively,
/// and an accepted offset is the one serde_json reads.
#[tokio::test]
async fn generated_records_decode_alike_in_the_component_and_natively() {
    fuzz(SHORT_GRAMMAR, &[generate::grammar]).await;
}

/// Truncated, bit-flipped, NUL-torn and spliced records are decoded alike by the
/// component and natively, and never trap.
#[tokio::test]
async fn damaged_records_decode_alike_in_the_component_and_natively() {
    fuzz(SHORT_MUTATED, &[mutate::mutated]).await;
}

/// All generators together, `FUZZ_INPUTS` inputs (default 1,000,000).
#[tokio::test]
#[ignore = "long run: FUZZ_INPUTS inputs, default 1,000,000"]
async fn fuzz_long_run() {
    let inputs = seeded::count_from_env("FUZZ_INPUTS", 1_000_000);
    fuzz(
        inputs,
        &[
            mutate::bytes,
            generate::grammar,
            generate::grammar,
            mutate::mutated,
        ],
    )
    .await;
}

/// Every corpus file gets the outcome its name states (`<case>.ok-<offset>` or
/// `<case>.corrupt`) from the component and natively, passes the serde_json oracle,
/// and together the files exercise each known scanner/serde_json difference.
#[tokio::test]
async fn corpus_files_have_the_outcome_their_names_state() {
    let mut fuzzer = Fuzzer::new().await;
    let mut verdicts = BTreeMap::new();
    let files = fixtures("fuzz-corpus");
    assert!(
        files.len() >= 30,
        "the corpus has only {} files",
        files.len()
    );
    for (name, bytes) in files {
        let text = String::from_utf8(bytes).unwrap_or_else(|_| panic!("{name} is not UTF-8"));
        let expected = match name.rsplit_once('.') {
            Some((_, "corrupt")) => None,
            Some((_, ok)) if ok.starts_with("ok-") => Some(
                ok[3..]
                    .parse::<u64>()
                    .unwrap_or_else(|_| panic!("{name}: bad offset in the name")),
            ),
            _ => panic!("{name}: corpus files are named <case>.ok-<offset> or <case>.corrupt"),
        };
        let (outcome, verdict) = fuzzer.check(&text).await;
        assert_eq!(outcome, expected, "{name}: {text:?}");
        verdicts.insert(verdict, name);
    }
    for known in [
        Verdict::KnownSurrogate,
        Verdict::KnownRange,
        Verdict::KnownDepth128,
    ] {
        assert!(
            verdicts.contains_key(&known),
            "no corpus file shows {known:?}"
        );
    }
}

/// Runs `inputs` inputs, drawn from `generators` in turn, through every check, and
/// prints the tally.
async fn fuzz(inputs: usize, generators: &[fn(&mut Rng) -> String]) {
    let seed = seeded::seed();
    let mut rng = Rng::new(seed);
    let mut fuzzer = Fuzzer::new().await;
    let started = Instant::now();
    for n in 0..inputs {
        let text = generators[n % generators.len()](&mut rng);
        fuzzer.check(&text).await;
    }
    let elapsed = started.elapsed();
    println!("{} inputs in {elapsed:.2?}", fuzzer.tally.inputs);
    fuzzer.tally.print();
}

/// The storage the component reads: it returns whatever the test put in `text`.
#[derive(Clone, Default)]
struct Feed(Arc<Mutex<String>>);

impl Storage for Feed {
    async fn put(&mut self, _key: &str, _value: &str, _expected: Expected) -> StorageResult<u64> {
        panic!("get_checkpoint must never write");
    }
    async fn get(&mut self, _key: &str) -> StorageResult<Option<Stored>> {
        let value = self.0.lock().unwrap().clone();
        Ok(Some(Stored { version: 1, value }))
    }
}

struct NoAcks;

impl Consumer for NoAcks {
    async fn ack(&mut self, _ids: &[String]) -> AckResult {
        panic!("get_checkpoint must never ack");
    }
}

/// One manager reused for every input, and what the inputs turned out to be.
struct Fuzzer {
    feed: Feed,
    manager: Manager,
    tally: Tally,
}

#[derive(Default)]
struct Tally {
    inputs: u64,
    accepted: u64,
    corrupt: u64,
    faults: BTreeMap<String, u64>,
    verdicts: BTreeMap<Verdict, u64>,
    /// Accepted or refused offsets confirmed by serde_json's reading of the text.
    confirmed_by_serde: u64,
}

impl Tally {
    fn print(&self) {
        println!(
            "accepted {}, corrupt {}, offsets confirmed by serde_json {}",
            self.accepted, self.corrupt, self.confirmed_by_serde
        );
        println!("scanner vs serde_json: {:?}", self.verdicts);
        println!("corrupt by fault:");
        for (fault, count) in &self.faults {
            println!("  {count:>8}  {fault}");
        }
    }
}

impl Fuzzer {
    async fn new() -> Self {
        let feed = Feed::default();
        let manager = runtime()
            .open(None, feed.clone(), NoAcks)
            .await
            .expect("opening a manager cannot fail");
        Self {
            feed,
            manager,
            tally: Tally::default(),
        }
    }

    /// Runs every check on `text`; panics, showing the input, on any violation.
    /// Returns the decoded offset (`None`: corrupt) and the scanner/serde verdict.
    async fn check(&mut self, text: &str) -> (Option<u64>, Verdict) {
        let fail = |what: String| -> ! { panic!("{what}\n  input: {text:?}") };
        let native = catch_unwind(|| record::decode(text))
            .unwrap_or_else(|_| fail("the native decoder panicked".into()));
        let scanned = catch_unwind(|| pipeline_checkpoint_guest::json::parse(text).map(|_| ()))
            .unwrap_or_else(|_| fail("the scanner panicked".into()));
        // The decoder refuses exactly what the scanner refuses, with the scanner's
        // error, once its own checks for empty, NUL and blank text are past.
        match (&scanned, &native) {
            (
                Err(_),
                Err(RecordFault::Empty | RecordFault::Nul { .. } | RecordFault::Blank { .. }),
            ) => {}
            (Err(e), Err(RecordFault::InvalidJson(f))) if e == f => {}
            (Ok(()), Ok(_)) => {}
            (Ok(()), Err(f)) if !matches!(f, RecordFault::InvalidJson(_)) => {}
            _ => fail(format!("scanner {scanned:?} but decoder {native:?}")),
        }

        *self.feed.0.lock().unwrap() = text.to_owned();
        let component = self.manager.get_checkpoint().await;
        let outcome = match (&component, &native) {
            (Ok(got), Ok(record)) if *got == record.offset => Some(*got),
            (Err(Error::Checkpoint(CheckpointError::CorruptRecord(why))), Err(fault))
                if *why == fault.to_string() =>
            {
                None
            }
            (Err(Error::Trap(trap)), _) => fail(format!("the component trapped: {trap:?}")),
            _ => fail(format!("component {component:?} but native {native:?}")),
        };

        let (verdict, value) = oracle::judge(text).unwrap_or_else(|why| fail(why));
        if let Some(value) = value {
            let by_serde = oracle::expected_offset(&value);
            if by_serde != outcome {
                fail(format!(
                    "decoded {outcome:?}, serde_json reads {by_serde:?} in {value}"
                ));
            }
            self.tally.confirmed_by_serde += 1;
        }

        let tally = &mut self.tally;
        tally.inputs += 1;
        *tally.verdicts.entry(verdict).or_default() += 1;
        match &native {
            Ok(_) => tally.accepted += 1,
            Err(fault) => {
                tally.corrupt += 1;
                *tally.faults.entry(fault_kind(fault)).or_default() += 1;
            }
        }
        (outcome, verdict)
    }
}

/// A fault's case, with the scanner's reason for invalid JSON.
fn fault_kind(fault: &RecordFault) -> String {
    match fault {
        RecordFault::Empty => "empty".into(),
        RecordFault::Blank { .. } => "blank".into(),
        RecordFault::Nul { .. } => "NUL byte".into(),
        RecordFault::InvalidJson(e) => format!("invalid JSON: {}", e.what),
        RecordFault::NotAnObject(kind) => format!("not an object: {kind}"),
        RecordFault::MissingOffset => "missing offset".into(),
        RecordFault::OffsetNotANumber(kind) => format!("offset is a {kind}"),
        RecordFault::NegativeOffset(_) => "negative offset".into(),
        RecordFault::FractionalOffset(_) => "fractional offset".into(),
        RecordFault::OffsetOverflow(_) => "offset over 64 bits".into(),
        RecordFault::WrittenAtNotANumber(kind) => format!("written_at is a {kind}"),
    }
}
