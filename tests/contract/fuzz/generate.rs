//! The grammar-aware generator: JSON-ish records with every key spelling, number
//! shape, string escape and nesting depth that matters to the decoder.
//!
//! The grammar generator draws a "sloppiness" per document: half the documents are
//! valid JSON grammar throughout (so they reach the record checks: keys, offsets,
//! repeats), the others break the grammar at a few places or at many.

use crate::seeded::Rng;

/// Valid number texts at the edges of u64 and f64 (and beyond f64), space-separated.
const EDGE_NUMBERS: &str = "0 -0 1 -1 5.0 0.0 1e3 1E+3 1e-2 5E0 -5 1764230400.123456
    18446744073709551614 18446744073709551615 18446744073709551616 99999999999999999999
    -18446744073709551615 -9223372036854775809 1e400 -1e400 1E400 1e-400 4.9e-324
    1.7976931348623157e308 1.8e308 0e99999999999999999999 1e99999999999999999999
    1e-99999999999999999999";

/// Number-like texts that JSON refuses (Python accepts the last three), space-separated.
const BAD_NUMBERS: &str =
    "00 007 01.5 1. .5 - +1 --1 1e 1e+ 1.e5 0x10 1_000 \u{0661} \u{ff11} NaN Infinity -Infinity";

/// `offset`, raw and escaped: every one of these names the offset.
const OFFSET_KEYS: &[&str] = &[
    "offset",
    r"\u006fffset",
    r"\u006Fff\u0073et",
    r"off\u0073et",
    r"\u006f\u0066\u0066\u0073\u0065\u0074",
];
/// Keys that nearly name the offset, and do not.
const NEAR_MISS_KEYS: &[&str] = &[
    "Offset",
    "offset ",
    "offse",
    "offsets",
    r"\u016fffset",
    r"offset\u0000",
    r"of\/fset",
    "öffset",
];
const WRITTEN_AT_KEYS: &[&str] = &["written_at", "written_at", r"written\u005fat", "writtenAt"];
const OTHER_KEYS: &[&str] = &["last_read_at", "id", "", "k", "é😀", r"\ud800", r"a\nb"];

/// A document being generated.
pub struct Gen<'r> {
    pub rng: &'r mut Rng,
    /// Percent of choices that break the grammar on purpose.
    pub sloppy: u64,
    pub out: String,
}

impl Gen<'_> {
    fn sloppy(&mut self) -> bool {
        self.sloppy > 0 && self.rng.percent(self.sloppy)
    }

    /// Whitespace, mostly JSON's own, sometimes characters that only look like it.
    fn ws(&mut self) {
        if self.rng.percent(70) {
            return;
        }
        for _ in 0..self.rng.between(1, 3) {
            let c = if self.sloppy() {
                self.rng
                    .pick(&['\x0b', '\x0c', '\u{a0}', '\u{feff}', '\u{2028}', '\u{3000}'])
            } else {
                self.rng.pick(&[' ', '\n', '\t', '\r'])
            };
            self.out.push(c);
        }
    }

    fn number(&mut self) {
        let rng = &mut *self.rng;
        let text = match rng.below(6) {
            0 => rng.between(0, 1000).to_string(),
            1 => rng.next_u64().to_string(),
            2 => word(rng, EDGE_NUMBERS),
            3 => {
                // A long run of digits: beyond u64, and sometimes beyond f64.
                let len = rng.between(19, 400);
                let mut digits = rng.between(1, 9).to_string();
                digits.extend((1..len).map(|_| char::from(b'0' + rng.below(10) as u8)));
                digits
            }
            _ => {
                // Sign, integer, fraction and exponent, each part present or not.
                let mut n = String::new();
                if rng.percent(20) {
                    n.push('-');
                }
                n.push_str(&rng.between(0, 99_999).to_string());
                if rng.percent(40) {
                    n.push('.');
                    n.push_str(&rng.between(0, 999_999).to_string());
                }
                if rng.percent(40) {
                    n.push(rng.pick(&['e', 'E']));
                    n.push_str(rng.pick(&["", "+", "-"]));
                    let most = rng.pick(&[0, 3, 20, 307, 308, 309, 400, 1_000_000]);
                    n.push_str(&rng.between(0, most).to_string());
                }
                n
            }
        };
        let text = if self.sloppy() {
            word(self.rng, BAD_NUMBERS)
        } else {
            text
        };
        self.out.push_str(&text);
    }

    /// A JSON string, quotes included, from pieces that exercise every escape:
    /// surrogates alone, paired, reversed and followed by other escapes.
    fn string(&mut self) {
        self.out.push('"');
        for _ in 0..self.rng.below(5) {
            let rng = &mut *self.rng;
            let piece = match rng.below(9) {
                0..=2 => rng
                    .pick(&["a", "id", "m-1", " ", "é", "😀", "\u{2028}", "\u{7f}"])
                    .into(),
                3 => rng
                    .pick(&[r#"\""#, r"\\", r"\/", r"\b", r"\f", r"\n", r"\r", r"\t"])
                    .into(),
                4 => {
                    // Any BMP code point but the surrogates, in either case of hex.
                    let code = rng.between(0, 0xffff - 0x800) as u32;
                    let code = if code >= 0xd800 { code + 0x800 } else { code };
                    if rng.percent(50) {
                        format!("\\u{code:04x}")
                    } else {
                        format!("\\u{code:04X}")
                    }
                }
                5 => format!(
                    "\\u{:04x}\\u{:04x}",
                    rng.between(0xd800, 0xdbff),
                    rng.between(0xdc00, 0xdfff)
                ),
                6 => format!("\\u{:04x}", rng.between(0xd800, 0xdbff)),
                7 => format!("\\u{:04x}", rng.between(0xdc00, 0xdfff)),
                _ => {
                    let (low, high) = (rng.between(0xdc00, 0xdfff), rng.between(0xd800, 0xdbff));
                    match rng.below(3) {
                        0 => format!("\\u{low:04x}\\u{high:04x}"),
                        1 => format!("\\u{high:04x}\\n"),
                        _ => format!("\\u{high:04x}\\u{high:04x}"),
                    }
                }
            };
            self.out.push_str(&piece);
            if self.sloppy() {
                let bad = match self.rng.below(3) {
                    0 => self
                        .rng
                        .pick(&[r"\x", r"\'", r"\U0041", r"\u12", r"\u12G4", r"\u", "\""])
                        .to_owned(),
                    1 => char::from(self.rng.between(0, 0x1f) as u8).to_string(),
                    _ => "\\".into(),
                };
                self.out.push_str(&bad);
            }
        }
        if !self.sloppy() {
            self.out.push('"');
        }
    }

    /// Any value, nested at most `budget` more levels, or (one time in twenty) a
    /// deeply nested one.
    pub fn value(&mut self, budget: usize) {
        let choice = if budget == 0 {
            self.rng.below(13)
        } else {
            self.rng.below(20)
        };
        match choice {
            0..=6 => self.number(),
            7..=10 => self.string(),
            11 | 12 if self.sloppy() => {
                let typo = self
                    .rng
                    .pick(&["tru", "nul", "True", "None", "falsey", "nulll"]);
                self.out.push_str(typo);
            }
            11 | 12 => self.out.push_str(self.rng.pick(&["true", "false", "null"])),
            13..=15 => {
                self.out.push('[');
                for i in 0..self.rng.below(4) {
                    if i > 0 {
                        self.out.push(',');
                    }
                    self.ws();
                    self.value(budget - 1);
                    self.ws();
                }
                self.close(']');
            }
            16..=18 => {
                self.out.push('{');
                for i in 0..self.rng.below(4) {
                    if i > 0 {
                        self.out.push(',');
                    }
                    self.key(OTHER_KEYS);
                    self.member_value(budget - 1);
                }
                self.close('}');
            }
            _ => self.deep(),
        }
    }

    /// Closes an array or object, sometimes after a trailing comma.
    fn close(&mut self, closer: char) {
        if self.sloppy() {
            self.out.push(',');
        }
        self.out.push(closer);
    }

    fn key(&mut self, names: &[&str]) {
        self.ws();
        if self.rng.percent(90) {
            let name = self.rng.pick(names);
            self.out.push('"');
            self.out.push_str(name);
            self.out.push('"');
        } else {
            self.string();
        }
        self.ws();
    }

    fn member_value(&mut self, budget: usize) {
        if !self.sloppy() {
            self.out.push(':');
        }
        self.ws();
        self.value(budget);
        self.ws();
    }

    /// Arrays and objects nested to a depth around the scanner's limit of 128
    /// (counting the record object as one), sometimes far beyond, sometimes unclosed.
    fn deep(&mut self) {
        let depth = match self.rng.below(4) {
            0 => self.rng.between(1, 140),
            1 | 2 => self.rng.between(124, 130),
            _ => self.rng.between(200, 2000),
        };
        let mut closers = Vec::new();
        for _ in 0..depth {
            if self.rng.percent(70) {
                self.out.push('[');
                closers.push(']');
            } else {
                self.out.push_str("{\"k\":");
                closers.push('}');
            }
        }
        self.number();
        if !self.sloppy() {
            self.out.extend(closers.iter().rev());
        }
    }

    /// A record-shaped object: `offset` (usually), `written_at` and other members in
    /// any order, some repeated; sometimes any other value instead.
    pub fn document(&mut self) {
        self.ws();
        if self.rng.percent(8) {
            self.value(3);
        } else {
            self.out.push('{');
            let members = self.rng.below(5);
            let offset_at = if self.rng.percent(92) {
                self.rng.below(members + 1)
            } else {
                usize::MAX
            };
            for i in 0..=members {
                if i > 0 {
                    self.out.push(',');
                }
                if i == offset_at || self.rng.percent(10) {
                    let keys = if self.rng.percent(88) {
                        OFFSET_KEYS
                    } else {
                        NEAR_MISS_KEYS
                    };
                    self.key(keys);
                    if self.rng.percent(85) {
                        self.out.push(':');
                        self.ws();
                        if self.rng.percent(60) {
                            // A plain integer of any magnitude, as writers store it.
                            let offset = self.rng.next_u64() >> self.rng.below(64);
                            self.out.push_str(&offset.to_string());
                        } else {
                            self.number();
                        }
                        self.ws();
                    } else {
                        self.member_value(2);
                    }
                } else if self.rng.percent(40) {
                    self.key(WRITTEN_AT_KEYS);
                    let budget = if self.rng.percent(80) { 0 } else { 2 };
                    self.member_value(budget);
                } else {
                    self.key(OTHER_KEYS);
                    self.member_value(2);
                }
            }
            self.close('}');
        }
        self.ws();
    }
}

/// A grammar-aware document: valid grammar half the time, broken in a few places or
/// in many otherwise, and damaged after the fact now and then.
pub fn grammar(rng: &mut Rng) -> String {
    let sloppy = rng.pick(&[0, 0, 0, 0, 1, 3, 10, 30]);
    let mut generator = Gen {
        rng,
        sloppy,
        out: String::new(),
    };
    generator.document();
    let mut text = generator.out;
    if rng.percent(10) {
        super::mutate::mutate(rng, &mut text);
    }
    text
}

/// A random word of the space-separated `words`.
fn word(rng: &mut Rng, words: &str) -> String {
    let words: Vec<&str> = words.split_ascii_whitespace().collect();
    rng.pick(&words).to_owned()
}
