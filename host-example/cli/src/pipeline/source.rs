//! Where the pipeline's messages come from: a JSON Lines file, or a deterministic
//! generator.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::PipelineError;

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
    /// Loads and validates every message, so a bad source is refused before anything
    /// is processed or written.
    pub fn load(&self) -> Result<Vec<Message>, PipelineError> {
        match self {
            Source::Generated { count } => Ok((0..*count).map(generated).collect()),
            Source::File(path) => load_file(path),
        }
    }
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

#[derive(Deserialize)]
struct Line {
    id: serde_json::Value,
}

fn load_file(path: &Path) -> Result<Vec<Message>, PipelineError> {
    let bad = |line: usize, reason: String| PipelineError::Source {
        path: path.to_owned(),
        line: Some(line),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| PipelineError::Source {
        path: path.to_owned(),
        line: None,
        reason: e.to_string(),
    })?;
    let mut first_seen: HashMap<&str, usize> = HashMap::new();
    let mut messages = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let number = index + 1;
        let line = raw.trim_end_matches('\r');
        if line.trim().is_empty() {
            return Err(bad(
                number,
                "empty line; each line must be a JSON object with an \"id\"".into(),
            ));
        }
        let parsed: Line = serde_json::from_str(line).map_err(|e| bad(number, e.to_string()))?;
        let id = match parsed.id {
            serde_json::Value::String(id) if !id.is_empty() => id,
            serde_json::Value::String(_) => return Err(bad(number, "\"id\" is empty".into())),
            other => {
                return Err(bad(
                    number,
                    format!("\"id\" must be a string, found {other}"),
                ));
            }
        };
        messages.push(Message {
            id,
            line: line.to_owned(),
        });
    }
    // Ids must be unique: an ack names messages by id, so two messages sharing one
    // could not be told apart.
    for (index, message) in messages.iter().enumerate() {
        if let Some(first) = first_seen.insert(&message.id, index + 1) {
            return Err(bad(
                index + 1,
                format!("duplicate id {:?} (first on line {first})", message.id),
            ));
        }
    }
    Ok(messages)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source_file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("source.jsonl");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    /// Generated ids are UUID-shaped, unique, and the same on every run.
    #[test]
    fn generated_messages_are_deterministic_unique_and_uuid_shaped() {
        let a = Source::Generated { count: 10_000 }.load().unwrap();
        let b = Source::Generated { count: 10_000 }.load().unwrap();
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
        let messages = Source::File(path).load().unwrap();
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
            let err = Source::File(path.clone()).load().unwrap_err();
            let shown = err.to_string();
            assert!(shown.contains(&path.display().to_string()), "{shown}");
            assert!(shown.contains(&format!("line {line}")), "{text:?}: {shown}");
            assert!(shown.contains(reason), "{text:?}: {shown}");
        }
    }

    /// A source that cannot be read is refused naming the file.
    #[test]
    fn unreadable_source_is_refused_naming_the_file() {
        let err = Source::File("/nonexistent/source.jsonl".into())
            .load()
            .unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/source.jsonl"),
            "{err}"
        );
    }
}
