use super::*;

fn at(seconds: u64, nanoseconds: u32) -> WallTime {
    WallTime {
        seconds,
        nanoseconds,
    }
}

fn encoded(offset: u64, now: WallTime) -> String {
    let mut out = String::new();
    encode(offset, now, &mut out);
    out
}

/// A tiny xorshift64* generator: deterministic from its seed, so a failure replays.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A value in `0..n` (`n > 0`); the slight modulo bias does not matter here.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn encode_writes_the_contract_format_exactly() {
    // The example in the WIT contract; microseconds are truncated, not rounded.
    assert_eq!(
        encoded(42, at(1_764_230_400, 123_456_789)),
        r#"{"offset":42,"written_at":1764230400.123456}"#
    );
}

/// offset, seconds, nanoseconds, and the exact record `encode` writes for them.
const GOLDEN: &str = r#"
    0                    0                    0           {"offset":0,"written_at":0.000000}
    5                    1700000000           123456000   {"offset":5,"written_at":1700000000.123456}
    7                    1                    7000        {"offset":7,"written_at":1.000007}
    10                   2                    999         {"offset":10,"written_at":2.000000}
    99                   3                    1000        {"offset":99,"written_at":3.000001}
    1000000              4                    999999999   {"offset":1000000,"written_at":4.999999}
    18446744073709551615 18446744073709551615 500000000   {"offset":18446744073709551615,"written_at":18446744073709551615.500000}
"#;

#[test]
fn encoding_matches_golden_records() {
    // Python pipelines and every stored checkpoint depend on these bytes: a change
    // here is a format change, not a refactoring.
    let mut rows = 0;
    for line in GOLDEN.lines().filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [offset, seconds, nanos, text] = fields[..] else {
            panic!("malformed golden row {line:?}");
        };
        let now = at(seconds.parse().unwrap(), nanos.parse().unwrap());
        assert_eq!(encoded(offset.parse().unwrap(), now), text);
        rows += 1;
    }
    assert_eq!(rows, 7);
}

#[test]
fn out_of_range_nanoseconds_never_add_a_seventh_digit() {
    // A clock that reports nanoseconds >= 1e9 is clamped to the last microsecond
    // rather than printing seven digits or carrying into the seconds.
    for nanos in [1_000_000_000, 1_500_000_000, u32::MAX] {
        assert_eq!(
            encoded(1, at(9, nanos)),
            r#"{"offset":1,"written_at":9.999999}"#
        );
    }
}

#[test]
fn encode_replaces_what_the_buffer_held() {
    let mut out = String::from("stale text from an earlier record");
    encode(3, at(4, 5_000), &mut out);
    assert_eq!(out, r#"{"offset":3,"written_at":4.000005}"#);
}

#[test]
fn written_at_is_always_a_float_with_six_decimals() {
    // Without the '.', JSON readers would see an integer and Python would store an
    // int where the pipelines expect a float.
    let mut rng = XorShift(0x5eed_0000_0000_0001);
    let mut times = vec![at(0, 0), at(u64::MAX, u32::MAX), at(1, 1)];
    times.extend((0..1_000).map(|_| at(rng.next() >> rng.below(64), rng.next() as u32)));
    for now in times {
        let record = decode(&encoded(0, now)).expect("encoded records decode");
        let written_at = record.written_at.expect("encode always writes written_at");
        let (seconds, micros) = written_at.split_once('.').expect("a decimal point");
        assert_eq!(seconds, now.seconds.to_string());
        assert_eq!(micros.len(), 6, "{written_at}");
        assert!(micros.bytes().all(|b| b.is_ascii_digit()), "{written_at}");
    }
}

#[test]
fn decode_inverts_encode_for_every_offset() {
    let mut offsets: Vec<u64> = (0..1_000).collect();
    for power in 1..64 {
        let p = 1u64 << power;
        offsets.extend([p - 1, p, p + 1]);
    }
    let mut ten = 1u64;
    while let Some(next) = ten.checked_mul(10) {
        ten = next;
        offsets.extend([ten - 1, ten, ten + 1]);
    }
    offsets.extend([u64::MAX - 1, u64::MAX]);
    let mut rng = XorShift(0x5eed_0000_0000_0002);
    offsets.extend((0..10_000).map(|_| rng.next() >> rng.below(64)));
    for offset in offsets {
        let now = at(1_764_230_400, 123_456_789);
        let record = decode(&encoded(offset, now)).map_err(|f| f.to_string());
        assert_eq!(record.map(|r| r.offset), Ok(offset));
    }
}

#[test]
fn decodes_the_python_pipelines_format() {
    // json.dumps writes a space after each separator.
    let seed = decode(r#"{"offset": 5, "written_at": 1700000000.123456}"#);
    assert_eq!(
        seed,
        Ok(Record {
            offset: 5,
            written_at: Some("1700000000.123456".to_string()),
        })
    );
    // Python readers add fields of their own; they are ignored.
    let read =
        decode(r#"{"offset": 5, "written_at": 1700000000.123456, "last_read_at": 1700000001.5}"#);
    assert_eq!(read.map(|r| r.offset), Ok(5));
}

#[test]
fn accepted_records_beyond_the_basic_format() {
    let cases: &[(&str, u64, Option<&str>)] = &[
        (r#"{"offset": 0}"#, 0, None),
        ("\n {\"offset\":9}\n", 9, None),
        (r#"{"offset": 18446744073709551615}"#, u64::MAX, None),
        (r#"{"offset": 1, "written_at": 17}"#, 1, Some("17")),
        (r#"{"offset": 1, "written_at": -1.5e3}"#, 1, Some("-1.5e3")),
        // Like Python, the last of duplicate keys wins, even over a bad earlier value.
        (r#"{"offset": 1, "offset": 7}"#, 7, None),
        (r#"{"offset": -1, "offset": 3}"#, 3, None),
        // The key may be written with escapes, as any JSON writer is free to do.
        (r#"{"\u006fffset": 11}"#, 11, None),
        (
            r#"{"offset": 2, "extra": {"offset": -1, "x": [null]}}"#,
            2,
            None,
        ),
    ];
    for &(text, offset, written_at) in cases {
        let expected = Record {
            offset,
            written_at: written_at.map(str::to_string),
        };
        assert_eq!(decode(text), Ok(expected), "{text:?}");
    }
}

/// What `decode` must say about each kind of damaged record.
fn corrupt_cases() -> Vec<(&'static str, RecordFault)> {
    use RecordFault::*;
    let syntax = |text: &str| match json::parse(text) {
        Err(e) => InvalidJson(e),
        Ok(_) => panic!("{text:?} is valid JSON"),
    };
    let s = |text: &str| text.to_string();
    vec![
        ("", Empty),
        ("   \n", Blank { len: 4 }),
        ("\t\r\n", Blank { len: 3 }),
        ("\0\0\0\0", Nul { at: 0 }),
        ("{\"offset\": 5}\0", Nul { at: 13 }),
        ("{\"offset\": 5}\0\0\0", Nul { at: 13 }),
        // A NUL is diagnosed as such even inside whitespace or a string.
        ("  \0", Nul { at: 2 }),
        ("{\"offset\": 5, \"x\": \"\0\"}", Nul { at: 20 }),
        (r#"{"offset": 5"#, syntax(r#"{"offset": 5"#)),
        ("not json", syntax("not json")),
        (r#"{"offset": 5,}"#, syntax(r#"{"offset": 5,}"#)),
        (r#"{"offset": 05}"#, syntax(r#"{"offset": 05}"#)),
        ("[1,2]", NotAnObject("array")),
        ("5", NotAnObject("number")),
        (r#""x""#, NotAnObject("string")),
        ("null", NotAnObject("null")),
        ("true", NotAnObject("boolean")),
        ("{}", MissingOffset),
        (r#"{"written_at": 1.0}"#, MissingOffset),
        (r#"{"Offset": 1, "offset ": 2}"#, MissingOffset),
        (r#"{"nested": {"offset": 1}}"#, MissingOffset),
        (r#"{"offset": -1}"#, NegativeOffset(s("-1"))),
        (
            r#"{"offset": -18446744073709551617}"#,
            NegativeOffset(s("-18446744073709551617")),
        ),
        (r#"{"offset": 1.5}"#, FractionalOffset(s("1.5"))),
        (r#"{"offset": 5.0}"#, FractionalOffset(s("5.0"))),
        (r#"{"offset": 1e3}"#, FractionalOffset(s("1e3"))),
        (r#"{"offset": 1E3}"#, FractionalOffset(s("1E3"))),
        (r#"{"offset": "5"}"#, OffsetNotANumber("string")),
        (r#"{"offset": null}"#, OffsetNotANumber("null")),
        (r#"{"offset": true}"#, OffsetNotANumber("boolean")),
        (r#"{"offset": []}"#, OffsetNotANumber("array")),
        (r#"{"offset": {}}"#, OffsetNotANumber("object")),
        (
            r#"{"offset": 18446744073709551616}"#,
            OffsetOverflow(s("18446744073709551616")),
        ),
        (
            r#"{"offset": 99999999999999999999999}"#,
            OffsetOverflow(s("99999999999999999999999")),
        ),
        (
            r#"{"offset": 1, "written_at": "yesterday"}"#,
            WrittenAtNotANumber("string"),
        ),
        (
            r#"{"offset": 1, "written_at": null}"#,
            WrittenAtNotANumber("null"),
        ),
    ]
}

#[test]
fn every_kind_of_damage_maps_to_its_fault() {
    for (text, fault) in corrupt_cases() {
        assert_eq!(decode(text), Err(fault), "{text:?}");
    }
}

#[test]
fn a_truncated_record_says_it_was_cut_short() {
    let Err(RecordFault::InvalidJson(e)) = decode(r#"{"offset": 5"#) else {
        panic!("a truncated record must be invalid JSON");
    };
    assert_eq!(e.at, 12);
    assert!(e.what.contains("unexpected end"), "{e}");
}

#[test]
fn every_fault_message_names_the_problem() {
    // The message is all an operator sees (the WIT `corrupt-record` string), so each
    // must say what is wrong, not merely that something is.
    let mut seen = std::collections::HashSet::new();
    for (text, fault) in corrupt_cases() {
        let message = fault.to_string();
        let names: &[&str] = match &fault {
            RecordFault::Empty => &["empty"],
            RecordFault::Blank { .. } => &["blank", "whitespace"],
            RecordFault::Nul { at } => &["NUL", &at.to_string()],
            RecordFault::InvalidJson(e) => &["not valid JSON", &e.to_string()],
            RecordFault::NotAnObject(kind) => &["not an object", kind],
            RecordFault::MissingOffset => &["no \"offset\""],
            RecordFault::OffsetNotANumber(kind) => &["\"offset\"", kind, "not an integer"],
            RecordFault::NegativeOffset(n) => &["\"offset\"", "negative", n],
            RecordFault::FractionalOffset(x) => &["\"offset\"", "not an integer", x],
            RecordFault::OffsetOverflow(x) => &["\"offset\"", "64 bits", x],
            RecordFault::WrittenAtNotANumber(kind) => &["\"written_at\"", kind, "not a number"],
        };
        for name in names {
            assert!(
                message.contains(name),
                "{text:?}: {message:?} lacks {name:?}"
            );
        }
        seen.insert(core::mem::discriminant(&fault));
    }
    // The table reaches every variant, so no message goes unchecked.
    assert_eq!(seen.len(), 11);
}

#[test]
fn decode_never_panics_on_arbitrary_text() {
    const SEED: u64 = 0x0c0f_fee0_dead_beef;
    const CASES: usize = 200_000;
    println!("decode_never_panics_on_arbitrary_text: seed {SEED:#x}, {CASES} cases");
    let mut rng = XorShift(SEED);
    let valid = [
        encoded(42, at(1_764_230_400, 123_456_789)),
        encoded(u64::MAX, at(0, 0)),
        r#"{"offset": 5, "written_at": 1700000000.123456, "last_read_at": 1.5}"#.to_string(),
        r#"{"\u006fffset": [1, {"a": "\"\\\/\b\f\n\r\t\ud83d"}], "offset": 1e3}"#.to_string(),
    ];
    // Bytes that steer random text towards the scanner's interesting paths.
    let alphabet = b"{}[]\":,.-+eE0123456789 \t\n\\u/abfnrtxol\0\xff\xc3\xa9";
    let (mut accepted, mut refused) = (0usize, 0usize);
    for case in 0..CASES {
        let mut bytes: Vec<u8> = valid[rng.below(valid.len())].clone().into_bytes();
        match rng.below(5) {
            0 => {
                let len = rng.below(48);
                bytes = (0..len).map(|_| rng.next() as u8).collect();
            }
            1 => {
                let len = rng.below(48);
                bytes = (0..len)
                    .map(|_| alphabet[rng.below(alphabet.len())])
                    .collect();
            }
            2 => bytes.truncate(rng.below(bytes.len() + 1)),
            3 => {
                for _ in 0..1 + rng.below(4) {
                    let i = rng.below(bytes.len());
                    bytes[i] = if rng.below(2) == 0 {
                        rng.next() as u8
                    } else {
                        alphabet[rng.below(alphabet.len())]
                    };
                }
            }
            _ => {
                for _ in 0..1 + rng.below(4) {
                    let i = rng.below(bytes.len() + 1);
                    bytes.insert(i, alphabet[rng.below(alphabet.len())]);
                }
            }
        }
        let text = String::from_utf8_lossy(&bytes);
        let result = std::panic::catch_unwind(|| decode(&text));
        let Ok(result) = result else {
            panic!("seed {SEED:#x}, case {case}: decode panicked on {text:?}");
        };
        // Beyond not panicking, the verdicts must be consistent with the text.
        match result {
            Ok(_) => {
                accepted += 1;
                assert_eq!(
                    json::parse(&text).map(|d| d.top.kind),
                    Ok(json::Kind::Object)
                );
            }
            Err(RecordFault::Empty) => assert!(text.is_empty()),
            Err(RecordFault::Nul { at }) => assert_eq!(text.as_bytes()[at], 0),
            Err(_) => refused += 1,
        }
    }
    // A generator that only ever produced garbage, or only valid records, would
    // prove little.
    assert!(accepted > CASES / 100, "only {accepted} accepted");
    assert!(refused > CASES / 2, "only {refused} refused");
}

#[test]
fn encoded_numbers_match_std_formatting_at_every_digit_boundary() {
    // The encoder formats digits itself; around every power of ten, the 32-bit and
    // 64-bit boundaries and the eight-digit chunks it splits large numbers into, it
    // must write exactly what `format!` writes.
    let mut numbers = vec![0, u64::from(u32::MAX), u64::from(u32::MAX) + 1, u64::MAX];
    let mut power = 1u64;
    while let Some(next) = power.checked_mul(10) {
        numbers.extend([power - 1, power, power + 1, next - 1]);
        power = next;
    }
    numbers.extend([power - 1, power, power + 1]);
    let mut random = XorShift(0x5eed);
    numbers.extend((0..2_000).map(|_| random.next() >> random.below(64)));
    for n in numbers {
        for nanos in [0, 1_000, 999_999_999, 10_203_000] {
            let expected = format!(
                r#"{{"offset":{n},"written_at":{}.{:06}}}"#,
                n / 3,
                nanos / 1_000
            );
            assert_eq!(encoded(n, at(n / 3, nanos)), expected);
        }
    }
}
