//! Standard output that fails politely: a closed pipe (`| head -1`) ends the command
//! quietly, and any other failure to write (`> /dev/full`) is an error like any other,
//! never a panic.

use std::fmt;
use std::io::{self, Write};

/// Writing to standard output failed.
#[derive(Debug, thiserror::Error)]
#[error("writing to standard output")]
pub struct OutputError(#[source] pub io::Error);

impl OutputError {
    /// Whether the reader went away: not a failure of the command.
    pub fn is_broken_pipe(&self) -> bool {
        self.0.kind() == io::ErrorKind::BrokenPipe
    }
}

/// Writes one line to standard output.
pub fn line(args: fmt::Arguments<'_>) -> Result<(), OutputError> {
    let mut out = io::stdout().lock();
    out.write_fmt(args)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush())
        .map_err(OutputError)
}

/// `println!` that returns an [`OutputError`] instead of panicking.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::commands::output::line(format_args!($($arg)*))
    };
}
pub(crate) use say;

/// `text` with control characters escaped (a newline as `\n`, an escape sequence as
/// `\u{1b}`) and cut to `max` characters, saying how long it was: safe to print on a
/// terminal whatever a state file holds.
pub fn shown(text: &str, max: usize) -> String {
    let mut escaped = text.chars().flat_map(|c| {
        let escape: Box<dyn Iterator<Item = char>> = if c.is_control() {
            Box::new(c.escape_default())
        } else {
            Box::new(std::iter::once(c))
        };
        escape
    });
    let kept: String = escaped.by_ref().take(max).collect();
    if escaped.next().is_some() {
        format!("{kept}… ({} bytes in all)", text.len())
    } else {
        kept
    }
}
