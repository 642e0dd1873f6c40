//! Builds the checkpoint component (`guest/`) for `wasm32-wasip2` and hands its path to
//! the library, so `cargo build`, `cargo run` and `cargo test` always embed a component
//! built from the current sources. Nothing prebuilt is ever checked in.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

mod guest_build;

use guest_build::TARGET;

const ARTIFACT: &str = "pipeline_checkpoint_guest";

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let workspace = manifest_dir
        .parent()
        .expect("host-example sits in the workspace");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));

    ensure_target_installed();

    let target_dir = out_dir.join("guest-target");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = guest_build::command(cargo, &workspace.join("guest/Cargo.toml"), &target_dir);
    let status = build
        .status()
        .expect("cannot run cargo to build the guest component");
    assert!(status.success(), "building the guest component failed");

    let built = guest_build::artifact_dir(&target_dir);
    let wasm = built.join(format!("{ARTIFACT}.wasm"));
    let embedded = out_dir.join(format!("{ARTIFACT}.wasm"));
    fs::copy(&wasm, &embedded).expect("the guest build produced no component");

    // Rebuild precisely when a file the guest was built from changes.
    for source in dep_info_sources(&built.join(format!("{ARTIFACT}.d"))) {
        println!("cargo:rerun-if-changed={}", source.display());
    }
    for always in ["wit", "guest/Cargo.toml", "Cargo.toml", "Cargo.lock"] {
        println!(
            "cargo:rerun-if-changed={}",
            workspace.join(always).display()
        );
    }
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=guest_build.rs");
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
