//! The stored record: golden files the component must read, corrupt ones it must
//! refuse, and compatibility with the JSON that Python pipelines read and write.

use pipeline_checkpoint_host::{CheckpointError, StorageError};

use crate::support::*;

/// The offset a valid fixture holds, from its name: `anything.offset-<N>.json`.
fn expected_offset(name: &str) -> u64 {
    name.strip_suffix(".json")
        .and_then(|stem| stem.rsplit_once(".offset-"))
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or_else(|| panic!("{name}: valid fixtures are named <case>.offset-<N>.json"))
}

/// Every corrupt fixture's case, and a word its error message must contain.
const CORRUPT_CASES: &[(&str, &str)] = &[
    ("empty", "empty"),
    ("whitespace-only", "blank"),
    ("nul-filled", "NUL"),
    ("trailing-nul", "NUL"),
    ("truncated", "JSON"),
    ("not-json", "JSON"),
    ("array", "array"),
    ("number", "number"),
    ("string", "string"),
    ("null", "null"),
    ("missing-offset", "offset"),
    ("negative", "negative"),
    ("fractional", "integer"),
    ("float-five", "integer"),
    ("string-offset", "string"),
    ("null-offset", "null"),
    ("overflow", "64 bits"),
    ("written-at-string", "written_at"),
];

/// The corrupt fixtures as (case, text); every file must be a listed case and every
/// listed case must have a file.
fn corrupt_fixtures() -> Vec<(String, String)> {
    let files: Vec<(String, String)> = fixtures("records/corrupt")
        .into_iter()
        .map(|(name, bytes)| {
            let case = name
                .strip_suffix(".json")
                .expect("a .json fixture")
                .to_owned();
            (
                case,
                String::from_utf8(bytes).expect("corrupt fixtures are UTF-8"),
            )
        })
        .collect();
    let mut found: Vec<&str> = files.iter().map(|(case, _)| case.as_str()).collect();
    let mut listed: Vec<&str> = CORRUPT_CASES.iter().map(|(case, _)| *case).collect();
    found.sort();
    listed.sort();
    assert_eq!(
        found, listed,
        "fixtures/records/corrupt and CORRUPT_CASES differ"
    );
    files
}

/// Every golden record, in the seed's format or ours, reads back as the offset in its
/// file name, and reading it writes nothing.
#[tokio::test]
async fn golden_records_read_back_their_offset_without_writing() {
    let files = fixtures("records/valid");
    assert!(files.len() >= 5, "too few golden records: {}", files.len());
    for (name, bytes) in files {
        let text = String::from_utf8(bytes).expect("golden records are UTF-8");
        let recorder = recorder_holding(&text);
        let mut manager = open_recorded(&recorder).await;
        let offset = manager.get_checkpoint().await;
        assert_eq!(offset.ok(), Some(expected_offset(&name)), "{name}");
        assert_eq!(recorder.calls(), [Call::Get(KEY.into())], "{name}");
        assert_eq!(recorder.value(KEY).unwrap(), text, "{name}: record changed");
    }
}

/// Python's `json` module reads every golden record as the same offset the component
/// does, so the fixtures really are the format Python pipelines share.
#[test]
fn python_reads_each_golden_record_as_the_same_offset() {
    let script = "import json, sys; print(json.loads(sys.stdin.read())['offset'])";
    for (name, bytes) in fixtures("records/valid") {
        let text = String::from_utf8(bytes).unwrap();
        let printed = python(script, &text);
        assert_eq!(printed.trim(), expected_offset(&name).to_string(), "{name}");
    }
}

/// Each corrupt record is refused by `get_checkpoint` as `CorruptRecord` with a
/// message naming the fault; nothing is put or acked, and the call does not trap.
#[tokio::test]
async fn corrupt_records_are_refused_with_a_message_naming_the_fault() {
    for (case, text) in corrupt_fixtures() {
        let recorder = recorder_holding(&text);
        let mut manager = open_recorded(&recorder).await;
        let err = checkpoint_error(manager.get_checkpoint().await);
        let CheckpointError::CorruptRecord(msg) = err else {
            panic!("{case}: expected CorruptRecord, got {err:?}");
        };
        let word = CORRUPT_CASES.iter().find(|(c, _)| *c == case).unwrap().1;
        assert!(
            msg.contains(word),
            "{case}: {msg:?} should mention {word:?}"
        );
        assert_eq!(recorder.calls(), [Call::Get(KEY.into())], "{case}");
        assert_eq!(recorder.value(KEY).unwrap(), text, "{case}");
    }
}

/// A write over a corrupt record is refused as `CorruptRecord`: the record is neither
/// overwritten nor the batch acked.
#[tokio::test]
async fn write_over_a_corrupt_record_is_refused_and_acks_nothing() {
    for (case, text) in corrupt_fixtures() {
        let recorder = recorder_holding(&text);
        let mut manager = open_recorded(&recorder).await;
        let err = checkpoint_error(manager.write_checkpoint(&ids(&["m"]), 100).await);
        assert!(
            matches!(&err, CheckpointError::CorruptRecord(m) if !m.is_empty()),
            "{case}: {err:?}"
        );
        let mut batch = ids(&["h"]);
        let err = checkpoint_error(manager.write_checkpoint_batch(&mut batch, 100).await);
        assert!(
            matches!(&err, CheckpointError::CorruptRecord(m) if !m.is_empty()),
            "{case}: {err:?}"
        );
        assert_eq!(recorder.puts(), 0, "{case}");
        assert_eq!(ack_calls(&recorder), 0, "{case}");
        assert_eq!(recorder.value(KEY).unwrap(), text, "{case}");
    }
}

/// Stored bytes that are not UTF-8, which storage reports as `InvalidData`, are a
/// corrupt record for reads and for both write forms, with nothing put or acked; the
/// call does not trap, and once the record is repaired the same manager carries on.
#[tokio::test]
async fn non_utf8_record_is_corrupt_and_the_manager_survives_it() {
    let recorder = Recorder::new();
    recorder.fail_gets(Some(
        StorageError::InvalidData("checkpoint.json: invalid UTF-8 at byte 11".into()).into(),
    ));
    let mut manager = open_recorded(&recorder).await;
    let mut batch = ids(&["h"]);
    for err in [
        checkpoint_error(manager.get_checkpoint().await),
        checkpoint_error(manager.write_checkpoint(&ids(&["m"]), 1).await),
        checkpoint_error(manager.write_checkpoint_batch(&mut batch, 1).await),
    ] {
        assert!(
            matches!(&err, CheckpointError::CorruptRecord(m) if m.contains("invalid UTF-8 at byte 11")),
            "{err:?}"
        );
    }
    assert_eq!(recorder.puts(), 0);
    assert_eq!(ack_calls(&recorder), 0);

    // An operator repairs the record: the manager reads it, then writes past it.
    recorder.fail_gets(None);
    recorder.set_value(KEY, r#"{"offset": 4, "written_at": 1700000000.5}"#);
    let err = checkpoint_error(manager.write_checkpoint(&ids(&["m"]), 3).await);
    assert!(
        matches!(
            err,
            CheckpointError::OffsetRegression {
                durable: 4,
                requested: 3
            }
        ),
        "{err:?}"
    );
    manager.write_checkpoint(&ids(&["m"]), 5).await.unwrap();
    assert_eq!(stored_offset(&recorder), 5);
    assert_eq!(recorder.acked(), ids(&["m"]));
}

/// A record the component writes has exactly the fields `offset` (a Python int) and
/// `written_at` (a Python float holding the clock's time to the microsecond).
#[tokio::test]
async fn python_reads_component_records_as_int_offset_and_float_written_at() {
    let script = "import json, sys\n\
                  d = json.loads(sys.stdin.read())\n\
                  print(sorted(d), type(d['offset']).__name__, d['offset'], \
                  type(d['written_at']).__name__, repr(d['written_at']))";
    for offset in [0, 42, u64::MAX] {
        let recorder = Recorder::new();
        open_recorded(&recorder)
            .await
            .write_checkpoint(&ids(&["m"]), offset)
            .await
            .unwrap();
        let record = recorder.value(KEY).unwrap();
        let printed = python(script, &record);
        assert_eq!(
            printed.trim(),
            format!("['offset', 'written_at'] int {offset} float 1764230400.123456"),
            "{record}"
        );
    }
}

/// What Python's `json.dumps` writes, as the seed pipeline stores it (with or without
/// the `last_read_at` its reads add), reads back as the offset Python wrote.
#[tokio::test]
async fn python_written_records_read_back_correctly() {
    let script = "import json, time\n\
                  for offset in (9, 2**64 - 1):\n    \
                      r = {'offset': offset, 'written_at': time.time()}\n    \
                      print(json.dumps(r))\n    \
                      print(json.dumps({**r, 'last_read_at': time.time()}))";
    let printed = python(script, "");
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines.len(), 4, "{printed}");
    let expected = [9, 9, u64::MAX, u64::MAX];
    for (line, offset) in lines.into_iter().zip(expected) {
        let recorder = recorder_holding(line);
        assert_eq!(
            open_recorded(&recorder)
                .await
                .get_checkpoint()
                .await
                .unwrap(),
            offset,
            "{line}"
        );
        assert_eq!(recorder.puts(), 0);
    }
}

/// A record the component wrote and the seed's reader then rewrote with
/// `last_read_at` still reads back as the component's offset.
#[tokio::test]
async fn record_rewritten_by_the_python_reader_keeps_its_offset() {
    let recorder = Recorder::new();
    open_recorded(&recorder)
        .await
        .write_checkpoint(&ids(&["m"]), 31)
        .await
        .unwrap();
    let script = "import json, sys, time\n\
                  data = json.loads(sys.stdin.read())\n\
                  print(json.dumps({**data, 'last_read_at': time.time()}))";
    let rewritten = python(script, &recorder.value(KEY).unwrap());
    assert!(rewritten.contains("last_read_at"), "{rewritten}");
    recorder.set_value(KEY, rewritten.trim_end());
    let mut manager = open_recorded(&recorder).await;
    assert_eq!(manager.get_checkpoint().await.unwrap(), 31);
    // The component writes its own two-field format over it again.
    manager.write_checkpoint(&ids(&["n"]), 32).await.unwrap();
    let record: serde_json::Value = serde_json::from_str(&recorder.value(KEY).unwrap()).unwrap();
    let mut keys: Vec<&String> = record.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["offset", "written_at"]);
    assert_eq!(record["offset"], 32);
}
