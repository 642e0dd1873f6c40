//! The parts the networked backends' URLs share: a key prefix, and a timeout
//! (`timeout_ms`, at most [`MAX_TIMEOUT_MS`]).

use std::time::Duration;

/// The longest `timeout_ms` accepted, ten minutes: a call that may wait longer than
/// that on a silent server is a hang to whoever runs it.
pub const MAX_TIMEOUT_MS: u64 = 600_000;

/// `PREFIX/KEY`, or `KEY` under an empty prefix.
#[cfg_attr(not(any(feature = "etcd", feature = "s3")), allow(dead_code))]
pub(crate) fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}/{key}")
    }
}

/// A prefix without its trailing `/`s, refused if it has an empty segment (a leading
/// or doubled `/`), a control character or a backslash.
#[cfg_attr(not(any(feature = "etcd", feature = "s3")), allow(dead_code))]
pub(crate) fn prefix(text: &str) -> Result<String, &'static str> {
    let prefix = text.trim_end_matches('/');
    if !prefix.is_empty() && prefix.split('/').any(str::is_empty) {
        return Err("its prefix has an empty segment");
    }
    if prefix.chars().any(|c| c.is_control() || c == '\\') {
        return Err("its prefix has a control character or a backslash");
    }
    Ok(prefix.to_owned())
}

/// Checks that `authority` is `HOST:PORT`, with a host and a port from 0 to 65535.
pub(crate) fn host_port(authority: &str) -> Result<(), &'static str> {
    let port = authority
        .rsplit_once(':')
        .filter(|(host, _)| !host.is_empty())
        .ok_or("it names no HOST:PORT")?
        .1;
    port.parse::<u16>()
        .map(drop)
        .map_err(|_| "its port is not a number from 0 to 65535")
}

/// The value of a `timeout_ms` parameter: 1 to [`MAX_TIMEOUT_MS`] milliseconds.
pub(crate) fn timeout_ms(value: &str) -> Result<Duration, String> {
    value
        .parse()
        .ok()
        .filter(|ms| (1..=MAX_TIMEOUT_MS).contains(ms))
        .map(Duration::from_millis)
        .ok_or_else(|| format!("timeout_ms is not a number from 1 to {MAX_TIMEOUT_MS}"))
}
