//! The checkpoint record: encoding and strict decoding of the JSON text stored under
//! the checkpoint key.
//!
//! The format is the one existing Python pipelines read and write:
//! `{"offset": 42, "written_at": 1764230400.123456}`. The encoder writes exactly those
//! two fields; the decoder accepts extra fields (Python readers add `last_read_at`) but
//! refuses anything that could make a pipeline resume from the wrong place.

use alloc::string::{String, ToString};
use core::fmt;

use crate::json::{self, Kind, Raw, SyntaxError};

/// The default storage key, the same as the Python pipelines'.
pub const DEFAULT_KEY: &str = "pipeline/checkpoint.json";

/// A wall-clock time, as the WASI clock reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WallTime {
    /// Whole seconds since the Unix epoch.
    pub seconds: u64,
    /// Nanoseconds past `seconds`.
    pub nanoseconds: u32,
}

/// A decoded checkpoint record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The resume offset.
    pub offset: u64,
    /// When the record was written, in seconds since the Unix epoch, as the JSON
    /// number's text, if the record says.
    pub written_at: Option<String>,
}

/// Why stored text is not a usable checkpoint record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordFault {
    /// Zero bytes: what a crash leaves when a file was created but never filled.
    Empty,
    /// Only JSON whitespace (spaces, tabs, line breaks).
    Blank {
        /// The length of the text.
        len: usize,
    },
    /// NUL bytes: what a torn write on ext4 and similar file systems leaves.
    Nul {
        /// The byte offset of the first NUL.
        at: usize,
    },
    /// Not JSON, or JSON cut short.
    InvalidJson(SyntaxError),
    /// Valid JSON, but not an object.
    NotAnObject(&'static str),
    /// An object without an `offset` field.
    MissingOffset,
    /// `offset` is a JSON value of the wrong kind (string, bool, null…).
    OffsetNotANumber(&'static str),
    /// `offset` is a negative number.
    NegativeOffset(String),
    /// `offset` is a number with a fraction or an exponent (even `5.0`: Python
    /// pipelines write integers, so a float means someone else wrote the record).
    FractionalOffset(String),
    /// `offset` is an integer too large for 64 bits.
    OffsetOverflow(String),
    /// `written_at` is present but not a number.
    WrittenAtNotANumber(&'static str),
}

impl fmt::Display for RecordFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordFault::Empty => f.write_str("record is empty (0 bytes)"),
            RecordFault::Blank { len } => write!(f, "record is blank ({len} bytes of whitespace)"),
            RecordFault::Nul { at } => {
                write!(
                    f,
                    "record contains a NUL byte at byte {at} (torn or zero-filled write)"
                )
            }
            RecordFault::InvalidJson(e) => write!(f, "record is not valid JSON: {e}"),
            RecordFault::NotAnObject(kind) => write!(f, "record is a JSON {kind}, not an object"),
            RecordFault::MissingOffset => f.write_str("record has no \"offset\" field"),
            RecordFault::OffsetNotANumber(kind) => {
                write!(f, "\"offset\" is a {kind}, not an integer")
            }
            RecordFault::NegativeOffset(n) => write!(f, "\"offset\" is negative: {n}"),
            RecordFault::FractionalOffset(x) => write!(f, "\"offset\" is not an integer: {x}"),
            RecordFault::OffsetOverflow(x) => {
                write!(f, "\"offset\" does not fit in 64 bits: {x}")
            }
            RecordFault::WrittenAtNotANumber(kind) => {
                write!(f, "\"written_at\" is a {kind}, not a number")
            }
        }
    }
}

/// Writes the record for `offset` written at `now` into `out`, replacing its contents.
///
/// Hand-formatted rather than serialized: it runs on every batch, and the two numbers
/// need no escaping. `written_at` is printed as `seconds.micros`, which every JSON
/// reader (Python's included) parses as a float, never as an integer.
///
/// The record is assembled in a stack buffer and appended once, and the digits are
/// produced two at a time with 32-bit arithmetic: compiled to wasm, every piece pushed
/// separately costs a `memory.copy` call, and a 64-bit division by 10 stays a real
/// `div` instruction (tens of cycles), where a 32-bit one becomes a multiplication.
pub fn encode(offset: u64, now: WallTime, out: &mut String) {
    let mut record = RecordBuf {
        bytes: [0; MAX_RECORD_LEN],
        len: 0,
    };
    record.push(b"{\"offset\":");
    record.push_u64(offset);
    record.push(b",\"written_at\":");
    record.push_u64(now.seconds);
    record.push(b".");
    let micros = now.nanoseconds.min(999_999_999) / 1_000;
    record.push_pair(micros / 10_000);
    record.push_pair(micros / 100 % 100);
    record.push_pair(micros % 100);
    record.push(b"}");
    out.clear();
    // Only ASCII was written, so this never falls back.
    out.push_str(core::str::from_utf8(record.filled()).unwrap_or_default());
}

/// The longest record: `{"offset":`, 20 digits, `,"written_at":`, 20 digits, `.`, six
/// digits and `}`.
const MAX_RECORD_LEN: usize = 10 + 20 + 14 + 20 + 1 + 6 + 1;

/// "00" to "99": the digits of every number below 100, two bytes each.
const DIGIT_PAIRS: &[u8; 200] = b"\
    0001020304050607080910111213141516171819\
    2021222324252627282930313233343536373839\
    4041424344454647484950515253545556575859\
    6061626364656667686970717273747576777879\
    8081828384858687888990919293949596979899";

/// A record being assembled: `bytes[..len]` is written.
struct RecordBuf {
    bytes: [u8; MAX_RECORD_LEN],
    len: usize,
}

impl RecordBuf {
    fn filled(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    fn push(&mut self, text: &[u8]) {
        self.bytes[self.len..self.len + text.len()].copy_from_slice(text);
        self.len += text.len();
    }

    /// Appends `n`, which is below 100, as exactly two digits.
    fn push_pair(&mut self, n: u32) {
        let at = n as usize * 2;
        self.push(&DIGIT_PAIRS[at..at + 2]);
    }

    /// Appends `n` in decimal, without leading zeros.
    fn push_u64(&mut self, n: u64) {
        let digits = n.checked_ilog10().map_or(1, |log| log as usize + 1);
        let end = self.len + digits;
        write_digits_backwards(&mut self.bytes[self.len..end], n);
        self.len = end;
    }
}

/// Fills `digits`, which is exactly as long as `n` has decimal digits, with `n`.
fn write_digits_backwards(digits: &mut [u8], mut n: u64) {
    let mut end = digits.len();
    // At most twice (u64::MAX has 20 digits): each 64-bit division peels off eight
    // digits, so the rest can be done in 32 bits.
    while n > u64::from(u32::MAX) {
        let mut low = (n % 100_000_000) as u32;
        n /= 100_000_000;
        for _ in 0..4 {
            let at = (low % 100) as usize * 2;
            low /= 100;
            end -= 2;
            digits[end..end + 2].copy_from_slice(&DIGIT_PAIRS[at..at + 2]);
        }
    }
    let mut n = n as u32;
    while n >= 100 {
        let at = (n % 100) as usize * 2;
        n /= 100;
        end -= 2;
        digits[end..end + 2].copy_from_slice(&DIGIT_PAIRS[at..at + 2]);
    }
    if n >= 10 {
        let at = n as usize * 2;
        digits[end - 2..end].copy_from_slice(&DIGIT_PAIRS[at..at + 2]);
    } else {
        digits[end - 1] = b'0' + n as u8;
    }
}

/// Decodes stored text into a record, or says precisely what is wrong with it.
///
/// Numbers are judged from their JSON text rather than converted through `f64`: an
/// offset of `18446744073709551616` is reported as too large, not rounded.
pub fn decode(text: &str) -> Result<Record, RecordFault> {
    if text.is_empty() {
        return Err(RecordFault::Empty);
    }
    if let Some(at) = text.bytes().position(|b| b == 0) {
        return Err(RecordFault::Nul { at });
    }
    // JSON's own whitespace only: other blank characters are not JSON at all.
    if text.trim_matches([' ', '\t', '\n', '\r']).is_empty() {
        return Err(RecordFault::Blank { len: text.len() });
    }
    let document = json::parse(text).map_err(RecordFault::InvalidJson)?;
    if document.top.kind != Kind::Object {
        return Err(RecordFault::NotAnObject(document.top.kind.name()));
    }
    let offset = match document.field("offset") {
        None => return Err(RecordFault::MissingOffset),
        Some(raw) => offset_of(raw)?,
    };
    let written_at = match document.field("written_at") {
        None => None,
        Some(Raw {
            kind: Kind::Number,
            text,
        }) => Some(text.to_string()),
        Some(raw) => return Err(RecordFault::WrittenAtNotANumber(raw.kind.name())),
    };
    Ok(Record { offset, written_at })
}

fn offset_of(raw: Raw<'_>) -> Result<u64, RecordFault> {
    if raw.kind != Kind::Number {
        return Err(RecordFault::OffsetNotANumber(raw.kind.name()));
    }
    let text = raw.text;
    if text.starts_with('-') {
        return Err(RecordFault::NegativeOffset(text.to_string()));
    }
    if text.contains(['.', 'e', 'E']) {
        return Err(RecordFault::FractionalOffset(text.to_string()));
    }
    // The scanner has checked the grammar: what is left is a run of ASCII digits.
    text.bytes()
        .try_fold(0u64, |n, digit| {
            n.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
        })
        .ok_or_else(|| RecordFault::OffsetOverflow(text.to_string()))
}

#[cfg(test)]
#[path = "record_tests.rs"]
mod tests;
