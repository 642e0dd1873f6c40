//! One signed S3 request over HTTP: SigV4 in headers by `aws-sigv4` (AWS's own signer),
//! sent with `ureq`, and S3's answer as a status, an ETag and a bounded body.
//!
//! Credentials travel only in the `Authorization` and `x-amz-security-token` headers,
//! never in the URL, so no error text (ours or the HTTP client's, which may quote the
//! URL) can carry them.

use std::time::SystemTime;

use aws_credential_types::Credentials as AwsCredentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;

use super::credentials::Credentials;
use super::url::S3Url;
use crate::{Cause, StorageError};

/// What S3 answered: the status, the `ETag` header, the body (at most the limit the
/// request was sent with), and the error `Code` of an error body.
#[derive(Debug)]
pub(super) struct Answer {
    pub status: u16,
    pub etag: Option<String>,
    pub body: Vec<u8>,
}

impl Answer {
    /// `<Code>…</Code>` of an S3 error body, or "" (a HEAD has no body).
    pub fn code(&self) -> &str {
        element(&self.body, "Code")
    }

    /// The status, the code and the message of an error answer, for error texts.
    pub fn describe(&self) -> String {
        let message = element(&self.body, "Message");
        match (self.code(), message) {
            ("", _) => format!("HTTP {}", self.status),
            (code, "") => format!("HTTP {} {code}", self.status),
            (code, message) => format!("HTTP {} {code}: {message}", self.status),
        }
    }
}

/// The text of the first `<name>…</name>` in an XML body. S3's error bodies are flat
/// and small; this is all of XML they need.
fn element<'a>(body: &'a [u8], name: &str) -> &'a str {
    let text = std::str::from_utf8(body).unwrap_or("");
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    text.split_once(&open)
        .and_then(|(_, rest)| rest.split_once(&close))
        .map_or("", |(inner, _)| inner)
}

/// A bucket's address, signing identity and HTTP agent.
#[derive(Debug, Clone)]
pub(super) struct Client {
    agent: ureq::Agent,
    pub url: S3Url,
    region: String,
    credentials: Credentials,
}

impl Client {
    pub fn new(url: S3Url, region: String, credentials: Credentials) -> Self {
        let agent = crate::backends::http::agent(url.timeout, None);
        Self {
            agent,
            url,
            region,
            credentials,
        }
    }

    /// The HTTP URL of object `object_key`: path-style under an endpoint, or
    /// virtual-hosted on AWS (path-style where a dot in the bucket would break TLS).
    fn object_url(&self, object_key: &str) -> String {
        let path = encode_path(object_key);
        match &self.url.endpoint {
            Some(endpoint) => format!("{endpoint}/{}/{path}", self.url.bucket),
            None if self.url.bucket.contains('.') => format!(
                "https://s3.{}.amazonaws.com/{}/{path}",
                self.region, self.url.bucket
            ),
            None => format!(
                "https://{}.s3.{}.amazonaws.com/{path}",
                self.url.bucket, self.region
            ),
        }
    }

    /// Where requests go, for messages: the endpoint or AWS's region.
    pub fn endpoint(&self) -> String {
        match &self.url.endpoint {
            Some(endpoint) => endpoint.clone(),
            None => format!("AWS S3 in {}", self.region),
        }
    }

    /// Sends `method` on `object_key` with `headers` and `body`, signed; reads at most
    /// `limit` bytes of the answer's body. A failure to connect, send or read within
    /// the timeout is `unavailable`; every answer, whatever its status, is returned.
    pub fn send(
        &self,
        method: &str,
        object_key: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        limit: u64,
    ) -> Result<Answer, StorageError> {
        let url = self.object_url(object_key);
        let mut request = http::Request::builder().method(method).uri(&url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let mut request = request.body(body.to_vec()).map_err(|e| {
            StorageError::InvalidKey(format!("{object_key:?} makes no valid request: {e}"))
        })?;
        self.sign(&mut request)?;
        let unavailable = |e: ureq::Error| {
            StorageError::Unavailable(Cause::with_source(
                format!(
                    "S3 {method} of {} at {}",
                    self.url.display_key_of(object_key),
                    self.endpoint()
                ),
                e,
            ))
        };
        let mut response = self.agent.run(request).map_err(unavailable)?;
        let status = response.status().as_u16();
        let etag = response
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = if method == "HEAD" {
            Vec::new()
        } else {
            response
                .body_mut()
                .with_config()
                .limit(limit)
                .read_to_vec()
                .map_err(|e| match e {
                    ureq::Error::BodyExceedsLimit(_) => {
                        StorageError::InvalidData(Cause::new(format!(
                            "{} is larger than {limit} bytes: not a checkpoint record",
                            self.url.display_key_of(object_key)
                        )))
                    }
                    e => unavailable(e),
                })?
        };
        Ok(Answer { status, etag, body })
    }

    fn sign(&self, request: &mut http::Request<Vec<u8>>) -> Result<(), StorageError> {
        let identity = AwsCredentials::new(
            &self.credentials.access_key_id,
            &self.credentials.secret_access_key,
            self.credentials.session_token.clone(),
            None,
            "pipeline-checkpoint",
        )
        .into();
        // S3's flavour of SigV4: the path is encoded once and not normalized, and the
        // payload's SHA-256 goes in x-amz-content-sha256.
        let mut settings = SigningSettings::default();
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        let failed = |e: &dyn std::fmt::Display| {
            StorageError::Io(Cause::new(format!("signing an S3 request failed: {e}")))
        };
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("s3")
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|e| failed(&e))?
            .into();
        let uri = request.uri().to_string();
        let headers = request
            .headers()
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)));
        let signable = SignableRequest::new(
            request.method().as_str(),
            &uri,
            headers,
            SignableBody::Bytes(request.body()),
        )
        .map_err(|e| failed(&e))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|e| failed(&e))?
            .into_parts();
        instructions.apply_to_request_http1x(request);
        Ok(())
    }
}

impl S3Url {
    /// `s3://BUCKET/OBJECT_KEY`, for messages.
    pub(super) fn display_key_of(&self, object_key: &str) -> String {
        format!("s3://{}/{object_key}", self.bucket)
    }
}

/// An object key as a URL path: every byte but SigV4's unreserved ones and `/`
/// percent-encoded, which is also how the signature's canonical request wants it.
fn encode_path(object_key: &str) -> String {
    let mut path = String::with_capacity(object_key.len());
    for byte in object_key.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~' | b'/') {
            path.push(char::from(byte));
        } else {
            path.push_str(&format!("%{byte:02X}"));
        }
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys with spaces, `+`, `%` and non-ASCII text reach S3 as the same object.
    #[test]
    fn object_keys_are_percent_encoded_once_but_slashes_are_kept() {
        assert_eq!(encode_path("a/b c+d%é.json"), "a/b%20c%2Bd%25%C3%A9.json");
        assert_eq!(
            encode_path("pipeline/checkpoint.json"),
            "pipeline/checkpoint.json"
        );
    }

    /// Without an endpoint the bucket is AWS's, virtual-hosted in its region, except
    /// that a dotted bucket is addressed path-style (its name would break the TLS
    /// wildcard); with one, path-style under it.
    #[test]
    fn buckets_are_addressed_on_aws_by_region_and_path_style_under_an_endpoint() {
        let client = |url: &str| {
            let credentials = Credentials {
                access_key_id: "AK".into(),
                secret_access_key: "secret".into(),
                session_token: None,
                source: "test".into(),
            };
            Client::new(url.parse().unwrap(), "eu-west-1".into(), credentials)
        };
        assert_eq!(
            client("s3://ckpt/p").object_url("p/k.json"),
            "https://ckpt.s3.eu-west-1.amazonaws.com/p/k.json"
        );
        assert_eq!(
            client("s3://my.ckpt/p").object_url("p/k.json"),
            "https://s3.eu-west-1.amazonaws.com/my.ckpt/p/k.json"
        );
        assert_eq!(
            client("s3://ckpt/p?endpoint=http://127.0.0.1:9000/").object_url("p/k.json"),
            "http://127.0.0.1:9000/ckpt/p/k.json"
        );
        assert_eq!(client("s3://ckpt/p").endpoint(), "AWS S3 in eu-west-1");
    }

    /// S3's error bodies give their code and message; a bodiless answer its status.
    #[test]
    fn error_answers_are_described_by_status_code_and_message() {
        let answer = Answer {
            status: 412,
            etag: None,
            body: b"<?xml version=\"1.0\"?><Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message></Error>".to_vec(),
        };
        assert_eq!(answer.code(), "PreconditionFailed");
        assert_eq!(
            answer.describe(),
            "HTTP 412 PreconditionFailed: At least one of the pre-conditions you specified did not hold"
        );
        let head = Answer {
            status: 404,
            etag: None,
            body: vec![],
        };
        assert_eq!((head.code(), head.describe().as_str()), ("", "HTTP 404"));
    }
}
