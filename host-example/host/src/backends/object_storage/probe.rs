//! The probe: does the store refuse a stale replacement and a create over an existing
//! object, or does it accept writes whatever their condition?

use object_store::{Error as ObjectError, PutMode, PutPayload, UpdateVersion};

use super::{ObjectStorage, PROBE_KEY, version_of};

/// What the probe found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Probe {
    /// The store refused both a stale replacement and a create over an existing object.
    Fenced,
    /// The store accepted one of them (or gave two different writes one version):
    /// writers are not fenced.
    IgnoresConditions,
}

impl ObjectStorage {
    /// Checks, on the probe object, that the store refuses a stale `PutMode::Update`
    /// and a `PutMode::Create`: two unconditional writes with different bytes, then the
    /// two conditional writes, each of which must be refused.
    pub async fn probe(&self) -> Result<Probe, crate::StorageError> {
        let path = self.path(PROBE_KEY)?;
        let nonce = format!(
            "{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
        );
        let write = async |mode: PutMode, step: u32| {
            let payload = PutPayload::from(format!("probe {step} {nonce}"));
            self.store.put_opts(&path, payload, mode.into()).await
        };
        let failed = |e| self.error("PUT", PROBE_KEY, e);
        let first = UpdateVersion::from(write(PutMode::Overwrite, 1).await.map_err(failed)?);
        let second = UpdateVersion::from(write(PutMode::Overwrite, 2).await.map_err(failed)?);
        let cloud = self.url.cloud;
        if version_of(cloud, &first).is_none()
            || version_of(cloud, &first) == version_of(cloud, &second)
        {
            return Ok(Probe::IgnoresConditions);
        }
        for mode in [PutMode::Update(first), PutMode::Create] {
            match write(mode, 3).await {
                Ok(_) => return Ok(Probe::IgnoresConditions),
                Err(ObjectError::Precondition { .. } | ObjectError::AlreadyExists { .. }) => {}
                Err(e) => return Err(failed(e)),
            }
        }
        Ok(Probe::Fenced)
    }
}
