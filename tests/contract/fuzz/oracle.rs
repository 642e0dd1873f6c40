//! The differential oracle: the product's scanner against serde_json, with the three
//! known, intended differences accounted for explicitly rather than filtered out.
//!
//! 1. **Lone UTF-16 surrogates** in `\u` escapes (`"\ud800"`, `"\udc00\ud800"`): valid
//!    JSON grammar (RFC 8259 section 8.2 allows them), accepted by the scanner and by
//!    Python's `json`; serde_json refuses them because a Rust `String` cannot hold
//!    them.
//! 2. **Numbers beyond f64** (`1e400`, a 400-digit integer): valid grammar, accepted by
//!    the scanner (which converts no number) and by Python (as `inf`, or an int);
//!    serde_json refuses them as "number out of range".
//! 3. **Nesting of exactly 128 levels**: the scanner's limit is 128, serde_json's
//!    recursion limit refuses 128 and allows 127. Deeper than 128, both refuse.
//!
//! A text the scanner accepts but serde_json refuses counts as a known difference
//! only if rewriting its lone surrogates to `\ufffd` and its out-of-range numbers to
//! `0.0` makes serde_json accept it (1 and 2), or if it is nested exactly 128 deep
//! and serde_json names its recursion limit (3). The rewrite keeps every `offset`
//! judgement: `0.0` is a float, refused as an offset just like the number it replaces.

use serde_json::Value;

/// How the scanner's and serde_json's verdicts on a text relate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    BothAccept,
    BothRefuse,
    /// Only serde_json refuses, because of lone surrogates.
    KnownSurrogate,
    /// Only serde_json refuses, because of numbers beyond f64.
    KnownRange,
    /// Only serde_json refuses, because of both.
    KnownSurrogateAndRange,
    /// Only serde_json refuses, because the text is nested exactly 128 deep.
    KnownDepth128,
}

/// The verdict on `text`, and serde_json's value of it (of the rewritten text for a
/// known difference; none when serde_json cannot represent it). `Err` says how the
/// two disagree beyond the known differences.
pub fn judge(text: &str) -> Result<(Verdict, Option<Value>), String> {
    let ours = pipeline_checkpoint_guest::json::parse(text);
    let theirs = serde_json::from_str::<Value>(text);
    match (ours, theirs) {
        (Ok(_), Ok(value)) => Ok((Verdict::BothAccept, Some(value))),
        (Err(_), Err(_)) => Ok((Verdict::BothRefuse, None)),
        (Err(ours), Ok(_)) => Err(format!("serde_json accepts, the scanner refuses: {ours}")),
        (Ok(_), Err(theirs)) => {
            let rewritten = Rewritten::of(text);
            let again = serde_json::from_str::<Value>(&rewritten.text);
            if rewritten.depth == 128 {
                return match again {
                    Err(e) if e.to_string().starts_with("recursion limit exceeded") => {
                        Ok((Verdict::KnownDepth128, None))
                    }
                    other => Err(format!("128 deep, yet serde_json says {other:?}")),
                };
            }
            let verdict = match (rewritten.surrogates > 0, rewritten.out_of_range > 0) {
                (true, false) => Verdict::KnownSurrogate,
                (false, true) => Verdict::KnownRange,
                (true, true) => Verdict::KnownSurrogateAndRange,
                (false, false) => {
                    return Err(format!("the scanner accepts, serde_json refuses: {theirs}"));
                }
            };
            match again {
                Ok(value) => Ok((verdict, Some(value))),
                Err(e) => Err(format!(
                    "the scanner accepts, serde_json refuses: {theirs}; and after rewriting \
                     the known differences: {e} in {:?}",
                    rewritten.text
                )),
            }
        }
    }
}

/// What a record decoder must return for a document serde_json parsed: the `offset`
/// of an object (the last one, if repeated) when it is a JSON integer that fits in a
/// u64 and `written_at` is absent or a number; otherwise a refusal (`None`).
pub fn expected_offset(value: &Value) -> Option<u64> {
    let object = value.as_object()?;
    let offset = object.get("offset")?.as_u64()?;
    match object.get("written_at") {
        None | Some(Value::Number(_)) => Some(offset),
        Some(_) => None,
    }
}

/// A text the scanner accepted, with its known differences rewritten away.
struct Rewritten {
    text: String,
    surrogates: usize,
    out_of_range: usize,
    /// The deepest nesting of arrays and objects.
    depth: usize,
}

impl Rewritten {
    /// Walks `text`, which must be valid JSON grammar: only then are the string and
    /// number boundaries found here the real ones.
    fn of(text: &str) -> Self {
        let b = text.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let (mut surrogates, mut out_of_range, mut depth, mut deepest) = (0, 0, 0, 0);
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'"' => {
                    out.push(b'"');
                    i += 1;
                    while b[i] != b'"' {
                        if b[i] != b'\\' {
                            out.push(b[i]);
                            i += 1;
                        } else if b[i + 1] != b'u' {
                            out.extend_from_slice(&b[i..i + 2]);
                            i += 2;
                        } else {
                            let code = hex4(&b[i + 2..i + 6]);
                            let paired = (0xd800..0xdc00).contains(&code)
                                && b.get(i + 6..i + 8) == Some(b"\\u")
                                && (0xdc00..0xe000).contains(&hex4(&b[i + 8..i + 12]));
                            if paired {
                                out.extend_from_slice(&b[i..i + 12]);
                                i += 12;
                            } else if (0xd800..0xe000).contains(&code) {
                                out.extend_from_slice(br"\ufffd");
                                surrogates += 1;
                                i += 6;
                            } else {
                                out.extend_from_slice(&b[i..i + 6]);
                                i += 6;
                            }
                        }
                    }
                    out.push(b'"');
                    i += 1;
                }
                b'-' | b'0'..=b'9' => {
                    let end = b[i..]
                        .iter()
                        .position(|c| !matches!(c, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'))
                        .map_or(b.len(), |n| i + n);
                    let number = &text[i..end];
                    // Rust parses every JSON number, rounding correctly; the margin below
                    // f64::MAX covers serde_json's faster, less exact conversion.
                    let x: f64 = number.parse().expect("a JSON number parses as f64");
                    if x.is_finite() && x.abs() < 1e308 {
                        out.extend_from_slice(number.as_bytes());
                    } else {
                        out.extend_from_slice(b"0.0");
                        out_of_range += 1;
                    }
                    i = end;
                }
                c => {
                    match c {
                        b'[' | b'{' => {
                            depth += 1;
                            deepest = deepest.max(depth);
                        }
                        b']' | b'}' => depth -= 1,
                        _ => {}
                    }
                    out.push(c);
                    i += 1;
                }
            }
        }
        Self {
            text: String::from_utf8(out).expect("only ASCII escapes were rewritten"),
            surrogates,
            out_of_range,
            depth: deepest,
        }
    }
}

fn hex4(digits: &[u8]) -> u32 {
    let text = std::str::from_utf8(digits).expect("hex digits");
    u32::from_str_radix(text, 16).expect("the scanner validated the escape")
}
