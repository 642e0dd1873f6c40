//! The nested `cargo build` of a component crate for `wasm32-wasip2`, shared by
//! `build.rs` (the checkpoint component) and the contract tests (the misbehaving test
//! components under `tests/hostile-guest/`).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The target components are built for.
pub const TARGET: &str = "wasm32-wasip2";
/// The workspace profile they are built with.
pub const PROFILE: &str = "guest";

/// A `cargo build` of the crate at `manifest` for [`TARGET`] in [`PROFILE`], into
/// `target_dir`. The target dir must be one of the build's own: the outer cargo holds
/// the lock on the workspace's, and sharing it would deadlock.
pub fn command(cargo: OsString, manifest: &Path, target_dir: &Path) -> Command {
    let mut build = Command::new(cargo);
    build
        .arg("build")
        .arg("--manifest-path")
        .arg(manifest)
        .args(["--target", TARGET, "--profile", PROFILE])
        .arg("--target-dir")
        .arg(target_dir);
    // Flags meant for the host build (coverage, sanitizers, clippy's driver, a
    // `--target` of the outer build) must not leak into the wasm build.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET_DIR",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "CARGO_PROFILE_RELEASE_DEBUG",
    ] {
        build.env_remove(var);
    }
    build
}

/// The directory that [`command`]'s artifacts land in.
pub fn artifact_dir(target_dir: &Path) -> PathBuf {
    target_dir.join(TARGET).join(PROFILE)
}
