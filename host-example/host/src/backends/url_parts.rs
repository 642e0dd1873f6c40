//! The parts the networked backends' URLs share: a key prefix, a timeout
//! (`timeout_ms`, at most [`MAX_TIMEOUT_MS`]), a user without a password, and
//! percent-escapes.

use std::time::Duration;

/// The longest `timeout_ms` accepted, ten minutes: a call that may wait longer than
/// that on a silent server is a hang to whoever runs it.
pub const MAX_TIMEOUT_MS: u64 = 600_000;

/// `PREFIX/KEY`, or `KEY` under an empty prefix.
#[cfg_attr(
    not(any(feature = "etcd", feature = "s3", feature = "gcs", feature = "azure")),
    allow(dead_code)
)]
pub(crate) fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}/{key}")
    }
}

/// A prefix without its trailing `/`s, refused if it has an empty segment (a leading
/// or doubled `/`), a control character or a backslash.
#[cfg_attr(
    not(any(feature = "etcd", feature = "s3", feature = "gcs", feature = "azure")),
    allow(dead_code)
)]
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

/// `%XX` escapes decoded; the result must be UTF-8.
pub(crate) fn percent_decode(text: &str) -> Result<String, &'static str> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'%' {
            let hex = tail
                .get(..2)
                .ok_or("a % is not followed by two hex digits")?;
            let hex =
                std::str::from_utf8(hex).map_err(|_| "a % is not followed by two hex digits")?;
            bytes.push(
                u8::from_str_radix(hex, 16).map_err(|_| "a % is not followed by two hex digits")?,
            );
            rest = &tail[2..];
        } else {
            bytes.push(b);
            rest = tail;
        }
    }
    String::from_utf8(bytes).map_err(|_| "a %-escape is not UTF-8")
}

/// `text` with every byte but RFC 3986's unreserved ones as `%XX`.
#[cfg_attr(not(any(feature = "etcd", feature = "redis")), allow(dead_code))]
pub(crate) fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A password found in a URL: refused, because a URL shows in process listings and
/// shell histories.
#[derive(Debug)]
#[cfg_attr(not(any(feature = "etcd", feature = "redis")), allow(dead_code))]
pub(crate) struct PasswordInUrl {
    /// The URL with the password replaced by `***`, safe to print.
    pub redacted: String,
    /// The host it was meant for.
    pub host: String,
}

/// Splits `[USER@]REST` into the user, percent-decoded, and `REST`. A `USER:PASSWORD@`
/// is refused, and the error carries `url` with the password redacted.
#[cfg_attr(not(any(feature = "etcd", feature = "redis")), allow(dead_code))]
pub(crate) fn split_user<'a>(
    url: &str,
    authority: &'a str,
) -> Result<(Option<String>, &'a str), Result<PasswordInUrl, &'static str>> {
    match authority.rsplit_once('@') {
        Some((user, host)) if user.contains(':') => {
            let name = user.split(':').next().unwrap_or_default();
            Err(Ok(PasswordInUrl {
                redacted: url.replacen(user, &format!("{name}:***"), 1),
                host: host.to_owned(),
            }))
        }
        Some(("", _)) => Err(Err("it has an empty user before @")),
        Some((user, host)) => Ok((Some(percent_decode(user).map_err(Err)?), host)),
        None => Ok((None, authority)),
    }
}
