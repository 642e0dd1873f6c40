//! `redis://HOST:PORT/STREAM?group=G&consumer=C&timeout_ms=N`: a stream in a Redis
//! server, and the consumer group that reads it.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use thiserror::Error;

use crate::backends::url_parts;

/// The consumer group a source is read through when its URL names none.
pub const DEFAULT_GROUP: &str = "pipeline-checkpoint";

/// The limit on each Redis call when the URL sets none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The environment variable a Redis password is read from: never the URL, which shows
/// in process listings and shell histories.
pub const PASSWORD_ENV: &str = "REDIS_PASSWORD";

/// A stream in a Redis server: where messages come from (with its consumer group) or
/// where output goes.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisStreamUrl {
    /// `host:port` of the server (plain TCP).
    pub authority: String,
    /// The user to authenticate as, from `redis://USER@HOST:PORT/…`; the password is
    /// read from [`PASSWORD_ENV`].
    pub user: Option<String>,
    /// The stream's key, percent-decoded from the URL's path.
    pub stream: String,
    /// The consumer group, `group=G`; [`DEFAULT_GROUP`] if absent. Only a source uses it.
    pub group: String,
    /// Whether the URL named the group.
    pub group_given: bool,
    /// This reader's consumer name in the group, `consumer=C`; `None`: the caller picks
    /// (host and process id).
    pub consumer: Option<String>,
    /// The limit on each call, connecting included.
    pub timeout: Duration,
}

/// Why a string is not a Redis stream URL.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "invalid Redis stream URL {url:?}: {why} (expected redis://HOST:PORT/STREAM?group=G&consumer=C&timeout_ms=N)"
)]
pub struct InvalidRedisUrl {
    /// The string given.
    pub url: String,
    /// What is wrong with it.
    pub why: String,
}

impl RedisStreamUrl {
    /// Whether `text` is meant as a Redis URL (and so must parse as one).
    pub fn is_redis(text: &str) -> bool {
        text.starts_with("redis://") || text.starts_with("rediss://")
    }

    /// The URL the client connects with, the password (if any) taken from `password`.
    pub(super) fn connection_url(&self, password: Option<&str>) -> String {
        let user = self
            .user
            .as_deref()
            .map(url_parts::percent_encode)
            .unwrap_or_default();
        match password {
            Some(pw) => format!(
                "redis://{user}:{}@{}/",
                url_parts::percent_encode(pw),
                self.authority
            ),
            None if !user.is_empty() => format!("redis://{user}@{}/", self.authority),
            None => format!("redis://{}/", self.authority),
        }
    }
}

impl FromStr for RedisStreamUrl {
    type Err = InvalidRedisUrl;

    fn from_str(url: &str) -> Result<Self, InvalidRedisUrl> {
        let invalid = |why: &str| InvalidRedisUrl {
            url: url.to_owned(),
            why: why.to_owned(),
        };
        if url.starts_with("rediss://") {
            return Err(invalid(
                "TLS (rediss://) is not supported; reach the server over a tunnel or a private network",
            ));
        }
        let rest = url
            .strip_prefix("redis://")
            .ok_or_else(|| invalid("it does not start with redis://"))?;
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, path) = rest
            .split_once('/')
            .ok_or_else(|| invalid("it names no stream: add /STREAM"))?;
        let (user, authority) = url_parts::split_user(url, authority).map_err(|e| match e {
            // The error names the URL: not with the password in it.
            Ok(found) => InvalidRedisUrl {
                url: found.redacted,
                why: format!(
                    "a password in the URL would show in process listings; put it in \
                     {PASSWORD_ENV} (host {})",
                    found.host
                ),
            },
            Err(why) => invalid(why),
        })?;
        url_parts::host_port(authority).map_err(invalid)?;
        if authority.contains([' ', '/']) {
            return Err(invalid("HOST:PORT has a space"));
        }
        let stream = url_parts::percent_decode(path).map_err(invalid)?;
        if stream.is_empty() {
            return Err(invalid("it names no stream: add /STREAM"));
        }
        if stream.chars().any(char::is_control) {
            return Err(invalid("its stream name has a control character"));
        }
        let mut parsed = RedisStreamUrl {
            authority: authority.to_owned(),
            user,
            stream,
            group: DEFAULT_GROUP.to_owned(),
            group_given: false,
            consumer: None,
            timeout: DEFAULT_TIMEOUT,
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair
                .split_once('=')
                .ok_or_else(|| invalid(&format!("parameter {pair:?} has no value")))?;
            let value = url_parts::percent_decode(value).map_err(invalid)?;
            let word = |what: &str| {
                if value.is_empty() || value.chars().any(|c| c.is_control() || c == ' ') {
                    Err(invalid(&format!(
                        "{what} must be a non-empty name without spaces"
                    )))
                } else {
                    Ok(value.clone())
                }
            };
            match name {
                "group" => {
                    parsed.group = word("group")?;
                    parsed.group_given = true;
                }
                "consumer" => parsed.consumer = Some(word("consumer")?),
                "timeout_ms" => {
                    parsed.timeout = url_parts::timeout_ms(&value).map_err(|why| invalid(&why))?;
                }
                _ => return Err(invalid(&format!("unknown parameter {name:?}"))),
            }
        }
        Ok(parsed)
    }
}

/// `redis://[USER@]HOST:PORT/STREAM`, with the group if one was named: never a password.
impl fmt::Display for RedisStreamUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let user = self
            .user
            .as_deref()
            .map(|u| format!("{}@", url_parts::percent_encode(u)))
            .unwrap_or_default();
        write!(f, "redis://{user}{}/{}", self.authority, self.stream)?;
        if self.group_given {
            write!(f, "?group={}", self.group)?;
        }
        Ok(())
    }
}

impl fmt::Debug for RedisStreamUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_names_server_stream_group_and_timeout() {
        let url: RedisStreamUrl =
            "redis://127.0.0.1:6379/orders%3Ain?group=etl&consumer=w1&timeout_ms=500"
                .parse()
                .unwrap();
        assert_eq!(url.authority, "127.0.0.1:6379");
        assert_eq!(url.stream, "orders:in");
        assert_eq!(url.group, "etl");
        assert_eq!(url.consumer.as_deref(), Some("w1"));
        assert_eq!(url.timeout, Duration::from_millis(500));
        let plain: RedisStreamUrl = "redis://h:1/s".parse().unwrap();
        assert_eq!(plain.group, DEFAULT_GROUP);
        assert_eq!(plain.timeout, DEFAULT_TIMEOUT);
    }

    #[test]
    fn passwords_tls_and_malformed_urls_are_refused_saying_why() {
        for (url, why) in [
            ("redis://u:secret@h:1/s", PASSWORD_ENV),
            ("rediss://h:1/s", "TLS"),
            ("redis://h:1", "names no stream"),
            ("redis://h:1/", "names no stream"),
            ("redis://h/s", "HOST:PORT"),
            ("redis://h:99999/s", "port"),
            ("redis://h:1/s?group=", "group"),
            ("redis://h:1/s?color=red", "unknown parameter"),
            ("redis://h:1/s?timeout_ms=0", "timeout_ms"),
            ("redis://h:1/s%zz", "hex"),
        ] {
            let e = url.parse::<RedisStreamUrl>().unwrap_err().to_string();
            assert!(e.contains(why), "{url}: {e}");
            assert!(!e.contains("secret"), "{url}: {e}");
        }
    }

    #[test]
    fn the_password_is_only_in_the_connection_url() {
        let url: RedisStreamUrl = "redis://app@h:1/s".parse().unwrap();
        assert_eq!(url.to_string(), "redis://app@h:1/s");
        assert_eq!(format!("{url:?}"), "redis://app@h:1/s");
        assert_eq!(url.connection_url(Some("p@ss")), "redis://app:p%40ss@h:1/");
    }
}
