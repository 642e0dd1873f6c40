//! `etcd://HOST:PORT/PREFIX?timeout_ms=N`: where an [`super::EtcdStorage`] keeps its
//! records.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use thiserror::Error;

use super::DEFAULT_TIMEOUT;

/// An etcd member's client address, the key prefix records live under, and the time
/// a call may take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdUrl {
    /// `host:port` of a member's client URL (plain HTTP).
    pub authority: String,
    /// Prepended to every key with a `/`; empty for none. No leading or trailing `/`.
    pub prefix: String,
    /// The limit on each call, connecting included.
    pub timeout: Duration,
}

use crate::backends::url_parts;

/// Why a string is not an etcd URL.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid etcd URL {url:?}: {why} (expected etcd://HOST:PORT/PREFIX?timeout_ms=N)")]
pub struct InvalidEtcdUrl {
    /// The string given.
    pub url: String,
    /// What is wrong with it.
    pub why: String,
}

impl EtcdUrl {
    /// The etcd key for a storage key.
    pub fn etcd_key(&self, key: &str) -> String {
        url_parts::join(&self.prefix, key)
    }

    /// A storage key as a URL, for messages: `etcd://HOST:PORT/PREFIX/KEY`.
    pub fn display_key(&self, key: &str) -> String {
        format!("etcd://{}/{}", self.authority, self.etcd_key(key))
    }
}

impl FromStr for EtcdUrl {
    type Err = InvalidEtcdUrl;

    fn from_str(url: &str) -> Result<Self, InvalidEtcdUrl> {
        let invalid = |why: &str| InvalidEtcdUrl {
            url: url.to_owned(),
            why: why.to_owned(),
        };
        let rest = url
            .strip_prefix("etcd://")
            .ok_or_else(|| invalid("it does not start with etcd://"))?;
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        url_parts::host_port(authority).map_err(invalid)?;
        if authority.contains(['@', ' ']) {
            return Err(invalid(
                "credentials and spaces are not supported in HOST:PORT",
            ));
        }
        let prefix = url_parts::prefix(prefix).map_err(invalid)?;
        let mut timeout = DEFAULT_TIMEOUT;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("timeout_ms", ms)) => {
                    timeout = url_parts::timeout_ms(ms).map_err(|why| invalid(&why))?;
                }
                _ => return Err(invalid(&format!("unknown parameter {pair:?}"))),
            }
        }
        Ok(EtcdUrl {
            authority: authority.to_owned(),
            prefix,
            timeout,
        })
    }
}

impl fmt::Display for EtcdUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "etcd://{}/{}", self.authority, self.prefix)?;
        if self.timeout != DEFAULT_TIMEOUT {
            write!(f, "?timeout_ms={}", self.timeout.as_millis())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<EtcdUrl, String> {
        url.parse::<EtcdUrl>().map_err(|e| e.why)
    }

    #[test]
    fn parses_authority_prefix_and_timeout() {
        let url = parse("etcd://127.0.0.1:2379/pipelines/orders?timeout_ms=250").unwrap();
        assert_eq!(url.authority, "127.0.0.1:2379");
        assert_eq!(url.prefix, "pipelines/orders");
        assert_eq!(url.timeout, Duration::from_millis(250));
        assert_eq!(
            url.etcd_key("pipeline/checkpoint.json"),
            "pipelines/orders/pipeline/checkpoint.json"
        );
        assert_eq!(
            url.to_string(),
            "etcd://127.0.0.1:2379/pipelines/orders?timeout_ms=250"
        );
    }

    #[test]
    fn prefix_is_optional_and_trailing_slashes_are_dropped() {
        for (text, prefix) in [
            ("etcd://localhost:2379", ""),
            ("etcd://localhost:2379/", ""),
            ("etcd://localhost:2379/p/", "p"),
        ] {
            let url = parse(text).unwrap();
            assert_eq!(
                (url.prefix.as_str(), url.timeout),
                (prefix, DEFAULT_TIMEOUT),
                "{text}"
            );
        }
        assert_eq!(parse("etcd://h:1").unwrap().etcd_key("k"), "k");
    }

    #[test]
    fn malformed_urls_say_what_is_wrong() {
        for (text, why) in [
            ("http://127.0.0.1:2379/p", "etcd://"),
            ("etcd://127.0.0.1/p", "HOST:PORT"),
            ("etcd://:2379/p", "HOST:PORT"),
            ("etcd://h:99999/p", "port"),
            ("etcd://h:2379/a//b", "empty segment"),
            ("etcd://h:2379//a", "empty segment"),
            ("etcd://h:2379/p?timeout_ms=0", "timeout_ms"),
            ("etcd://h:2379/p?timeout_ms=600001", "timeout_ms"),
            (
                "etcd://h:2379/p?timeout_ms=18446744073709551615",
                "timeout_ms",
            ),
            ("etcd://h:2379/p?retries=3", "unknown parameter"),
            ("etcd://u@h:2379/p", "credentials"),
        ] {
            let got = parse(text).expect_err(text);
            assert!(got.contains(why), "{text}: {got}");
        }
    }
}
