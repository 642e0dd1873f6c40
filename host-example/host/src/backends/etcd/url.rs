//! `etcd://[USER@]HOST:PORT[,HOST:PORT…]/PREFIX?…` and `etcds://…`: which members of
//! an etcd cluster an [`super::EtcdStorage`] talks to, how (plain HTTP or TLS), as
//! whom, and under which key prefix.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use thiserror::Error;

use super::DEFAULT_TIMEOUT;
use crate::backends::url_parts;

/// The environment variable an etcd password is read from when the URL names a user
/// and no `password_file`: never the URL, which shows in process listings.
pub const PASSWORD_ENV: &str = "ETCD_PASSWORD";

/// The members of an etcd cluster, how to reach them, and the key prefix records live
/// under.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EtcdUrl {
    /// `host:port` of each member's client URL, in the order they are tried first.
    pub endpoints: Vec<String>,
    /// TLS settings for `etcds://`; `None` for plain HTTP.
    pub tls: Option<EtcdTls>,
    /// The etcd user to authenticate as, from `etcd://USER@…`.
    pub user: Option<String>,
    /// Where the user's password is read from (`password_file=PATH`); without it,
    /// [`PASSWORD_ENV`].
    pub password_file: Option<PathBuf>,
    /// Prepended to every key with a `/`; empty for none. No leading or trailing `/`.
    pub prefix: String,
    /// The limit on each call, across all the members it tries.
    pub timeout: Duration,
}

/// How an `etcds://` client checks the members and proves who it is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct EtcdTls {
    /// PEM file of the CA(s) that signed the members' certificates (`ca=PATH`);
    /// `None`: the public web PKI's roots.
    pub ca: Option<PathBuf>,
    /// PEM files of a client certificate and its private key (`cert=PATH&key=PATH`),
    /// for members started with `--client-cert-auth`.
    pub client: Option<(PathBuf, PathBuf)>,
}

/// Why a string is not an etcd URL.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "invalid etcd URL {url:?}: {why} (expected etcd[s]://[USER@]HOST:PORT[,HOST:PORT…]/PREFIX?timeout_ms=N)"
)]
pub struct InvalidEtcdUrl {
    /// The string given, any password in it replaced by `***`.
    pub url: String,
    /// What is wrong with it.
    pub why: String,
}

impl EtcdUrl {
    /// The etcd key for a storage key.
    pub fn etcd_key(&self, key: &str) -> String {
        url_parts::join(&self.prefix, key)
    }

    /// A storage key as a URL, for messages: `etcd://HOST:PORT,…/PREFIX/KEY`.
    pub fn display_key(&self, key: &str) -> String {
        format!(
            "{}://{}/{}",
            self.scheme(),
            self.endpoints.join(","),
            self.etcd_key(key)
        )
    }

    /// `etcds` with TLS, else `etcd`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "etcds" } else { "etcd" }
    }
}

impl FromStr for EtcdUrl {
    type Err = InvalidEtcdUrl;

    fn from_str(url: &str) -> Result<Self, InvalidEtcdUrl> {
        let invalid = |why: &str| InvalidEtcdUrl {
            url: url.to_owned(),
            why: why.to_owned(),
        };
        let (rest, tls) = match (url.strip_prefix("etcd://"), url.strip_prefix("etcds://")) {
            (Some(rest), _) => (rest, None),
            (_, Some(rest)) => (rest, Some(EtcdTls::default())),
            _ => return Err(invalid("it does not start with etcd:// or etcds://")),
        };
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let (user, members) = url_parts::split_user(url, authority).map_err(|e| match e {
            Ok(found) => InvalidEtcdUrl {
                url: found.redacted,
                why: format!(
                    "a password in the URL would show in process listings; put it in \
                     {PASSWORD_ENV} or a file named by password_file= (members {})",
                    found.host
                ),
            },
            Err(why) => invalid(why),
        })?;
        let mut endpoints: Vec<String> = Vec::new();
        for member in members.split(',') {
            url_parts::host_port(member).map_err(invalid)?;
            if member.contains([' ', '@']) {
                return Err(invalid("a HOST:PORT has a space or an @"));
            }
            if endpoints.iter().any(|e| e == member) {
                return Err(invalid(&format!("member {member} is named twice")));
            }
            endpoints.push(member.to_owned());
        }
        let mut parsed = EtcdUrl {
            endpoints,
            tls,
            user,
            password_file: None,
            prefix: url_parts::prefix(prefix).map_err(invalid)?,
            timeout: DEFAULT_TIMEOUT,
        };
        let (mut cert, mut key) = (None, None);
        let mut seen: Vec<&str> = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair
                .split_once('=')
                .ok_or_else(|| invalid(&format!("parameter {pair:?} has no value")))?;
            if seen.contains(&name) {
                return Err(invalid(&format!("parameter {name:?} is given twice")));
            }
            seen.push(name);
            let value = url_parts::percent_decode(value).map_err(invalid)?;
            let path = || {
                if value.is_empty() {
                    Err(invalid(&format!("{name}= names no file")))
                } else {
                    Ok(PathBuf::from(&value))
                }
            };
            let tls_only = |tls: &mut Option<EtcdTls>| {
                tls.as_mut().map(|_| ()).ok_or_else(|| {
                    invalid(&format!(
                        "{name}= is a TLS setting: use etcds:// to talk TLS to the members"
                    ))
                })
            };
            match name {
                "timeout_ms" => {
                    parsed.timeout = url_parts::timeout_ms(&value).map_err(|why| invalid(&why))?;
                }
                "password_file" => parsed.password_file = Some(path()?),
                "ca" => {
                    tls_only(&mut parsed.tls)?;
                    parsed.tls.as_mut().expect("checked").ca = Some(path()?);
                }
                "cert" => {
                    tls_only(&mut parsed.tls)?;
                    cert = Some(path()?);
                }
                "key" => {
                    tls_only(&mut parsed.tls)?;
                    key = Some(path()?);
                }
                _ => return Err(invalid(&format!("unknown parameter {name:?}"))),
            }
        }
        match (cert, key) {
            (Some(cert), Some(key)) => {
                parsed.tls.as_mut().expect("checked").client = Some((cert, key));
            }
            (None, None) => {}
            _ => return Err(invalid("a client certificate needs both cert= and key=")),
        }
        if parsed.password_file.is_some() && parsed.user.is_none() {
            return Err(invalid(
                "password_file= needs a user: etcd://USER@HOST:PORT/…",
            ));
        }
        Ok(parsed)
    }
}

/// The URL as it parses back, parameters that differ from the defaults included:
/// never a password, which is never in it.
impl fmt::Display for EtcdUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let user = self
            .user
            .as_deref()
            .map(|u| format!("{}@", url_parts::percent_encode(u)))
            .unwrap_or_default();
        let (scheme, members) = (self.scheme(), self.endpoints.join(","));
        write!(f, "{scheme}://{user}{members}/{}", self.prefix)?;
        let mut query: Vec<String> = Vec::new();
        if self.timeout != DEFAULT_TIMEOUT {
            query.push(format!("timeout_ms={}", self.timeout.as_millis()));
        }
        let mut path = |name: &str, path: &PathBuf| {
            query.push(format!("{name}={}", query_value(&path.to_string_lossy())));
        };
        if let Some(file) = &self.password_file {
            path("password_file", file);
        }
        if let Some(tls) = &self.tls {
            if let Some(ca) = &tls.ca {
                path("ca", ca);
            }
            if let Some((cert, key)) = &tls.client {
                path("cert", cert);
                path("key", key);
            }
        }
        if !query.is_empty() {
            write!(f, "?{}", query.join("&"))?;
        }
        Ok(())
    }
}

/// A file path as a query value: only what would end or split the value is escaped,
/// so that paths stay readable in messages.
fn query_value(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '%' | '&' | '#' | '?' | ' ' | '+' => format!("%{:02X}", c as u32),
            c if c.is_control() => url_parts::percent_encode(&c.to_string()),
            c => c.to_string(),
        })
        .collect()
}

#[cfg(test)]
#[path = "url_tests.rs"]
mod tests;
