//! The nested `cargo build` of a component crate for `wasm32-wasip2`, for build
//! scripts: the host library's (the checkpoint component) and the test support's (the
//! misbehaving components under `tests/hostile-guest/`).
//!
//! Modelled on wasmtime's `crates/test-programs/artifacts`: each build has a target
//! directory of its own, inherits none of the outer build's flags, and prints a
//! `cargo:rerun-if-changed` line for every source file the component was built from.

use std::env;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The target components are built for.
pub const TARGET: &str = "wasm32-wasip2";
/// The workspace profile they are built with.
pub const PROFILE: &str = "guest";

/// Builds the crate at `manifest` (with `features`, if any) for [`TARGET`] into
/// `out_dir/guest-target` and returns the path of the `.wasm` named `artifact`, after
/// printing the rerun lines for its sources. Panics with the fix when the target is
/// missing and rustup cannot add it, or when the build fails: in a build script
/// there is no one else to tell.
pub fn build_component(manifest: &Path, artifact: &str, out_dir: &Path) -> PathBuf {
    build_component_with(manifest, artifact, &out_dir.join("guest-target"), &[])
}

/// Like [`build_component`], into `target_dir`, with cargo `features`.
pub fn build_component_with(
    manifest: &Path,
    artifact: &str,
    target_dir: &Path,
    features: &[&str],
) -> PathBuf {
    ensure_target_installed();
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = command(cargo, manifest, target_dir);
    if !features.is_empty() {
        build.arg("--features").arg(features.join(","));
    }
    let status = build
        .status()
        .expect("cannot run cargo to build a component");
    assert!(
        status.success(),
        "building the component {} failed",
        manifest.display()
    );
    let built = artifact_dir(target_dir);
    // Rebuild precisely when a file the component was built from changes.
    for source in dep_info_sources(&built.join(format!("{artifact}.d"))) {
        println!("cargo:rerun-if-changed={}", source.display());
    }
    built.join(format!("{artifact}.wasm"))
}

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

/// The version in the `package NAME@VERSION;` line of a WIT file, for the hand-written
/// import names, which must match the contract's. Panics if there is none.
pub fn wit_package_version(wit: &Path) -> String {
    let text =
        fs::read_to_string(wit).unwrap_or_else(|e| panic!("cannot read {}: {e}", wit.display()));
    text.lines()
        .find_map(|line| line.trim().strip_prefix("package "))
        .and_then(|rest| rest.trim_end_matches(';').split_once('@'))
        .map(|(_, version)| version.trim().to_owned())
        .unwrap_or_else(|| panic!("{} has no `package NAME@VERSION;` line", wit.display()))
}

/// Makes sure rustc can build for the wasm target: installs it with rustup when
/// rustup manages this toolchain, or stops with the one command that fixes it.
fn ensure_target_installed() {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let installed = |root: &Path| root.join("lib/rustlib").join(TARGET).is_dir();
    if sysroot.as_deref().is_some_and(installed) {
        return;
    }
    let added = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status()
        .is_ok_and(|s| s.success());
    if !added {
        panic!(
            "the {TARGET} target is not installed and rustup could not add it; \
             run `rustup target add {TARGET}` (or install the target for your toolchain) \
             and build again"
        );
    }
}

/// The source files listed in a Makefile-style dep-info file (`out: src1 src2 …`).
fn dep_info_sources(dep_info: &Path) -> Vec<PathBuf> {
    let Ok(text) = fs::read_to_string(dep_info) else {
        return Vec::new();
    };
    let Some((_, deps)) = text.lines().next().and_then(|line| line.split_once(": ")) else {
        return Vec::new();
    };
    // Spaces inside paths are escaped as `\ `.
    deps.replace("\\ ", "\u{0}")
        .split_whitespace()
        .map(|p| PathBuf::from(p.replace('\u{0}', " ")))
        .collect()
}
