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
pub fn encode(offset: u64, now: WallTime, out: &mut String) {
    out.clear();
    out.push_str("{\"offset\":");
    push_u64(out, offset);
    out.push_str(",\"written_at\":");
    push_u64(out, now.seconds);
    out.push('.');
    let micros = now.nanoseconds.min(999_999_999) / 1_000;
    let mut digits = [b'0'; 6];
    let mut rest = micros;
    for digit in digits.iter_mut().rev() {
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    // The six bytes are ASCII digits by construction.
    out.push_str(core::str::from_utf8(&digits).unwrap_or("000000"));
    out.push('}');
}

fn push_u64(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.push_str(core::str::from_utf8(&digits[start..]).unwrap_or("0"));
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
