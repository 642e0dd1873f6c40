//! [`StorageLocation`]: where a pipeline's checkpoint records live, as the CLI's
//! `--storage` names it.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::etcd::InvalidEtcdUrl;
use crate::{EtcdStorage, EtcdUrl, FileStorage, Storage, StorageError};

/// A directory of record files, or an etcd cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageLocation {
    /// [`FileStorage`] under this directory.
    Files(PathBuf),
    /// [`EtcdStorage`] at this URL.
    Etcd(EtcdUrl),
}

impl StorageLocation {
    /// Opens the storage. Files: creates the directory if missing. etcd: connects on
    /// first use.
    pub fn open(&self) -> Result<Box<dyn Storage>, StorageError> {
        Ok(match self {
            StorageLocation::Files(dir) => Box::new(FileStorage::open(dir)?),
            StorageLocation::Etcd(url) => Box::new(EtcdStorage::new(url.clone())),
        })
    }

    /// The location of tenant `id`'s records: the directory `DIR/ID`, or the etcd
    /// prefix `PREFIX/ID`.
    pub fn for_tenant(&self, id: &str) -> StorageLocation {
        match self {
            StorageLocation::Files(dir) => StorageLocation::Files(dir.join(id)),
            StorageLocation::Etcd(url) => StorageLocation::Etcd(EtcdUrl {
                prefix: url.etcd_key(id),
                ..url.clone()
            }),
        }
    }

    /// Where `key`'s record is, for messages: a file path or an etcd URL.
    pub fn describe(&self, key: &str) -> String {
        match self {
            StorageLocation::Files(dir) => dir.join(key).display().to_string(),
            StorageLocation::Etcd(url) => url.display_key(key),
        }
    }
}

/// `etcd://HOST:PORT/PREFIX[?timeout_ms=N]`, or a directory path (`file:DIR` or
/// `DIR`).
impl FromStr for StorageLocation {
    type Err = InvalidEtcdUrl;

    fn from_str(text: &str) -> Result<Self, InvalidEtcdUrl> {
        if text.starts_with("etcd:") {
            return Ok(StorageLocation::Etcd(text.parse()?));
        }
        let dir = text.strip_prefix("file:").unwrap_or(text);
        Ok(StorageLocation::Files(PathBuf::from(dir)))
    }
}

impl fmt::Display for StorageLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageLocation::Files(dir) => write!(f, "{}", dir.display()),
            StorageLocation::Etcd(url) => write!(f, "{url}"),
        }
    }
}
