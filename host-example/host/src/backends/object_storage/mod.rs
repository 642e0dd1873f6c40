//! [`ObjectStorage`]: checkpoint records as objects in Amazon S3 (or an S3-compatible
//! store), Google Cloud Storage or Azure Blob Storage, through Apache Arrow's
//! `object_store`, fenced by the clouds' conditional writes: `PutMode::Create` to
//! create, `PutMode::Update` on the version read to replace.
//!
//! # Versions
//! The contract's version is a `u64`: the first eight bytes of the SHA-256 of what the
//! cloud's condition compares, the ETag on S3 and Azure (`If-Match`), the generation
//! on GCS (`x-goog-if-generation-match`). The storage keeps, per key, the version it
//! last read or wrote; a `put` expecting another one (read by another instance) asks
//! for the current one with a HEAD, and a mismatch is a conflict without a write.
//! Every record the component writes differs from the one before, so every write gives
//! the key a new ETag and generation, hence a new version (a collision: 2⁻⁶⁴).
//!
//! # Durability and retries
//! Each cloud answers a PUT with success once the object is stored durably across
//! devices (for another S3-compatible store, that store's promise), and `put` returns
//! `Ok` on that answer. `object_store` retries, with exponential backoff, a request
//! that did not reach the store or got a 5xx or 429: a conditional PUT retried after
//! its first attempt was applied finds its own write and is a `conflict`, which fences
//! this writer needlessly but never lets a stale one through.
//!
//! # Credentials
//! From wherever the builders' `from_env` finds them: on S3 the `AWS_*` variables, web
//! identity (EKS), container (ECS) or instance (EC2) credentials, refreshed before they
//! expire; on GCS a service account, application default credentials or the metadata
//! server; on Azure a key, a SAS, a client secret, workload or managed identity, or the
//! Azure CLI. Never from the URL, and never shown (`Debug` shows the URL only).
//!
//! # The probe
//! A store that accepts a condition but ignores it would let a stale writer overwrite
//! its successor's record. [`ObjectStorage::open`] writes a probe object
//! (`PREFIX/.pipeline-checkpoint-probe`: no key starts with `.`) and checks that a stale
//! `PutMode::Update` and a `PutMode::Create` on it are refused; if not, it refuses to
//! open unless the URL says `accept_unfenced_writes=true`.

use std::collections::HashMap;
use std::sync::Arc;

use object_store::path::Path;
use object_store::{
    Error as ObjectError, ObjectMeta, ObjectStore, ObjectStoreExt, PutMode, UpdateVersion,
};
use sha2::{Digest, Sha256};

use crate::storage::{Expected, Stored};
use crate::{Cause, Storage, StorageError, StorageResult, validate_key};

mod backend;
mod client;
mod errors;
mod probe;
mod url;

use errors::{bucket_missing, storage_error};
pub use probe::Probe;
pub use url::{Cloud, DEFAULT_RETRIES, DEFAULT_TIMEOUT, InvalidObjectUrl, ObjectUrl};

/// The largest record read back, as for files: a larger object is not one this
/// storage wrote, and is refused as `invalid-data` rather than read into memory.
pub const MAX_VALUE_BYTES: u64 = 1 << 20;

/// The probe object's name under the prefix.
pub const PROBE_KEY: &str = ".pipeline-checkpoint-probe";

/// Storage in a bucket: each key is the object `PREFIX/key`.
///
/// Every failure is a [`StorageError`]: refused credentials are `access-denied`; a
/// store that cannot be reached or answers 5xx, 429 or 408 after the retries is
/// `unavailable`; a failed condition, and a missing object on a replacement, are
/// `conflict`; a value that is not UTF-8 or larger than [`MAX_VALUE_BYTES`] is
/// `invalid-data`; a missing bucket and anything else `io`, with the cloud's answer.
#[derive(Clone)]
pub struct ObjectStorage {
    store: Arc<dyn ObjectStore>,
    url: ObjectUrl,
    /// Per key, the version and the cloud's version last read or written.
    versions: HashMap<String, (u64, UpdateVersion)>,
}

/// The URL only: a client's own `Debug` may show its credentials.
impl std::fmt::Debug for ObjectStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectStorage")
            .field("url", &self.url.to_string())
            .finish_non_exhaustive()
    }
}

impl ObjectStorage {
    /// Opens the bucket that `url` names for reading and writing, with credentials from
    /// the environment and `settings` (`object_store` keys such as `aws_access_key_id`
    /// or `google_service_account`, for hosts that hold credentials themselves), and
    /// runs the probe.
    pub async fn open(url: ObjectUrl, settings: &[(&str, &str)]) -> Result<Self, StorageError> {
        let storage = Self::open_read_only(url, settings)?;
        if storage.probe().await? == Probe::Fenced || storage.url.accept_unfenced_writes {
            return Ok(storage);
        }
        Err(StorageError::Io(Cause::new(format!(
            "{} ignores conditional writes (the probe's stale write was accepted), so a stale \
             worker could overwrite its successor's checkpoint; refusing to use it. Add \
             accept_unfenced_writes=true to the URL only if no two workers can ever write \
             the same checkpoint.",
            storage.url.display_key(PROBE_KEY)
        ))))
    }

    /// Opens the bucket without the probe, which writes: for tools that only read.
    pub fn open_read_only(url: ObjectUrl, settings: &[(&str, &str)]) -> Result<Self, StorageError> {
        let store = client::connect(&url, settings)?;
        Ok(Self {
            store,
            url,
            versions: HashMap::new(),
        })
    }

    /// The URL this storage was opened with.
    pub fn url(&self) -> &ObjectUrl {
        &self.url
    }

    /// The object of `key` (checked by [`validate_key`] first, unless it is the probe's).
    fn path(&self, key: &str) -> Result<Path, StorageError> {
        let object_key = self.url.object_key(key);
        Path::parse(&object_key)
            .map_err(|e| StorageError::InvalidKey(format!("{object_key:?}: {e}")))
    }

    fn error(&self, method: &str, key: &str, error: ObjectError) -> StorageError {
        storage_error(format!("{method} of {}", self.url.display_key(key)), error)
    }

    /// The `u64` version of a cloud's version, remembered for `key`; an answer without
    /// one is an error, since without it writes cannot be fenced.
    fn remember(&mut self, key: &str, cloud_version: UpdateVersion) -> Result<u64, StorageError> {
        let version = version_of(self.url.cloud, &cloud_version).ok_or_else(|| {
            StorageError::Io(Cause::new(format!(
                "{} came without an ETag or generation; without one writes cannot be fenced",
                self.url.display_key(key)
            )))
        })?;
        self.versions
            .insert(key.to_owned(), (version, cloud_version));
        Ok(version)
    }

    /// The cloud's version that hashes to `version`: the one last seen, else the
    /// object's current one if it does; `None` if neither does (or there is none).
    async fn expected_version(
        &self,
        key: &str,
        path: &Path,
        version: u64,
    ) -> StorageResult<Option<UpdateVersion>> {
        if let Some((known, cloud_version)) = self.versions.get(key)
            && *known == version
        {
            return Ok(Some(cloud_version.clone()));
        }
        let meta = match self.store.head(path).await {
            Ok(meta) => meta,
            // A HEAD's 404 cannot say whether the object or the bucket is missing; a GET's can.
            Err(ObjectError::NotFound { .. }) => match self.store.get(path).await {
                Err(e) if bucket_missing(&e) => return Err(self.error("GET", key, e).into()),
                _ => return Ok(None),
            },
            Err(e) => return Err(self.error("HEAD", key, e).into()),
        };
        let current = cloud_version(&meta);
        Ok((version_of(self.url.cloud, &current) == Some(version)).then_some(current))
    }
}

fn cloud_version(meta: &ObjectMeta) -> UpdateVersion {
    UpdateVersion {
        e_tag: meta.e_tag.clone(),
        version: meta.version.clone(),
    }
}

/// The `u64` version of a cloud's version: the first eight bytes of the SHA-256 of
/// what the cloud's condition compares (the ETag; on GCS the generation).
pub fn version_of(cloud: Cloud, cloud_version: &UpdateVersion) -> Option<u64> {
    let compared = match cloud {
        Cloud::Gcs => cloud_version.version.as_ref(),
        _ => cloud_version.e_tag.as_ref(),
    }?;
    let digest = Sha256::digest(compared.as_bytes());
    Some(u64::from_be_bytes(
        digest[..8].try_into().expect("a SHA-256 has 32 bytes"),
    ))
}

impl Storage for ObjectStorage {
    async fn get(&mut self, key: &str) -> StorageResult<Option<Stored>> {
        validate_key(key)?;
        let path = self.path(key)?;
        let found = match self.store.get(&path).await {
            Ok(found) => found,
            Err(e @ ObjectError::NotFound { .. }) if !bucket_missing(&e) => {
                self.versions.remove(key);
                return Ok(None);
            }
            Err(e) => return Err(self.error("GET", key, e).into()),
        };
        let invalid = |why: String| {
            StorageError::InvalidData(Cause::new(format!("{} {why}", self.url.display_key(key))))
        };
        if found.meta.size > MAX_VALUE_BYTES {
            return Err(invalid(format!(
                "is larger than {MAX_VALUE_BYTES} bytes: not a checkpoint record"
            ))
            .into());
        }
        let cloud_version = cloud_version(&found.meta);
        let bytes = found.bytes().await.map_err(|e| self.error("GET", key, e))?;
        let value = String::from_utf8(bytes.to_vec()).map_err(|e| {
            invalid(format!(
                "is not UTF-8: invalid byte at offset {}",
                e.utf8_error().valid_up_to()
            ))
        })?;
        let version = self.remember(key, cloud_version)?;
        Ok(Some(Stored { value, version }))
    }

    async fn put(&mut self, key: &str, value: &str, expected: Expected) -> StorageResult<u64> {
        validate_key(key)?;
        let path = self.path(key)?;
        let conflict = |holds: &str| {
            let wanted = match expected {
                Expected::Absent => "absent".to_owned(),
                Expected::Version(version) => format!("version {version}"),
            };
            StorageError::Conflict(format!(
                "{}: expected {wanted}, {holds}",
                self.url.display_key(key)
            ))
        };
        let mode = match expected {
            Expected::Absent => PutMode::Create,
            Expected::Version(version) => match self.expected_version(key, &path, version).await? {
                Some(cloud_version) => PutMode::Update(cloud_version),
                None => return Err(conflict("the object holds another version or none").into()),
            },
        };
        match self
            .store
            .put_opts(&path, value.to_owned().into(), mode.into())
            .await
        {
            Ok(written) => Ok(self.remember(key, written.into())?),
            Err(e) => {
                self.versions.remove(key);
                Err(match e {
                    ObjectError::Precondition { .. } | ObjectError::AlreadyExists { .. } => {
                        conflict("the store refused the condition")
                    }
                    ObjectError::NotFound { .. } if !bucket_missing(&e) => {
                        conflict("no such object")
                    }
                    e => self.error("PUT", key, e),
                }
                .into())
            }
        }
    }
}
