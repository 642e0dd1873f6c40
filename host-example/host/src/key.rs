//! Validation of storage keys that the host maps to relative paths under a root
//! directory.

use crate::StorageError;

/// The longest key accepted, in bytes.
///
/// Generous for real keys, yet far below `PATH_MAX` once joined to a root directory.
pub const MAX_KEY_LEN: usize = 1024;

/// The longest segment accepted, in bytes: `NAME_MAX` on common file systems.
const MAX_SEGMENT_LEN: usize = 255;

/// How much of an over-long key an error message quotes, in characters.
const QUOTED_PREFIX_CHARS: usize = 64;

/// Checks that `key` is safe to use as a relative path under a storage root.
///
/// A key is one or more `/`-separated segments. Refused with
/// [`StorageError::InvalidKey`], whose text names the key and the rule it broke:
/// an empty key; one longer than `MAX_KEY_LEN` (1024) bytes; a leading `/` (absolute);
/// a trailing `/` or an empty segment; a `.` or `..` segment; a segment starting with
/// `.`; a segment longer than 255 bytes; a backslash; a control character.
pub fn validate_key(key: &str) -> Result<(), StorageError> {
    if key.is_empty() {
        return Err(refuse(key, "is empty"));
    }
    if key.len() > MAX_KEY_LEN {
        return Err(refuse(
            key,
            &format!("is {} bytes long; the limit is {MAX_KEY_LEN}", key.len()),
        ));
    }
    // A NUL silently truncates the path in C APIs; other control characters make names
    // that terminals and logs display misleadingly.
    if key.chars().any(char::is_control) {
        return Err(refuse(key, "contains a control character"));
    }
    // On Windows a backslash is a separator, which would let a key escape the root or
    // create a different file layout than on Unix.
    if key.contains('\\') {
        return Err(refuse(key, "contains a backslash"));
    }
    if key.starts_with('/') {
        return Err(refuse(key, "is absolute (starts with '/')"));
    }
    if key.ends_with('/') {
        return Err(refuse(key, "ends with '/'"));
    }
    for segment in key.split('/') {
        check_segment(key, segment)?;
    }
    Ok(())
}

fn check_segment(key: &str, segment: &str) -> Result<(), StorageError> {
    if segment.is_empty() {
        return Err(refuse(key, "has an empty segment ('//')"));
    }
    if segment == "." || segment == ".." {
        return Err(refuse(key, &format!("has a {segment:?} segment")));
    }
    // Hidden names are reserved for the storage's own temporary files, so a key can
    // never collide with one, and cleaning those files can never delete a value.
    if segment.starts_with('.') {
        return Err(refuse(
            key,
            &format!("has a segment starting with '.' ({segment:?})"),
        ));
    }
    if segment.len() > MAX_SEGMENT_LEN {
        return Err(refuse(
            key,
            &format!(
                "has a segment of {} bytes; the limit is {MAX_SEGMENT_LEN}",
                segment.len()
            ),
        ));
    }
    Ok(())
}

fn refuse(key: &str, rule: &str) -> StorageError {
    StorageError::InvalidKey(format!("{} {rule}", quoted(key)))
}

/// The key, Debug-quoted; an over-long key only by its start, since it may be
/// arbitrarily large and the message ends up in logs.
fn quoted(key: &str) -> String {
    if key.len() <= MAX_KEY_LEN {
        return format!("{key:?}");
    }
    let end = key
        .char_indices()
        .nth(QUOTED_PREFIX_CHARS)
        .map_or(key.len(), |(i, _)| i);
    format!("{:?}...", key.get(..end).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(key: &str) -> String {
        match validate_key(key) {
            Err(StorageError::InvalidKey(msg)) => msg,
            other => panic!("{key:?} should be refused, got {other:?}"),
        }
    }

    #[test]
    fn ordinary_relative_keys_are_accepted() {
        let long_segment = "s".repeat(MAX_SEGMENT_LEN);
        let longest = format!("{}xx", "x/".repeat(MAX_KEY_LEN / 2 - 1));
        assert_eq!(longest.len(), MAX_KEY_LEN);
        for key in [
            "pipeline/checkpoint.json",
            "a/b/c",
            "données/ckpt.json",
            "k",
            "c:/drive-letter-lookalike",
            "topic:partition-0/offset",
            "name.with.dots",
            "trailing.dot.",
            "with space/and-dash_and~tilde",
            long_segment.as_str(),
            longest.as_str(),
        ] {
            assert_eq!(validate_key(key), Ok(()), "{key:?}");
        }
    }

    #[test]
    fn each_broken_rule_is_refused_and_named() {
        let too_long = "a".repeat(MAX_KEY_LEN + 1);
        let long_segment = format!("ok/{}", "s".repeat(MAX_SEGMENT_LEN + 1));
        let cases: &[(&str, &str)] = &[
            ("", "empty"),
            (&too_long, "bytes long"),
            ("/abs", "absolute"),
            ("/", "absolute"),
            ("a/", "ends with '/'"),
            ("a//b", "empty segment"),
            (".", "\".\" segment"),
            ("..", "\"..\" segment"),
            ("../escape", "\"..\" segment"),
            ("a/./b", "\".\" segment"),
            ("a/../../b", "\"..\" segment"),
            (".hidden", "starting with '.'"),
            ("a/.ckpt.json.abc123.tmp", "starting with '.'"),
            (&long_segment, "segment of 256 bytes"),
            ("a\\b", "backslash"),
            ("..\\escape", "backslash"),
            ("a\0b", "control character"),
            ("a\nb", "control character"),
            ("tab\there", "control character"),
            ("del\u{7f}", "control character"),
            ("c1\u{85}", "control character"),
        ];
        for (key, rule) in cases {
            let msg = refusal(key);
            assert!(
                msg.contains(rule),
                "{key:?}: {msg:?} should mention {rule:?}"
            );
        }
    }

    #[test]
    fn refusal_quotes_the_key() {
        assert!(refusal("a//b").starts_with("\"a//b\" "));
        // Debug quoting keeps the message on one line and shows the offending byte.
        assert!(refusal("a\nb").starts_with("\"a\\nb\" "));
    }

    #[test]
    fn over_long_key_is_quoted_only_by_its_start() {
        let key = "é".repeat(MAX_KEY_LEN);
        let msg = refusal(&key);
        assert!(msg.len() < 300, "{msg}");
        assert!(msg.contains("2048 bytes long"), "{msg}");
    }
}
