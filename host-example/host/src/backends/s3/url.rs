//! `s3://BUCKET/PREFIX?endpoint=URL&region=R&timeout_ms=N&accept_unfenced_writes=true`:
//! where an [`super::S3Storage`] keeps its records. Credentials never appear here.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use thiserror::Error;

/// How long one request may take, connecting included, unless the URL says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

use crate::backends::url_parts;

/// A bucket, the key prefix records live under, and how to reach the bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Url {
    /// The bucket, 3 to 63 characters of `a-z0-9.-` as S3 names them.
    pub bucket: String,
    /// Prepended to every key with a `/`; empty for none. No leading or trailing `/`.
    pub prefix: String,
    /// An S3-compatible endpoint (`http://127.0.0.1:9000`, MinIO, R2), addressed
    /// path-style; `None` for AWS itself, addressed by region.
    pub endpoint: Option<String>,
    /// The signing region; `None` takes `AWS_REGION`, `AWS_DEFAULT_REGION`, then
    /// `us-east-1`.
    pub region: Option<String>,
    /// The limit on each request.
    pub timeout: Duration,
    /// Run even where the opening probe finds that the store ignores conditional
    /// writes: the operator accepts that two writers are then not fenced.
    pub accept_unfenced_writes: bool,
}

/// Why a string is not an S3 URL.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "invalid S3 URL {url:?}: {why} (expected s3://BUCKET/PREFIX?endpoint=URL&region=R&timeout_ms=N)"
)]
pub struct InvalidS3Url {
    /// The string given.
    pub url: String,
    /// What is wrong with it.
    pub why: String,
}

impl S3Url {
    /// The object key for a storage key: `PREFIX/KEY`.
    pub fn object_key(&self, key: &str) -> String {
        url_parts::join(&self.prefix, key)
    }

    /// A storage key as a URL, for messages: `s3://BUCKET/PREFIX/KEY`.
    pub fn display_key(&self, key: &str) -> String {
        format!("s3://{}/{}", self.bucket, self.object_key(key))
    }
}

impl FromStr for S3Url {
    type Err = InvalidS3Url;

    fn from_str(url: &str) -> Result<Self, InvalidS3Url> {
        let invalid = |why: &str| InvalidS3Url {
            url: url.to_owned(),
            why: why.to_owned(),
        };
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| invalid("it does not start with s3://"))?;
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        check_bucket(bucket).map_err(|why| invalid(&why))?;
        let prefix = url_parts::prefix(prefix).map_err(invalid)?;
        let mut parsed = S3Url {
            bucket: bucket.to_owned(),
            prefix,
            endpoint: None,
            region: None,
            timeout: DEFAULT_TIMEOUT,
            accept_unfenced_writes: false,
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair
                .split_once('=')
                .ok_or_else(|| invalid(&format!("parameter {pair:?} has no value")))?;
            let value = percent_decode(value).ok_or_else(|| {
                invalid(&format!("parameter {name:?} is not valid percent-encoding"))
            })?;
            match name {
                "endpoint" => {
                    parsed.endpoint = Some(check_endpoint(&value).map_err(|w| invalid(&w))?)
                }
                "region"
                    if !value.is_empty()
                        && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') =>
                {
                    parsed.region = Some(value);
                }
                "region" => {
                    return Err(invalid(
                        "region is not a region name (letters, digits, '-')",
                    ));
                }
                "timeout_ms" => {
                    parsed.timeout = url_parts::timeout_ms(&value).map_err(|why| invalid(&why))?;
                }
                "accept_unfenced_writes" => {
                    parsed.accept_unfenced_writes = match value.as_str() {
                        "true" => true,
                        "false" => false,
                        _ => return Err(invalid("accept_unfenced_writes is true or false")),
                    }
                }
                // Secrets on a command line end up in shell history and `ps`.
                "access_key_id"
                | "secret_access_key"
                | "session_token"
                | "aws_access_key_id"
                | "aws_secret_access_key"
                | "aws_session_token" => {
                    return Err(invalid(
                        "credentials are never taken from the URL; set AWS_ACCESS_KEY_ID and \
                         AWS_SECRET_ACCESS_KEY, or use a credentials file",
                    ));
                }
                _ => return Err(invalid(&format!("unknown parameter {name:?}"))),
            }
        }
        Ok(parsed)
    }
}

/// S3's bucket naming rules, as far as they matter for addressing: 3 to 63 characters
/// of lowercase letters, digits, `.` and `-`, starting and ending with a letter or digit.
fn check_bucket(bucket: &str) -> Result<(), String> {
    if bucket.is_empty() {
        return Err("it names no bucket".into());
    }
    if !(3..=63).contains(&bucket.len()) {
        return Err(format!("bucket {bucket:?} is not 3 to 63 characters long"));
    }
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !bucket
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        || !edge_ok(bucket.chars().next())
        || !edge_ok(bucket.chars().last())
    {
        return Err(format!(
            "bucket {bucket:?} is not a bucket name (lowercase letters, digits, '.', '-')"
        ));
    }
    Ok(())
}

/// An endpoint is `http://` or `https://` and an authority, with nothing after it
/// but an optional `/`: the bucket and key are appended path-style.
fn check_endpoint(endpoint: &str) -> Result<String, String> {
    let rest = endpoint
        .strip_prefix("http://")
        .or_else(|| endpoint.strip_prefix("https://"))
        .ok_or("endpoint does not start with http:// or https://")?;
    let authority = rest.trim_end_matches('/');
    if authority.is_empty() || authority.contains(['/', '?', '#', ' ']) {
        return Err("endpoint is not SCHEME://HOST[:PORT]".into());
    }
    if authority.contains('@') {
        return Err("credentials are never taken from the URL, the endpoint's included".into());
    }
    Ok(endpoint.trim_end_matches('/').to_owned())
}

/// `%XX` decoding of a query value; `None` for a malformed escape or bytes that are
/// not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        if byte == b'%' {
            let hex = std::str::from_utf8(tail.get(..2)?).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &tail[2..];
        } else {
            bytes.push(byte);
            rest = tail;
        }
    }
    String::from_utf8(bytes).ok()
}

impl fmt::Display for S3Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)?;
        let mut separator = '?';
        let mut param = |f: &mut fmt::Formatter<'_>, text: String| {
            let result = write!(f, "{separator}{text}");
            separator = '&';
            result
        };
        if let Some(endpoint) = &self.endpoint {
            param(f, format!("endpoint={endpoint}"))?;
        }
        if let Some(region) = &self.region {
            param(f, format!("region={region}"))?;
        }
        if self.timeout != DEFAULT_TIMEOUT {
            param(f, format!("timeout_ms={}", self.timeout.as_millis()))?;
        }
        if self.accept_unfenced_writes {
            param(f, "accept_unfenced_writes=true".into())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A URL names a bucket, a prefix and how to reach it; anything else, credentials
    /// above all, is refused with the reason.
    #[test]
    fn s3_urls_parse_and_refuse_credentials_and_malformed_parts() {
        let url: S3Url = "s3://my-bucket/pipelines/a?endpoint=http%3A%2F%2F127.0.0.1%3A9000&region=eu-west-1&timeout_ms=2000"
            .parse()
            .unwrap();
        assert_eq!(url.bucket, "my-bucket");
        assert_eq!(url.prefix, "pipelines/a");
        assert_eq!(url.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(url.region.as_deref(), Some("eu-west-1"));
        assert_eq!(url.timeout, Duration::from_millis(2000));
        assert_eq!(
            url.display_key("k.json"),
            "s3://my-bucket/pipelines/a/k.json"
        );
        let plain: S3Url = "s3://bkt".parse().unwrap();
        assert_eq!((plain.prefix.as_str(), plain.endpoint.as_ref()), ("", None));
        assert_eq!(plain.to_string().parse::<S3Url>().unwrap(), plain);
        assert_eq!(url.to_string().parse::<S3Url>().unwrap(), url);
        for (text, why) in [
            ("s3://", "no bucket"),
            ("s3://ab/p", "3 to 63"),
            ("s3://My_Bucket/p", "not a bucket name"),
            ("s3://-bkt/p", "not a bucket name"),
            ("s3://bkt//p", "empty segment"),
            ("s3://bkt/p?endpoint=ftp://h", "http:// or https://"),
            (
                "s3://bkt/p?endpoint=http://user:pw@h:1",
                "never taken from the URL",
            ),
            ("s3://bkt/p?endpoint=http://h:1/path", "SCHEME://HOST"),
            ("s3://bkt/p?secret_access_key=x", "never taken from the URL"),
            ("s3://bkt/p?aws_access_key_id=x", "never taken from the URL"),
            ("s3://bkt/p?timeout_ms=0", "timeout_ms"),
            ("s3://bkt/p?timeout_ms=99999999999999999999", "timeout_ms"),
            ("s3://bkt/p?region=a/b", "region"),
            ("s3://bkt/p?accept_unfenced_writes=yes", "true or false"),
            ("s3://bkt/p?endpoint=%ZZ", "percent-encoding"),
            ("s3://bkt/p?colour=blue", "unknown parameter"),
            ("s3://bkt/p?flag", "no value"),
        ] {
            let err = text.parse::<S3Url>().expect_err(text);
            assert!(err.why.contains(why), "{text:?}: {err}");
        }
    }
}
