//! [`S3Storage`]: checkpoint records as objects in an S3 bucket, fenced by S3's
//! conditional writes (`If-None-Match: *` to create, `If-Match: ETAG` to replace).
//!
//! # Versions and ETags
//! The contract's version is a `u64`; S3's is an ETag, a quoted string. A version is
//! the first eight bytes of the SHA-256 of the ETag, and the storage keeps, per key,
//! the ETag it last read or wrote. A `put` expecting version `v` sends `If-Match` with
//! that ETag; where it holds none that hashes to `v` (another storage instance read
//! it) it asks S3 for the current ETag with a HEAD, and a mismatch is a conflict
//! without a write. Two different ETags share a version with probability 2⁻⁶⁴. An ETag
//! changes whenever the stored bytes do (for a single PUT it is their MD5), and every
//! record the component writes differs from the one before it (its offset or its
//! `written_at`), so every write gives the key a new version.
//!
//! # Durability
//! S3 answers 200 to a PUT once the object is stored durably across devices, as its
//! documentation promises; that answer is what `put` returns `Ok` on. What "durable"
//! means for another S3-compatible store is that store's promise.
//!
//! # The probe
//! A store that accepts `If-Match` but ignores it would let a stale writer overwrite
//! its successor's record. [`S3Storage::open`] therefore writes a probe object
//! (`PREFIX/.pipeline-checkpoint-probe`; keys may not start with `.`, so no record can
//! be named that) and checks that a stale `If-Match` and an `If-None-Match: *` on it
//! are both refused. If either is accepted it refuses to open, unless the URL says
//! `accept_unfenced_writes=true`.

use std::collections::HashMap;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::storage::{Expected, Stored};
use crate::{Cause, Storage, StorageError, StorageResult, validate_key};

mod credentials;
mod request;
mod url;

pub use credentials::{Credentials, Env, process_env, resolve_region};
pub use url::{DEFAULT_TIMEOUT, InvalidS3Url, S3Url};

use request::{Answer, Client};

/// The largest record read back, as for files: a larger object is not one this
/// storage wrote, and is refused as `invalid-data` rather than read into memory.
pub const MAX_VALUE_BYTES: u64 = 1 << 20;

/// The probe object's name under the prefix.
pub const PROBE_KEY: &str = ".pipeline-checkpoint-probe";

/// How often a put that S3 answers 409 (`ConditionalRequestConflict`: another
/// conditional write of the key is in flight) is retried before it is `unavailable`.
const CONFLICT_RETRIES: u32 = 5;

/// Storage in an S3 bucket: each key is the object `PREFIX/key`.
///
/// Every failure is a [`StorageError`]: a refused or silent connection, a 5xx or a
/// 429 is `unavailable`; 401 and 403 are `access-denied` (S3 also answers 403 for a
/// missing key where the credentials may not list the bucket); 412, and 404 on
/// `If-Match`, are `conflict`; a value that is not UTF-8 or larger than
/// [`MAX_VALUE_BYTES`] is `invalid-data`; a missing bucket and any other answer `io`,
/// with S3's code and message.
#[derive(Debug, Clone)]
pub struct S3Storage {
    client: Client,
    /// Per key, the version and ETag last read or written.
    etags: HashMap<String, (u64, String)>,
}

/// What the probe found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Probe {
    /// The store refused both a stale `If-Match` and an `If-None-Match: *`.
    Fenced,
    /// The store accepted one of them; writers are not fenced.
    IgnoresConditions,
}

impl S3Storage {
    /// Opens the bucket that `url` names for reading and writing, with credentials
    /// and region from the process environment, and runs the probe.
    pub fn open(url: S3Url) -> Result<Self, StorageError> {
        Self::open_with(url, &process_env)
    }

    /// [`S3Storage::open`] with credentials and region from `env`.
    pub fn open_with(url: S3Url, env: credentials::Env<'_>) -> Result<Self, StorageError> {
        let storage = Self::open_read_only_with(url, env)?;
        let accept = storage.client.url.accept_unfenced_writes;
        match storage.probe()? {
            Probe::Fenced => Ok(storage),
            Probe::IgnoresConditions if accept => Ok(storage),
            Probe::IgnoresConditions => Err(StorageError::Io(Cause::new(format!(
                "{} at {} ignores conditional writes (a stale If-Match or an If-None-Match: * \
                 on {} was accepted), so a stale worker could overwrite its successor's \
                 checkpoint; refusing to use it. Add accept_unfenced_writes=true to the URL \
                 only if no two workers can ever write the same checkpoint.",
                storage.client.url.display_key(""),
                storage.client.endpoint(),
                storage.client.url.display_key(PROBE_KEY),
            )))),
        }
    }

    /// Opens the bucket without the probe, which writes: for tools that only read.
    pub fn open_read_only(url: S3Url) -> Result<Self, StorageError> {
        Self::open_read_only_with(url, &process_env)
    }

    /// [`S3Storage::open_read_only`] with credentials and region from `env`.
    pub fn open_read_only_with(
        url: S3Url,
        env: credentials::Env<'_>,
    ) -> Result<Self, StorageError> {
        let credentials = Credentials::resolve(env)?;
        let region = url.region.clone().unwrap_or_else(|| resolve_region(env));
        Ok(Self {
            client: Client::new(url, region, credentials),
            etags: HashMap::new(),
        })
    }

    /// The URL this storage was opened with.
    pub fn url(&self) -> &S3Url {
        &self.client.url
    }

    /// Checks, on the probe object, that the store refuses a stale `If-Match` and an
    /// `If-None-Match: *`: two unconditional writes with different bytes, then the
    /// two conditional writes, each of which must be refused (412).
    pub fn probe(&self) -> Result<Probe, StorageError> {
        let object_key = self.client.url.object_key(PROBE_KEY);
        let nonce = format!(
            "{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
        );
        let write = |headers: &[(&str, &str)], step: u32| {
            self.client.send(
                "PUT",
                &object_key,
                headers,
                format!("probe {step} {nonce}").as_bytes(),
                MAX_VALUE_BYTES,
            )
        };
        let first = write(&[], 1)?;
        let first_etag = self.written_etag(&first, &object_key)?;
        let second = write(&[], 2)?;
        let second_etag = self.written_etag(&second, &object_key)?;
        if first_etag == second_etag {
            return Ok(Probe::IgnoresConditions);
        }
        for (header, value) in [("if-match", first_etag.as_str()), ("if-none-match", "*")] {
            let answer = write(&[(header, value)], 3)?;
            match answer.status {
                // 409: another opener's conditional write of the probe was in flight,
                // which a store ignoring conditions would never say.
                412 | 409 => {}
                200..=299 => return Ok(Probe::IgnoresConditions),
                _ => return Err(self.error_of(&answer, "PUT", &object_key)),
            }
        }
        Ok(Probe::Fenced)
    }

    /// The ETag of a successful PUT; any other answer as its error.
    fn written_etag(&self, answer: &Answer, object_key: &str) -> Result<String, StorageError> {
        if !(200..=299).contains(&answer.status) {
            return Err(self.error_of(answer, "PUT", object_key));
        }
        answer.etag.clone().ok_or_else(|| {
            StorageError::Io(Cause::new(format!(
                "{} at {} answered a PUT of {} without an ETag; without one writes cannot be fenced",
                self.client.url.display_key(""),
                self.client.endpoint(),
                self.client.url.display_key_of(object_key)
            )))
        })
    }

    /// The storage error for an answer that is not a success.
    fn error_of(&self, answer: &Answer, method: &str, object_key: &str) -> StorageError {
        let why = format!(
            "S3 {method} of {} at {} answered {}",
            self.client.url.display_key_of(object_key),
            self.client.endpoint(),
            answer.describe()
        );
        match answer.status {
            401 | 403 => StorageError::AccessDenied(why.into()),
            429 | 500..=599 => StorageError::Unavailable(why.into()),
            _ => StorageError::Io(why.into()),
        }
    }

    /// The ETag to send in `If-Match` for a put expecting `version`: the one last
    /// seen if it hashes to it, else the object's current one if that does, else
    /// [`NO_ETAG`], which S3 then refuses with the reason (412, `NoSuchKey` or
    /// `NoSuchBucket`) that the put reports.
    fn etag_for(&self, key: &str, object_key: &str, version: u64) -> StorageResult<String> {
        if let Some((known, etag)) = self.etags.get(key)
            && *known == version
        {
            return Ok(etag.clone());
        }
        let answer = self.client.send("HEAD", object_key, &[], &[], 0)?;
        match answer.status {
            200 | 404 => Ok(answer
                .etag
                .filter(|etag| version_of(etag) == version)
                .unwrap_or_else(|| NO_ETAG.to_owned())),
            _ => Err(self.error_of(&answer, "HEAD", object_key).into()),
        }
    }
}

/// An `If-Match` value no object has: S3's ETags are hex digests (with a part count
/// for multipart uploads), never this.
const NO_ETAG: &str = "\"pipeline-checkpoint: no such version\"";

/// The version of an ETag: the first eight bytes of its SHA-256.
pub fn version_of(etag: &str) -> u64 {
    let digest = Sha256::digest(etag.as_bytes());
    u64::from_be_bytes(digest[..8].try_into().expect("a SHA-256 has 32 bytes"))
}

/// The client blocks; each call runs on tokio's blocking pool with a clone of the
/// storage, whose ETags come back with the answer.
impl Storage for S3Storage {
    async fn get(&mut self, key: &str) -> StorageResult<Option<Stored>> {
        let key = key.to_owned();
        self.off_executor(move |s3| s3.get_blocking(&key)).await
    }

    async fn put(&mut self, key: &str, value: &str, expected: Expected) -> StorageResult<u64> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.off_executor(move |s3| s3.put_blocking(&key, &value, expected))
            .await
    }
}

impl S3Storage {
    async fn off_executor<T: Send + 'static>(
        &mut self,
        call: impl FnOnce(&mut Self) -> StorageResult<T> + Send + 'static,
    ) -> StorageResult<T> {
        let mut s3 = self.clone();
        let (s3, result) = crate::backends::off_executor("an S3 call", move || {
            let result = call(&mut s3);
            Ok((s3, result))
        })
        .await?;
        *self = s3;
        result
    }

    fn get_blocking(&mut self, key: &str) -> StorageResult<Option<Stored>> {
        validate_key(key)?;
        let object_key = self.client.url.object_key(key);
        let answer = self
            .client
            .send("GET", &object_key, &[], &[], MAX_VALUE_BYTES)?;
        match answer.status {
            200 => {}
            404 if answer.code() != "NoSuchBucket" => {
                self.etags.remove(key);
                return Ok(None);
            }
            _ => return Err(self.error_of(&answer, "GET", &object_key).into()),
        }
        let etag = answer.etag.clone().ok_or_else(|| {
            StorageError::Io(Cause::new(format!(
                "{} was returned without an ETag",
                self.client.url.display_key(key)
            )))
        })?;
        let value = String::from_utf8(answer.body).map_err(|e| {
            StorageError::InvalidData(Cause::new(format!(
                "{} is not UTF-8: invalid byte at offset {}",
                self.client.url.display_key(key),
                e.utf8_error().valid_up_to()
            )))
        })?;
        let version = version_of(&etag);
        self.etags.insert(key.to_owned(), (version, etag));
        Ok(Some(Stored { value, version }))
    }

    fn put_blocking(&mut self, key: &str, value: &str, expected: Expected) -> StorageResult<u64> {
        validate_key(key)?;
        let object_key = self.client.url.object_key(key);
        let display_key = self.client.url.display_key(key);
        let conflict = |holds: &str| {
            let wanted = match expected {
                Expected::Absent => "absent".to_owned(),
                Expected::Version(version) => format!("version {version}"),
            };
            StorageError::Conflict(format!("{display_key}: expected {wanted}, {holds}"))
        };
        let condition = match expected {
            Expected::Absent => ("if-none-match", "*".to_owned()),
            Expected::Version(version) => ("if-match", self.etag_for(key, &object_key, version)?),
        };
        let content_type = if key.ends_with(".json") {
            "application/json"
        } else {
            "text/plain; charset=utf-8"
        };
        let headers = [
            (condition.0, condition.1.as_str()),
            ("content-type", content_type),
        ];
        let mut retries = 0;
        let answer = loop {
            let answer =
                self.client
                    .send("PUT", &object_key, &headers, value.as_bytes(), 64 << 10)?;
            // 409 means another conditional write of the key was in flight and this one
            // was not applied: sending it again is safe. Nothing else is retried: after
            // a 5xx the write may have happened, and only a fresh read can tell.
            if answer.status != 409 || retries == CONFLICT_RETRIES {
                break answer;
            }
            retries += 1;
            std::thread::sleep(Duration::from_millis(20 << retries));
        };
        match (answer.status, expected) {
            (200..=299, _) => {
                let etag = self.written_etag(&answer, &object_key)?;
                let version = version_of(&etag);
                self.etags.insert(key.to_owned(), (version, etag));
                Ok(version)
            }
            (412, _) => {
                self.etags.remove(key);
                Err(conflict("S3 refused the condition (412)").into())
            }
            (404, Expected::Version(_)) if answer.code() != "NoSuchBucket" => {
                self.etags.remove(key);
                Err(conflict("no such object (404 on If-Match)").into())
            }
            (409, _) => Err(StorageError::Unavailable(Cause::new(format!(
                "S3 PUT of {} at {}: still {} after {CONFLICT_RETRIES} retries",
                self.client.url.display_key(key),
                self.client.endpoint(),
                answer.describe()
            )))
            .into()),
            _ => Err(self.error_of(&answer, "PUT", &object_key).into()),
        }
    }
}

impl crate::backends::Backend for S3Url {
    fn open(&self) -> crate::BoxFuture<'_, Result<Box<dyn crate::DynStorage>, StorageError>> {
        let url = self.clone();
        Box::pin(async move {
            let storage =
                crate::backends::off_executor("opening S3", move || S3Storage::open(url)).await?;
            Ok(Box::new(storage) as Box<dyn crate::DynStorage>)
        })
    }

    /// No probe: it writes.
    fn open_read_only(
        &self,
    ) -> crate::BoxFuture<'_, Result<Box<dyn crate::DynStorage>, StorageError>> {
        let url = self.clone();
        Box::pin(async move {
            let storage =
                crate::backends::off_executor("opening S3", move || S3Storage::open_read_only(url))
                    .await?;
            Ok(Box::new(storage) as Box<dyn crate::DynStorage>)
        })
    }

    fn for_tenant(&self, id: &str) -> std::sync::Arc<dyn crate::backends::Backend> {
        std::sync::Arc::new(S3Url {
            prefix: self.object_key(id),
            ..self.clone()
        })
    }

    fn describe(&self, key: &str) -> String {
        self.display_key(key)
    }

    fn logs(&self) -> Option<std::sync::Arc<dyn crate::backends::logs::Logs>> {
        None
    }
}
