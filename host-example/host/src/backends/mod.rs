//! Storage backends, each one module behind a cargo feature, and [`StorageLocation`]:
//! the one place where a storage URL becomes a backend.
//!
//! - `files` (default): [`files::FileStorage`], each key a file under a directory,
//!   and the file-backed ack log; `file:DIR` or a plain path.
//! - `etcd`: [`etcd::EtcdStorage`], records in etcd; `etcd://HOST:PORT/PREFIX`.
//! - `s3`, `gcs`, `azure`: [`object_storage::ObjectStorage`], records as objects in
//!   Amazon S3 (or an S3-compatible store), Google Cloud Storage or Azure Blob Storage,
//!   through `object_store`; `s3://BUCKET/PREFIX?endpoint=URL&region=R`,
//!   `gs://BUCKET/PREFIX`, `az://CONTAINER/PREFIX?account_name=A`.
//! - `sqlite`: [`sqlite::SqliteStorage`], records (and a pipeline's logs) in one SQLite
//!   database shared by every tenant, whose concurrent writes share one durable
//!   commit; `sqlite://PATH`.
//! - `redis`: not a storage but a consumer, [`redis::RedisStreamConsumer`], whose
//!   acknowledgements are `XACK`s on a Redis stream's consumer group.
//!
//! A backend is a [`Storage`] plus a [`Backend`] that knows its location; adding one
//! is its module, its feature, and one arm in [`StorageLocation`]'s parser.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use thiserror::Error;

use crate::{BoxFuture, DynStorage, StorageError};
use logs::Logs;

#[cfg(feature = "etcd")]
pub mod etcd;
#[cfg(feature = "files")]
pub mod files;
pub mod logs;
#[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
pub mod object_storage;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(feature = "sqlite")]
pub mod sqlite;
#[cfg(any(
    feature = "etcd",
    feature = "s3",
    feature = "gcs",
    feature = "azure",
    feature = "redis"
))]
pub mod url_parts;

/// Runs `io`, blocking work (file I/O, a blocking client's call), on tokio's blocking
/// pool and waits for it without holding an executor thread. `what` names the work if
/// the task cannot finish (a panic in it, or a runtime shutting down).
pub(crate) async fn off_executor<T: Send + 'static>(
    what: &str,
    io: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, StorageError> {
    tokio::task::spawn_blocking(io).await.unwrap_or_else(|e| {
        Err(StorageError::Io(crate::Cause::with_source(
            format!("{what}: the blocking task did not finish"),
            e,
        )))
    })
}

/// Where a backend keeps records: what [`StorageLocation`] holds.
pub trait Backend: fmt::Debug + fmt::Display + Send + Sync {
    /// Opens the storage (creating a missing directory, or connecting lazily).
    fn open(&self) -> BoxFuture<'_, Result<Box<dyn DynStorage>, StorageError>>;
    /// Opens the storage for reading only: it creates nothing, and refuses puts where
    /// the backend can tell (files); for tools that only look.
    fn open_read_only(&self) -> BoxFuture<'_, Result<Box<dyn DynStorage>, StorageError>>;
    /// The location of tenant `id`'s records, apart from every other tenant's.
    fn for_tenant(&self, id: &str) -> Arc<dyn Backend>;
    /// Where `key`'s record is, for messages: a file path or a URL.
    fn describe(&self, key: &str) -> String;
    /// Where a pipeline keeps its logs (sink, ack log) beside these records, when the
    /// backend keeps them too (`sqlite`, whose commits they then share); `None`: in
    /// files in the pipeline's state directory.
    fn logs(&self) -> Option<Arc<dyn Logs>>;
}

/// Where checkpoint records live, as a `--storage` URL names it. Cheap to clone.
#[derive(Debug, Clone)]
pub struct StorageLocation(Arc<dyn Backend>);

impl StorageLocation {
    /// A location of a backend.
    pub fn new(backend: impl Backend + 'static) -> Self {
        Self(Arc::new(backend))
    }

    /// Record files under `dir`.
    #[cfg(feature = "files")]
    pub fn files(dir: impl Into<std::path::PathBuf>) -> Self {
        Self::new(files::FilesLocation(dir.into()))
    }

    /// Opens the storage.
    pub async fn open(&self) -> Result<Box<dyn DynStorage>, StorageError> {
        self.0.open().await
    }

    /// Opens the storage to read only, creating nothing.
    pub async fn open_read_only(&self) -> Result<Box<dyn DynStorage>, StorageError> {
        self.0.open_read_only().await
    }

    /// The location of tenant `id`'s records: `DIR/ID`, or `PREFIX/ID`.
    pub fn for_tenant(&self, id: &str) -> StorageLocation {
        StorageLocation(self.0.for_tenant(id))
    }

    /// Where `key`'s record is, for messages.
    pub fn describe(&self, key: &str) -> String {
        self.0.describe(key)
    }

    /// Where a pipeline's logs go beside these records; `None`: its state directory.
    pub fn logs(&self) -> Option<Arc<dyn Logs>> {
        self.0.logs()
    }
}

impl fmt::Display for StorageLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Why a string names no storage this build can open.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid storage {text:?}: {why}")]
pub struct InvalidLocation {
    /// The string given.
    pub text: String,
    /// What is wrong with it.
    pub why: String,
}

/// The schemes this build understands, for messages.
const SCHEMES: &[&str] = &[
    #[cfg(feature = "files")]
    "file:DIR (or a plain directory path)",
    #[cfg(feature = "etcd")]
    "etcd[s]://HOST:PORT[,HOST:PORT…]/PREFIX",
    #[cfg(feature = "s3")]
    "s3://BUCKET/PREFIX?endpoint=URL&region=R",
    #[cfg(feature = "gcs")]
    "gs://BUCKET/PREFIX",
    #[cfg(feature = "azure")]
    "az://CONTAINER/PREFIX?account_name=A",
    #[cfg(feature = "sqlite")]
    "sqlite://PATH",
];

/// `SCHEME://…` for a networked backend, `file:DIR` or a plain directory path for
/// files. An unknown scheme is an error, never a directory of that name: a mistyped
/// `etcdx://` or `ETCD://` must not quietly keep the record on the local disk.
impl FromStr for StorageLocation {
    type Err = InvalidLocation;

    fn from_str(text: &str) -> Result<Self, InvalidLocation> {
        let invalid = |why: String| InvalidLocation {
            text: text.to_owned(),
            why,
        };
        if text.trim().is_empty() {
            return Err(invalid("it is empty".into()));
        }
        let scheme = scheme_of(text);
        match scheme {
            #[cfg(feature = "files")]
            None => Ok(Self::files(text)),
            #[cfg(feature = "files")]
            Some("file") => {
                let dir = text["file:".len()..].trim_start_matches("//");
                if dir.is_empty() {
                    return Err(invalid("file: names no directory".into()));
                }
                Ok(Self::files(dir))
            }
            #[cfg(feature = "etcd")]
            Some("etcd" | "etcds") => text
                .parse::<etcd::EtcdUrl>()
                .map(Self::new)
                .map_err(|e| invalid(e.why)),
            #[cfg(feature = "s3")]
            Some("s3") => object_url(text).map_err(invalid),
            #[cfg(feature = "gcs")]
            Some("gs") => object_url(text).map_err(invalid),
            #[cfg(feature = "azure")]
            Some("az") => object_url(text).map_err(invalid),
            #[cfg(feature = "sqlite")]
            Some("sqlite") => text
                .parse::<sqlite::SqliteLocation>()
                .map(Self::new)
                .map_err(|e| invalid(e.why)),
            other => Err(invalid(format!(
                "{} this build supports {}",
                match other {
                    Some(scheme) => format!("unknown scheme {scheme:?};"),
                    None => "a plain path needs the files backend;".to_owned(),
                },
                SCHEMES.join(", ")
            ))),
        }
    }
}

/// An object storage location: `s3://`, `gs://` or `az://`.
#[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
fn object_url(text: &str) -> Result<StorageLocation, String> {
    text.parse::<object_storage::ObjectUrl>()
        .map(StorageLocation::new)
        .map_err(|e| e.why)
}

/// The scheme of `text` if it starts like a URL (`letters:`, RFC 3986's scheme
/// syntax), else `None` (a plain path). A single letter before `:` is a Windows drive.
fn scheme_of(text: &str) -> Option<&str> {
    let (scheme, _) = text.split_once(':')?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    let is_scheme = first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    (is_scheme && scheme.len() > 1).then_some(scheme)
}

#[cfg(all(
    test,
    feature = "files",
    feature = "etcd",
    feature = "s3",
    feature = "gcs",
    feature = "azure"
))]
mod tests {
    use super::*;

    /// Every storage URL of a known scheme parses; a mistyped one is an error that
    /// lists what is supported, never a directory.
    #[test]
    fn unknown_schemes_and_blank_text_are_errors_never_directories() {
        for text in [
            "pipeline-state",
            "file:state",
            "./a:b",
            "/abs/dir",
            "etcd://h:1/p",
            "s3://bucket/prefix?endpoint=http://127.0.0.1:9000",
            "gs://bucket_1/prefix?endpoint=http://127.0.0.1:4443",
            "az://container/prefix?account_name=acct&endpoint=http://127.0.0.1:10000/acct",
        ] {
            assert!(text.parse::<StorageLocation>().is_ok(), "{text}");
        }
        for (text, why) in [
            ("etcdx://h:1/p", "unknown scheme \"etcdx\""),
            ("ETCD://h:1/p", "unknown scheme \"ETCD\""),
            ("http://h:1/p", "unknown scheme \"http\""),
            ("", "empty"),
            (" ", "empty"),
            ("file:", "no directory"),
            ("etcd://h/p", "HOST:PORT"),
            ("S3://bucket/p", "unknown scheme \"S3\""),
            (
                "s3://bucket/p?secret_access_key=x",
                "never taken from the URL",
            ),
            ("GS://bucket/p", "unknown scheme \"GS\""),
            ("gcs://bucket/p", "unknown scheme \"gcs\""),
            ("az://C/p", "no bucket of lowercase"),
            ("az://container/p?sas_token=x", "never taken from the URL"),
            ("gs://bucket/p?region=eu", "unknown parameter"),
        ] {
            let err = text.parse::<StorageLocation>().expect_err(text);
            assert!(err.to_string().contains(why), "{text:?}: {err}");
        }
    }

    /// A location names the record it holds, and each tenant's apart.
    #[test]
    fn tenants_get_their_own_place_under_a_location() {
        let files: StorageLocation = "state".parse().unwrap();
        assert_eq!(files.for_tenant("t1").describe("k.json"), "state/t1/k.json");
        let etcd: StorageLocation = "etcd://h:1/p".parse().unwrap();
        assert_eq!(etcd.for_tenant("t1").describe("k"), "etcd://h:1/p/t1/k");
        for scheme in ["s3", "gs", "az"] {
            let objects: StorageLocation = format!("{scheme}://bkt/p").parse().unwrap();
            assert_eq!(
                objects.for_tenant("t1").describe("k"),
                format!("{scheme}://bkt/p/t1/k")
            );
        }
    }
}
