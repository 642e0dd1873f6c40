//! Random bytes, and mutations of valid records: truncation, bit flips, NUL bytes,
//! whitespace, deleted, duplicated and spliced ranges. The storage interface carries
//! strings, so raw bytes pass through lossy UTF-8 conversion.

use super::generate::Gen;
use crate::seeded::Rng;

/// Bytes that steer random text towards the scanner's and decoder's branches.
const ALPHABET: &[u8] =
    b"{}[]\":,.-+eE0123456789 \t\n\r\\u/bfnrtxaoldDcC\0\x01\x1f\x7f\xff\xc3\xa9";

/// Random bytes, or random picks from [`ALPHABET`], as lossy UTF-8.
pub fn bytes(rng: &mut Rng) -> String {
    let len = rng.below(64);
    let bytes: Vec<u8> = if rng.percent(50) {
        (0..len).map(|_| rng.next_u64() as u8).collect()
    } else {
        (0..len).map(|_| rng.pick(ALPHABET)).collect()
    };
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A valid record (as the component or a Python reader stores it) or a valid
/// generated document, damaged one to three times.
pub fn mutated(rng: &mut Rng) -> String {
    let mut text = match rng.below(3) {
        0 => format!(
            "{{\"offset\":{},\"written_at\":{}.{:06}}}",
            rng.next_u64() >> rng.below(64),
            rng.between(0, 2_000_000_000),
            rng.below(1_000_000)
        ),
        1 => format!(
            "{{\"offset\": {}, \"written_at\": 1764230400.123456, \"last_read_at\": 1.5}}",
            rng.between(0, 1000)
        ),
        _ => {
            let mut generator = Gen {
                rng: &mut *rng,
                sloppy: 0,
                out: String::new(),
            };
            generator.document();
            generator.out
        }
    };
    for _ in 0..rng.between(1, 3) {
        mutate(rng, &mut text);
    }
    text
}

/// One damage: truncation, a flipped or replaced byte, an inserted NUL (a torn
/// write), whitespace or snippet, a deleted or duplicated range.
pub fn mutate(rng: &mut Rng, text: &mut String) {
    let mut bytes = std::mem::take(text).into_bytes();
    let at = rng.below(bytes.len() + 1);
    match rng.below(16) {
        0..=2 => bytes.truncate(at),
        3..=4 if at < bytes.len() => bytes[at] ^= 1 << rng.below(8),
        5..=6 if at < bytes.len() => bytes[at] = rng.pick(ALPHABET),
        7 => bytes.insert(at, 0),
        8..=9 => {
            let space = rng.pick(&[" ", "\n", "\t", "\r", "\x0b", "\u{a0}"]);
            bytes.splice(at..at, space.bytes());
        }
        10..=11 => {
            let end = (at + rng.below(8)).min(bytes.len());
            bytes.drain(at..end);
        }
        12..=13 => {
            let end = (at + rng.below(16)).min(bytes.len());
            let copy = bytes[at..end].to_vec();
            let to = rng.below(bytes.len() + 1);
            bytes.splice(to..to, copy);
        }
        _ => {
            let mut generator = Gen {
                rng: &mut *rng,
                sloppy: 0,
                out: String::new(),
            };
            generator.value(1);
            bytes.splice(at..at, generator.out.into_bytes());
        }
    }
    *text = String::from_utf8_lossy(&bytes).into_owned();
}
