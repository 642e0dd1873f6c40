//! The sink's check on resume: by content, line by line against the source, in one
//! streaming pass.
//!
//! A count of lines cannot tell a sink that holds each message once from one with a
//! hundred lines doubled and a hundred missing, or from another pipeline's. So every
//! complete line must be, byte for byte, the source's message at its position. Lines
//! past the durable checkpoint are checked too (they are cut, and their messages
//! processed again): anything else there is not this pipeline's output either.

use std::io::{BufRead, BufReader, Read};

use pipeline_checkpoint_host::backends::logs::Logs;

use super::PipelineError;
use super::source::{MAX_LINE_BYTES, Source};

/// What the sink holds, once checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SinkCheck {
    /// Its complete lines: source messages 1 to `lines`.
    pub lines: u64,
    /// The length of its first `keep` lines, in bytes: where to cut it.
    pub keep_bytes: u64,
}

/// Checks the sink, log `name` of `logs`, against `source`, and measures its first
/// `keep` lines. A missing sink holds nothing. Refused, naming the line: a line that is not the
/// source's message at its position (edited, duplicated, out of order, foreign), more
/// lines than the source has, a symbolic link or anything but a regular file.
pub fn check(
    logs: &dyn Logs,
    name: &str,
    source: &Source,
    keep: u64,
) -> Result<SinkCheck, PipelineError> {
    let fault = |line: Option<u64>, reason: String| PipelineError::Sink {
        sink: logs.describe(name),
        line,
        reason,
    };
    let Some(file) = logs.reader(name).map_err(|e| fault(None, e.text()))? else {
        return Ok(SinkCheck {
            lines: 0,
            keep_bytes: 0,
        });
    };
    let mut reader = BufReader::new(file);
    let mut messages = source.messages()?;
    let (mut lines, mut bytes, mut keep_bytes) = (0u64, 0u64, 0u64);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let read = (&mut reader)
            .take(MAX_LINE_BYTES as u64 + 2)
            .read_until(b'\n', &mut buf)
            .map_err(|e| fault(Some(lines + 1), e.to_string()))?;
        if read == 0 || !buf.ends_with(b"\n") && read <= MAX_LINE_BYTES {
            // The end, or a partial last line: an append a crash cut short, never
            // reported done, which opening the sink for appending cuts off.
            break;
        }
        let number = lines + 1;
        let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
        let Some(expected) = messages.next() else {
            return Err(fault(
                Some(number),
                format!(
                    "the sink has more lines than the source's {} messages: is this the right \
                     state directory for this source?",
                    lines
                ),
            ));
        };
        let (_, expected) = expected?;
        if line != expected.line.as_bytes() {
            return Err(fault(
                Some(number),
                format!(
                    "is not message {number} of the source (id {:?}): the sink was edited, has \
                     lines doubled or missing, or is another pipeline's; restore it, or move \
                     it away and reset the checkpoint",
                    expected.id
                ),
            ));
        }
        lines = number;
        bytes += read as u64;
        if lines == keep {
            keep_bytes = bytes;
        }
    }
    Ok(SinkCheck { lines, keep_bytes })
}
