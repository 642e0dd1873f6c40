//! [`ComponentCache`]: compiled components kept on disk, so that a host's later starts
//! skip compilation.
//!
//! Loading compiled code is `unsafe` in wasmtime: it is machine code, run as is. So this
//! cache only ever loads what it wrote itself, for the exact bytes it is asked to load:
//! an artifact is named by the engine's compatibility hash and the SHA-256 of the
//! component it was compiled from, and carries the SHA-256 of its own bytes, checked
//! before loading. It never loads a `.cwasm` a user supplies. The directory must be
//! writable by this host alone: whoever can write there can make it run their code.

use std::fs;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::Error;

/// Where a runtime's compiled component came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Origin {
    /// Compiled from the component's bytes on this start.
    Compiled,
    /// Loaded from the [`ComponentCache`], compiled by an earlier start.
    Cached,
}

/// A directory of compiled components; see the module documentation.
#[derive(Debug, Clone)]
pub struct ComponentCache {
    dir: PathBuf,
}

impl ComponentCache {
    /// A cache in `dir`, created (private to this user, on Unix) on first store.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The artifact file for `bytes` compiled by `engine`.
    pub fn artifact_path(&self, engine: &Engine, bytes: &[u8]) -> PathBuf {
        let mut engine_hash = DefaultHasher::new();
        engine
            .precompile_compatibility_hash()
            .hash(&mut engine_hash);
        let component = hex(&Sha256::digest(bytes));
        self.dir
            .join(format!("{:016x}-{component}.cwasm", engine_hash.finish()))
    }

    /// The component compiled from `bytes`: from the cache if this host stored it
    /// there and it is intact, else compiled now and stored. A cache that cannot be
    /// read or written only costs the compilation; it is never an error.
    pub fn load(&self, engine: &Engine, bytes: &[u8]) -> Result<(Component, Origin), Error> {
        let path = self.artifact_path(engine, bytes);
        if let Some(component) = self.load_artifact(engine, &path) {
            return Ok((component, Origin::Cached));
        }
        let component = Component::new(engine, bytes).map_err(Error::Load)?;
        if let Ok(artifact) = component.serialize() {
            let _ = self.store_artifact(&path, &artifact);
        }
        Ok((component, Origin::Compiled))
    }

    /// The artifact at `path`, if it exists and its checksum matches.
    fn load_artifact(&self, engine: &Engine, path: &Path) -> Option<Component> {
        let stored = fs::read(path).ok()?;
        let (checksum, artifact) = stored.split_at_checked(CHECKSUM_LEN)?;
        if checksum != hex(&Sha256::digest(artifact)).as_bytes() {
            return None;
        }
        // SAFETY: the bytes are an artifact that `store_artifact` wrote from
        // `Component::serialize` on an engine with the same compatibility hash (it is
        // in the name), for the component whose hash is in the name, and the checksum
        // shows they are unchanged since. wasmtime checks the engine settings again.
        unsafe { Component::deserialize(engine, artifact) }.ok()
    }

    /// Writes `checksum ++ artifact` to `path` atomically (temporary file, rename).
    fn store_artifact(&self, path: &Path, artifact: &[u8]) -> std::io::Result<()> {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&self.dir)?;
        let mut temp = tempfile::NamedTempFile::new_in(&self.dir)?;
        temp.write_all(hex(&Sha256::digest(artifact)).as_bytes())?;
        temp.write_all(artifact)?;
        temp.persist(path)?;
        Ok(())
    }
}

/// Hex digits of a SHA-256.
const CHECKSUM_LEN: usize = 64;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
