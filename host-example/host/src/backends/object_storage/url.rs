//! `s3://BUCKET/PREFIX`, `gs://BUCKET/PREFIX` and `az://CONTAINER/PREFIX`, with
//! `timeout_ms=N`, `retries=N`, `accept_unfenced_writes=true` and `object_store`'s own
//! configuration keys (`endpoint`, `region`, `account_name`, …) in the query: where an
//! [`super::ObjectStorage`] keeps its records. Credentials never appear here.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use thiserror::Error;

use crate::backends::url_parts;

/// How long one request may take, connecting included, unless the URL says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// How often a request that did not reach the store, or got a 5xx or a 429, is sent
/// again (with exponential backoff) unless the URL says otherwise; at most 10.
pub const DEFAULT_RETRIES: usize = 3;

/// Which cloud's object storage, by the URL's scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Cloud {
    /// Amazon S3 or an S3-compatible store: `s3://`.
    S3,
    /// Google Cloud Storage: `gs://`.
    Gcs,
    /// Azure Blob Storage: `az://`.
    Azure,
}

impl Cloud {
    /// The URL scheme: `s3`, `gs` or `az`.
    pub fn scheme(self) -> &'static str {
        match self {
            Cloud::S3 => "s3",
            Cloud::Gcs => "gs",
            Cloud::Azure => "az",
        }
    }

    /// Whether `object_store` has a configuration key `name` for this cloud (`endpoint`
    /// stands for GCS's `base_url`); any name where this build lacks the cloud.
    fn has_key(self, name: &str) -> bool {
        match self {
            #[cfg(feature = "s3")]
            Cloud::S3 => name.parse::<object_store::aws::AmazonS3ConfigKey>().is_ok(),
            #[cfg(feature = "gcs")]
            Cloud::Gcs => {
                name == "endpoint" || name.parse::<object_store::gcp::GoogleConfigKey>().is_ok()
            }
            #[cfg(feature = "azure")]
            Cloud::Azure => name.parse::<object_store::azure::AzureConfigKey>().is_ok(),
            #[allow(unreachable_patterns)]
            _ => true,
        }
    }
}

/// A bucket (an Azure container), the key prefix records live under, and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectUrl {
    /// The cloud the scheme names.
    pub cloud: Cloud,
    /// The bucket or container.
    pub bucket: String,
    /// Prepended to every key with a `/`; empty for none. No leading or trailing `/`.
    pub prefix: String,
    /// `object_store` configuration keys of the cloud and their values, as the query
    /// gives them: `endpoint` (an S3-compatible store, an emulator), `region`,
    /// `account_name`, …; never credentials.
    pub options: Vec<(String, String)>,
    /// The limit on each request.
    pub timeout: Duration,
    /// How often a failed request is retried.
    pub retries: usize,
    /// Run even where the opening probe finds that the store ignores conditional
    /// writes: the operator accepts that two writers are then not fenced.
    pub accept_unfenced_writes: bool,
}

/// Why a string is not an object storage URL.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "invalid object storage URL {url:?}: {why} (expected s3://BUCKET/PREFIX, gs://BUCKET/PREFIX or az://CONTAINER/PREFIX, with ?endpoint=URL&region=R&account_name=A&timeout_ms=N&retries=N)"
)]
pub struct InvalidObjectUrl {
    /// The string given.
    pub url: String,
    /// What is wrong with it.
    pub why: String,
}

impl ObjectUrl {
    /// The object key for a storage key: `PREFIX/KEY`.
    pub fn object_key(&self, key: &str) -> String {
        url_parts::join(&self.prefix, key)
    }

    /// A storage key as a URL, for messages: `s3://BUCKET/PREFIX/KEY`.
    pub fn display_key(&self, key: &str) -> String {
        let (scheme, bucket) = (self.cloud.scheme(), &self.bucket);
        format!("{scheme}://{bucket}/{}", self.object_key(key))
    }
}

impl FromStr for ObjectUrl {
    type Err = InvalidObjectUrl;

    fn from_str(url: &str) -> Result<Self, InvalidObjectUrl> {
        let invalid = |why: &str| InvalidObjectUrl {
            url: url.to_owned(),
            why: why.to_owned(),
        };
        let (scheme, rest) = url.split_once("://").unwrap_or_default();
        let cloud = [Cloud::S3, Cloud::Gcs, Cloud::Azure]
            .into_iter()
            .find(|cloud| cloud.scheme() == scheme)
            .ok_or_else(|| invalid("it does not start with s3://, gs:// or az://"))?;
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        // The clouds' own naming rules are theirs to check; these keep the URL a URL.
        if bucket.is_empty()
            || !bucket
                .chars()
                .all(|c| matches!(c, 'a'..='z' | '0'..='9' | '.' | '-' | '_'))
        {
            return Err(invalid(
                "it names no bucket of lowercase letters, digits, '.', '-', '_'",
            ));
        }
        let mut parsed = ObjectUrl {
            cloud,
            bucket: bucket.to_owned(),
            prefix: url_parts::prefix(prefix).map_err(invalid)?,
            options: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            retries: DEFAULT_RETRIES,
            accept_unfenced_writes: false,
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair
                .split_once('=')
                .ok_or_else(|| invalid(&format!("parameter {pair:?} has no value")))?;
            let value = url_parts::percent_decode(value).map_err(invalid)?;
            match name {
                "timeout_ms" => {
                    parsed.timeout = url_parts::timeout_ms(&value).map_err(|w| invalid(&w))?
                }
                "retries" => {
                    parsed.retries = value
                        .parse()
                        .ok()
                        .filter(|n| *n <= 10)
                        .ok_or_else(|| invalid("retries is not a number from 0 to 10"))?;
                }
                "accept_unfenced_writes" => {
                    parsed.accept_unfenced_writes = value
                        .parse()
                        .map_err(|_| invalid("accept_unfenced_writes is true or false"))?;
                }
                // Secrets on a command line end up in shell history and `ps`.
                _ if ["key", "secret", "token", "sas", "password", "credential"]
                    .iter()
                    .any(|word| name.to_ascii_lowercase().contains(word))
                    || value.contains('@') =>
                {
                    return Err(invalid(
                        "credentials are never taken from the URL, but from the environment or the machine's identity",
                    ));
                }
                _ if cloud.has_key(name) => parsed.options.push((name.to_owned(), value)),
                _ => return Err(invalid(&format!("unknown parameter {name:?}"))),
            }
        }
        Ok(parsed)
    }
}

/// The URL it was parsed from, less the parameters left at their defaults.
impl fmt::Display for ObjectUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}://{}/{}",
            self.cloud.scheme(),
            self.bucket,
            self.prefix
        )?;
        let mut query: Vec<String> = self
            .options
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        if self.timeout != DEFAULT_TIMEOUT {
            query.push(format!("timeout_ms={}", self.timeout.as_millis()));
        }
        if self.retries != DEFAULT_RETRIES {
            query.push(format!("retries={}", self.retries));
        }
        if self.accept_unfenced_writes {
            query.push("accept_unfenced_writes=true".into());
        }
        if !query.is_empty() {
            write!(f, "?{}", query.join("&"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "url_tests.rs"]
mod tests;
