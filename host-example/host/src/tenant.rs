//! [`Tenants`]: many isolated checkpoint tenants on one runtime. Each [`Tenant`] has
//! its own instance (its own store, memory and limits), its own storage root and its
//! own ack log; a trap or a limit hit in one discards that tenant's instance only.
//!
//! Tenants are driven as tasks: a [`Tenant`] is `Send`, its calls are `async`, and a
//! tenant waiting for its storage holds no thread, so an embedder runs thousands of
//! them at once on a few threads of its own runtime (`tokio::spawn` one task per
//! tenant); a [`Tenants`] is cheap to clone into each.

use std::collections::HashSet;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use thiserror::Error;

use crate::backends::files::ACK_LOG_FILE;
use crate::{Error, FileConsumer, Manager, Runtime, StorageError, StorageLocation};

/// The longest tenant id, in bytes.
pub const MAX_TENANT_ID: usize = 64;

/// Why a tenant could not be opened.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TenantError {
    /// The id breaks the naming rule; the text says how.
    #[error("invalid tenant id {id:?}: {why}")]
    InvalidId {
        /// The id given.
        id: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A tenant with this id is already open in this [`Tenants`]: two handles would be
    /// two writers of one checkpoint.
    #[error("tenant {0:?} is already open")]
    AlreadyOpen(String),
    /// The tenant's directory or ack log could not be opened.
    #[error("tenant {id:?}: {source}")]
    Storage {
        /// The tenant.
        id: String,
        /// The failure.
        source: StorageError,
    },
    /// The component could not be instantiated for the tenant (the instance pool is
    /// full, for one).
    #[error("tenant {id:?}: {source}")]
    Host {
        /// The tenant.
        id: String,
        /// The failure.
        source: Error,
    },
}

/// Checks a tenant id: 1 to [`MAX_TENANT_ID`] bytes of lowercase ASCII letters,
/// digits, `-` and `_`, starting with a letter or digit. Ids name directories, so the
/// rule leaves no way out of the root (no `/`, `.`, `..`) and no two ids that a
/// case-insensitive file system would take for one.
pub fn validate_tenant_id(id: &str) -> Result<(), TenantError> {
    let invalid = |why| TenantError::InvalidId {
        id: id.to_owned(),
        why,
    };
    if id.is_empty() {
        return Err(invalid("it is empty"));
    }
    if id.len() > MAX_TENANT_ID {
        return Err(invalid("it is longer than 64 bytes"));
    }
    if !id.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric()) {
        return Err(invalid("it does not start with a letter or digit"));
    }
    let allowed = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_';
    if !id.bytes().all(allowed) {
        return Err(invalid(
            "only lowercase letters, digits, '-' and '_' are allowed",
        ));
    }
    Ok(())
}

/// Opens tenants of one runtime under one root: tenant `ID` keeps its ack log in
/// `ROOT/ID/acks.log` and its checkpoint record in `ROOT/ID/` (the default key,
/// `pipeline/checkpoint.json`), or under `ID` in the records location given by
/// [`Tenants::with_records`]: the layout of a `host-example run` state directory.
///
/// Every way in validates the id and admits one holder per tenant at a time. Cheap to
/// clone; clones share the set of open tenants.
#[derive(Clone)]
pub struct Tenants {
    runtime: Runtime,
    root: PathBuf,
    records: Option<StorageLocation>,
    open: Arc<Mutex<HashSet<String>>>,
}

impl Tenants {
    /// Tenants of `runtime` under `root` (created on first open).
    pub fn new(runtime: Runtime, root: impl Into<PathBuf>) -> Self {
        Self {
            runtime,
            root: root.into(),
            records: None,
            open: Arc::default(),
        }
    }

    /// Keeps tenant `ID`'s records at `records.for_tenant(ID)` instead of its
    /// directory: `DIR/ID/`, or `PREFIX/ID/` in etcd.
    pub fn with_records(mut self, records: StorageLocation) -> Self {
        self.records = Some(records);
        self
    }

    /// The runtime tenants are opened on.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The directory that holds tenant `id`'s state.
    pub fn dir_of(&self, id: &str) -> Result<PathBuf, TenantError> {
        validate_tenant_id(id)?;
        Ok(self.root.join(id))
    }

    /// Claims tenant `id` without opening a manager: its directory and records
    /// location, held until the claim is dropped, for hosts (such as a pipeline) that
    /// open their own managers over the tenant's state. Refused while the tenant is
    /// open or claimed.
    pub fn claim(&self, id: &str) -> Result<TenantClaim, TenantError> {
        let dir = self.dir_of(id)?;
        let registration = Registration::claim(&self.open, id)?;
        let records = match &self.records {
            Some(records) => records.for_tenant(id),
            None => StorageLocation::files(&dir),
        };
        Ok(TenantClaim {
            dir,
            records,
            registration,
        })
    }

    /// Opens tenant `id`: a fresh instance over its own storage and ack log. Its first
    /// write reads its durable checkpoint. Refused while another handle to the same
    /// tenant is open.
    pub async fn open(&self, id: &str) -> Result<Tenant, TenantError> {
        let claim = self.claim(id)?;
        let storage_error = |source| TenantError::Storage {
            id: id.to_owned(),
            source,
        };
        let storage = claim.records.open().await.map_err(storage_error)?;
        let consumer = FileConsumer::open(claim.dir.join(ACK_LOG_FILE))
            .await
            .map_err(storage_error)?;
        let manager = self
            .runtime
            .open(None, storage, consumer)
            .await
            .map_err(|source| TenantError::Host {
                id: id.to_owned(),
                source,
            })?;
        Ok(Tenant { manager, claim })
    }
}

/// A tenant claimed by [`Tenants::claim`]: where its state is, and the right to use it
/// until dropped.
pub struct TenantClaim {
    dir: PathBuf,
    records: StorageLocation,
    registration: Registration,
}

impl TenantClaim {
    /// The tenant's id.
    pub fn id(&self) -> &str {
        &self.registration.id
    }

    /// The directory holding the tenant's ack log (and, by default, its record).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the tenant's checkpoint record lives.
    pub fn records(&self) -> &StorageLocation {
        &self.records
    }
}

/// One open tenant: a [`Manager`] (it derefs to one) over the tenant's own files.
pub struct Tenant {
    manager: Manager,
    claim: TenantClaim,
}

impl Tenant {
    /// The tenant's id.
    pub fn id(&self) -> &str {
        self.claim.id()
    }

    /// The directory holding the tenant's record and ack log.
    pub fn dir(&self) -> &Path {
        self.claim.dir()
    }
}

impl Deref for Tenant {
    type Target = Manager;
    fn deref(&self) -> &Manager {
        &self.manager
    }
}

impl DerefMut for Tenant {
    fn deref_mut(&mut self) -> &mut Manager {
        &mut self.manager
    }
}

/// A tenant id's place in the set of open tenants, given back on drop.
struct Registration {
    id: String,
    open: Arc<Mutex<HashSet<String>>>,
}

impl Registration {
    fn claim(open: &Arc<Mutex<HashSet<String>>>, id: &str) -> Result<Self, TenantError> {
        let mut set = open.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if !set.insert(id.to_owned()) {
            return Err(TenantError::AlreadyOpen(id.to_owned()));
        }
        Ok(Self {
            id: id.to_owned(),
            open: open.clone(),
        })
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut set = self.open.lock().unwrap_or_else(|p| p.into_inner());
        set.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_cannot_escape_the_root_nor_collide_by_case() {
        for id in ["a", "tenant-0001", "t_9", "0", &"x".repeat(64)] {
            assert!(validate_tenant_id(id).is_ok(), "{id:?}");
        }
        for id in [
            "",
            "..",
            ".",
            "a/b",
            "/abs",
            "a\\b",
            "Tenant",
            "-lead",
            "_lead",
            "a b",
            "é",
            "a\0",
            "a.b",
            &"x".repeat(65),
        ] {
            assert!(validate_tenant_id(id).is_err(), "{id:?}");
        }
    }
}
