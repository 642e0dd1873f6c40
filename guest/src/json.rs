//! A strict JSON scanner (RFC 8259) that validates a whole text and hands back the raw
//! text of the top-level object's members, without converting any number.
//!
//! Why not serde_json: its error paths format floats, which drags core's float
//! printing (about 20 KB) into the component, and the checkpoint decoder needs no
//! conversion at all; it judges `offset` from its digits. The host's tests check this
//! scanner against serde_json on arbitrary inputs.

use alloc::vec::Vec;
use core::fmt;

/// Objects and arrays nested deeper than this are refused rather than recursed into,
/// so no input can exhaust the component's stack.
pub const MAX_DEPTH: usize = 128;

/// The kind of a JSON value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `{…}`
    Object,
    /// `[…]`
    Array,
    /// `"…"`
    String,
    /// A number.
    Number,
    /// `true` or `false`.
    Boolean,
    /// `null`.
    Null,
}

impl Kind {
    /// The kind's name, as error messages use it.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Object => "object",
            Kind::Array => "array",
            Kind::String => "string",
            Kind::Number => "number",
            Kind::Boolean => "boolean",
            Kind::Null => "null",
        }
    }
}

/// A value's kind and its exact text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Raw<'a> {
    /// What kind of value it is.
    pub kind: Kind,
    /// The value's text, without surrounding whitespace.
    pub text: &'a str,
}

/// A top-level member of an object: its key's raw text (between the quotes, escapes
/// undecoded) and its value.
#[derive(Debug, Clone, Copy)]
pub struct Member<'a> {
    key: &'a str,
    /// The member's value.
    pub value: Raw<'a>,
}

impl Member<'_> {
    /// Whether the member's key, escapes decoded, is `name` (an ASCII name).
    pub fn is(&self, name: &str) -> bool {
        decoded_key_equals(self.key, name)
    }
}

/// A parsed document: the top-level value, and its members if it is an object.
#[derive(Debug)]
pub struct Document<'a> {
    /// The top-level value.
    pub top: Raw<'a>,
    /// The top-level object's members in order (empty if the top is not an object).
    pub members: Vec<Member<'a>>,
}

impl<'a> Document<'a> {
    /// The value of the last member named `name`: like Python's `json`, a repeated key
    /// takes its last value.
    pub fn field(&self, name: &str) -> Option<Raw<'a>> {
        self.members
            .iter()
            .rev()
            .find(|m| m.is(name))
            .map(|m| m.value)
    }
}

/// Where and why the text is not JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyntaxError {
    /// Byte offset of the fault.
    pub at: usize,
    /// What was expected or found there.
    pub what: &'static str,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.what, self.at)
    }
}

/// Validates `text` as one JSON value and returns its top-level members.
pub fn parse(text: &str) -> Result<Document<'_>, SyntaxError> {
    let mut scanner = Scanner {
        bytes: text.as_bytes(),
        text,
        pos: 0,
    };
    let mut members = Vec::new();
    scanner.skip_ws();
    let top = scanner.value(0, Some(&mut members))?;
    scanner.skip_ws();
    if scanner.pos != scanner.bytes.len() {
        return Err(scanner.error("unexpected text after the JSON value"));
    }
    Ok(Document { top, members })
}

struct Scanner<'a> {
    bytes: &'a [u8],
    text: &'a str,
    pos: usize,
}

impl<'a> Scanner<'a> {
    fn error(&self, what: &'static str) -> SyntaxError {
        let what = if self.pos >= self.bytes.len() {
            "unexpected end of text (truncated?)"
        } else {
            what
        };
        SyntaxError { at: self.pos, what }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn expect(&mut self, byte: u8, what: &'static str) -> Result<(), SyntaxError> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(what))
        }
    }

    /// Scans one value at the current position. `members`, when given, collects the
    /// members of the value if it is an object (only the top level asks).
    fn value(
        &mut self,
        depth: usize,
        members: Option<&mut Vec<Member<'a>>>,
    ) -> Result<Raw<'a>, SyntaxError> {
        let start = self.pos;
        let kind = match self.peek() {
            Some(b'{') => {
                self.object(depth + 1, members)?;
                Kind::Object
            }
            Some(b'[') => {
                self.array(depth + 1)?;
                Kind::Array
            }
            Some(b'"') => {
                self.string()?;
                Kind::String
            }
            Some(b'-' | b'0'..=b'9') => {
                self.number()?;
                Kind::Number
            }
            Some(b't') => self.literal("true", Kind::Boolean)?,
            Some(b'f') => self.literal("false", Kind::Boolean)?,
            Some(b'n') => self.literal("null", Kind::Null)?,
            _ => return Err(self.error("expected a JSON value")),
        };
        Ok(Raw {
            kind,
            text: &self.text[start..self.pos],
        })
    }

    fn literal(&mut self, word: &'static str, kind: Kind) -> Result<Kind, SyntaxError> {
        for &expected in word.as_bytes() {
            self.expect(expected, "invalid literal")?;
        }
        Ok(kind)
    }

    fn object(
        &mut self,
        depth: usize,
        mut members: Option<&mut Vec<Member<'a>>>,
    ) -> Result<(), SyntaxError> {
        if depth > MAX_DEPTH {
            return Err(self.error("nested too deeply"));
        }
        self.pos += 1;
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a string key"));
            }
            let key_start = self.pos + 1;
            self.string()?;
            let key = &self.text[key_start..self.pos - 1];
            self.skip_ws();
            self.expect(b':', "expected ':' after a key")?;
            self.skip_ws();
            let value = self.value(depth, None)?;
            if let Some(members) = members.as_deref_mut() {
                members.push(Member { key, value });
            }
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.error("expected ',' or '}' in an object")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<(), SyntaxError> {
        if depth > MAX_DEPTH {
            return Err(self.error("nested too deeply"));
        }
        self.pos += 1;
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.skip_ws();
            self.value(depth, None)?;
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.error("expected ',' or ']' in an array")),
            }
        }
    }

    fn string(&mut self) -> Result<(), SyntaxError> {
        self.pos += 1;
        loop {
            match self.peek() {
                None => return Err(self.error("unterminated string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                            self.pos += 1
                        }
                        Some(b'u') => {
                            self.pos += 1;
                            for _ in 0..4 {
                                match self.peek() {
                                    Some(b) if b.is_ascii_hexdigit() => self.pos += 1,
                                    _ => return Err(self.error("invalid \\u escape")),
                                }
                            }
                        }
                        _ => return Err(self.error("invalid escape in a string")),
                    }
                }
                Some(0..=0x1f) => return Err(self.error("control character in a string")),
                Some(_) => self.pos += 1,
            }
        }
    }

    fn number(&mut self) -> Result<(), SyntaxError> {
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.error("expected a digit")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            self.one_or_more_digits()?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            self.one_or_more_digits()?;
        }
        Ok(())
    }

    fn one_or_more_digits(&mut self) -> Result<(), SyntaxError> {
        match self.peek() {
            Some(b'0'..=b'9') => {
                self.digits();
                Ok(())
            }
            _ => Err(self.error("expected a digit")),
        }
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
    }
}

/// Compares a validated key's raw text, decoding its escapes, with an ASCII `name`.
fn decoded_key_equals(raw: &str, name: &str) -> bool {
    let raw = raw.as_bytes();
    let mut i = 0;
    for &want in name.as_bytes() {
        let got = match raw.get(i) {
            None => return false,
            Some(b'\\') => {
                let (decoded, len) = decode_escape(&raw[i + 1..]);
                i += 1 + len;
                decoded
            }
            Some(&b) => {
                i += 1;
                Some(b)
            }
        };
        if got != Some(want) {
            return false;
        }
    }
    i == raw.len()
}

/// Decodes the escape after a backslash to an ASCII byte (`None` if it is not
/// ASCII) and says how many bytes it spans. The scanner has validated the escape.
fn decode_escape(rest: &[u8]) -> (Option<u8>, usize) {
    match rest.first() {
        Some(b'u') => {
            let code = rest[1..5.min(rest.len())].iter().fold(0u32, |code, &h| {
                code * 16 + (h as char).to_digit(16).unwrap_or(0)
            });
            (u8::try_from(code).ok().filter(u8::is_ascii), 5)
        }
        Some(b'b') => (Some(0x08), 1),
        Some(b'f') => (Some(0x0c), 1),
        Some(b'n') => (Some(b'\n'), 1),
        Some(b'r') => (Some(b'\r'), 1),
        Some(b't') => (Some(b'\t'), 1),
        Some(&other) => (Some(other), 1),
        None => (None, 0),
    }
}

#[cfg(test)]
#[path = "json_tests.rs"]
mod tests;
