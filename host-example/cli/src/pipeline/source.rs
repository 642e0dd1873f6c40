//! Where the pipeline's messages come from: a JSON Lines file, or a deterministic
//! generator. Both are read as streams, so a run's memory does not grow with them.

use std::collections::HashSet;
use std::fs::File;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::PipelineError;

/// The longest source line accepted, in bytes: a message is one line, and a line
/// longer than this is a wrong file, not a message.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// One message: its id and the exact line the sink receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The message's unique id, acknowledged once its batch is checkpointed.
    pub id: String,
    /// The message as one JSON line, without the newline.
    pub line: String,
}

/// A message source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `count` generated messages with UUID-shaped ids, the same on every run.
    Generated {
        /// How many messages.
        count: u64,
    },
    /// A JSON Lines file: one object per line, each with a unique string `"id"`.
    File(PathBuf),
}

impl Source {
    /// Checks every message without keeping any, so that a bad source is refused
    /// before anything is processed or written: each line a JSON object whose `"id"`
    /// is a non-empty string of at most `max_id_bytes`, unique in the file. Returns
    /// how many messages there are. Memory: one 64-bit hash per id.
    pub fn scan(&self, max_id_bytes: usize) -> Result<u64, PipelineError> {
        let path = match self {
            Source::Generated { count } => return Ok(*count),
            Source::File(path) => path,
        };
        let mut seen = HashSet::with_hasher(FixedState::default());
        let mut count = 0;
        for message in self.messages()? {
            let (number, message) = message?;
            if message.id.len() > max_id_bytes {
                return Err(bad(
                    path,
                    number,
                    format!(
                        "\"id\" is {} bytes; the limit is {max_id_bytes}",
                        message.id.len()
                    ),
                ));
            }
            if !seen.insert(seen.hasher().hash_one(&message.id)) {
                // Equal hashes: find the first line with this id to be sure, and to say
                // where it is (a rare second pass, only on a duplicate or a collision).
                if let Some(first) = first_line_with(path, &message.id, number)? {
                    return Err(bad(
                        path,
                        number,
                        format!("duplicate id {:?} (first on line {first})", message.id),
                    ));
                }
            }
            count += 1;
        }
        Ok(count)
    }

    /// The messages in order, from the first, each with its 1-based line number.
    pub fn messages(&self) -> Result<Messages, PipelineError> {
        Ok(match self {
            Source::Generated { count } => Messages::Generated {
                next: 0,
                count: *count,
            },
            Source::File(path) => Messages::File {
                reader: BufReader::new(File::open(path).map_err(|e| PipelineError::Source {
                    path: path.clone(),
                    line: None,
                    reason: e.to_string(),
                })?),
                path: path.clone(),
                number: 0,
                buf: Vec::new(),
            },
        })
    }
}

/// A source read as a stream: see [`Source::messages`].
pub enum Messages {
    /// Generated messages, `next` to `count`.
    Generated {
        /// The index of the next message.
        next: u64,
        /// How many there are.
        count: u64,
    },
    /// Lines of a file.
    File {
        /// The file.
        reader: BufReader<File>,
        /// Its path, for messages.
        path: PathBuf,
        /// The number of the last line read.
        number: usize,
        /// The line being read.
        buf: Vec<u8>,
    },
}

impl Iterator for Messages {
    type Item = Result<(usize, Message), PipelineError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Messages::Generated { next, count } => {
                if next == count {
                    return None;
                }
                let message = generated(*next);
                *next += 1;
                Some(Ok((*next as usize, message)))
            }
            Messages::File {
                reader,
                path,
                number,
                buf,
            } => {
                buf.clear();
                *number += 1;
                let read = reader
                    .by_ref()
                    .take(MAX_LINE_BYTES as u64 + 2)
                    .read_until(b'\n', buf);
                match read {
                    Ok(0) => None,
                    Ok(_) => Some(parse_line(path, *number, buf).map(|m| (*number, m))),
                    Err(e) => Some(Err(bad(path, *number, e.to_string()))),
                }
            }
        }
    }
}

/// The hasher of [`Source::scan`]'s set: fixed keys, so no per-process randomness is
/// needed (the hashes never leave the process).
type FixedState = BuildHasherDefault<DefaultHasher>;

fn bad(path: &Path, line: usize, reason: String) -> PipelineError {
    PipelineError::Source {
        path: path.to_owned(),
        line: Some(line),
        reason,
    }
}

#[derive(Deserialize)]
struct Line {
    id: serde_json::Value,
}

/// Line `number` of the source, with its newline (if any) still on.
fn parse_line(path: &Path, number: usize, raw: &[u8]) -> Result<Message, PipelineError> {
    let raw = raw.strip_suffix(b"\n").unwrap_or(raw);
    let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
    if raw.len() > MAX_LINE_BYTES {
        return Err(bad(
            path,
            number,
            format!("the line is over {MAX_LINE_BYTES} bytes"),
        ));
    }
    let line = std::str::from_utf8(raw).map_err(|e| bad(path, number, e.to_string()))?;
    if line.trim().is_empty() {
        return Err(bad(
            path,
            number,
            "empty line; each line must be a JSON object with an \"id\"".into(),
        ));
    }
    let parsed: Line = serde_json::from_str(line).map_err(|e| bad(path, number, e.to_string()))?;
    let id = match parsed.id {
        serde_json::Value::String(id) if !id.is_empty() => id,
        serde_json::Value::String(_) => return Err(bad(path, number, "\"id\" is empty".into())),
        other => {
            return Err(bad(
                path,
                number,
                format!("\"id\" must be a string, found {other}"),
            ));
        }
    };
    Ok(Message {
        id,
        line: line.to_owned(),
    })
}

/// The number of the first line before `before` whose id is `id`, if any.
fn first_line_with(path: &Path, id: &str, before: usize) -> Result<Option<usize>, PipelineError> {
    for message in (Source::File(path.to_owned())).messages()? {
        let (number, message) = message?;
        if number >= before {
            break;
        }
        if message.id == id {
            return Ok(Some(number));
        }
    }
    Ok(None)
}

/// The `index`-th generated message: a UUID-shaped id (36 bytes, like most brokers'
/// ids) derived from the index, so every run generates the same stream.
pub fn generated(index: u64) -> Message {
    // splitmix64: cheap, and spreads consecutive indexes over the whole id.
    let mut z = index.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    let id = format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        z >> 32,
        (z >> 16) & 0xffff,
        z & 0xfff,
        (index >> 48) & 0xfff,
        index & 0xffff_ffff_ffff
    );
    let line = format!("{{\"id\":\"{id}\",\"seq\":{index}}}");
    Message { id, line }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scans the source, then reads it whole, as a run does.
    fn load(source: &Source) -> Result<Vec<Message>, PipelineError> {
        let count = source.scan(4096)?;
        let messages: Vec<Message> = source
            .messages()?
            .map(|m| m.map(|(_, m)| m))
            .collect::<Result<_, _>>()?;
        assert_eq!(messages.len() as u64, count);
        Ok(messages)
    }

    /// An id over the limit, a line over the limit and bytes that are not UTF-8 are
    /// refused naming the line.
    #[test]
    fn oversized_ids_and_lines_and_non_utf8_are_refused_naming_the_line() {
        let long_id = format!("{{\"id\":\"{}\"}}\n", "x".repeat(4097));
        let long_line = format!(
            "{{\"id\":\"a\",\"pad\":\"{}\"}}\n",
            "x".repeat(MAX_LINE_BYTES)
        );
        for (text, reason) in [
            (long_id.as_bytes(), "4097 bytes"),
            (long_line.as_bytes(), "over 1048576 bytes"),
            (&b"{\"id\":\"a\xff\"}\n"[..], "invalid utf-8"),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("source.jsonl");
            std::fs::write(&path, text).unwrap();
            let err = load(&Source::File(path)).unwrap_err().to_string();
            assert!(err.contains("line 1"), "{err}");
            assert!(err.to_lowercase().contains(reason), "{err}");
        }
    }

    fn source_file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("source.jsonl");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    /// Generated ids are UUID-shaped, unique, and the same on every run.
    #[test]
    fn generated_messages_are_deterministic_unique_and_uuid_shaped() {
        let a = load(&Source::Generated { count: 10_000 }).unwrap();
        let b = load(&Source::Generated { count: 10_000 }).unwrap();
        assert_eq!(a, b);
        let ids: std::collections::HashSet<_> = a.iter().map(|m| &m.id).collect();
        assert_eq!(ids.len(), a.len());
        assert!(
            a.iter()
                .all(|m| m.id.len() == 36 && m.id.matches('-').count() == 4)
        );
        let line: serde_json::Value = serde_json::from_str(&a[7].line).unwrap();
        assert_eq!(line["id"], a[7].id.as_str());
    }

    /// A file's messages keep their exact lines, in order.
    #[test]
    fn file_messages_keep_their_lines_in_order() {
        let (_dir, path) = source_file("{\"id\":\"a\",\"x\":1}\r\n{\"id\": \"b\"}\n");
        let messages = load(&Source::File(path)).unwrap();
        assert_eq!(messages[0].id, "a");
        assert_eq!(messages[0].line, "{\"id\":\"a\",\"x\":1}");
        assert_eq!(messages[1].id, "b");
    }

    /// Every malformed source is refused with its path, line and reason.
    #[test]
    fn malformed_lines_are_refused_naming_file_and_line() {
        for (text, line, reason) in [
            ("{\"id\":\"a\"}\nnot json\n", 2, "expected"),
            ("{\"id\":\"a\"}\n\n{\"id\":\"b\"}\n", 2, "empty line"),
            ("{\"x\":1}\n", 1, "missing field `id`"),
            ("{\"id\":7}\n", 1, "must be a string"),
            ("{\"id\":\"\"}\n", 1, "empty"),
            (
                "{\"id\":\"a\"}\n{\"id\":\"a\"}\n",
                2,
                "duplicate id \"a\" (first on line 1)",
            ),
        ] {
            let (_dir, path) = source_file(text);
            let err = load(&Source::File(path.clone())).unwrap_err();
            let shown = err.to_string();
            assert!(shown.contains(&path.display().to_string()), "{shown}");
            assert!(shown.contains(&format!("line {line}")), "{text:?}: {shown}");
            assert!(shown.contains(reason), "{text:?}: {shown}");
        }
    }

    /// A source that cannot be read is refused naming the file.
    #[test]
    fn unreadable_source_is_refused_naming_the_file() {
        let err = load(&Source::File("/nonexistent/source.jsonl".into())).unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/source.jsonl"),
            "{err}"
        );
    }
}
