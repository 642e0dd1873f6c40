//! Builds the checkpoint component (`guest/`) for `wasm32-wasip2` and hands its path to
//! the library, so `cargo build`, `cargo run` and `cargo test` always embed a component
//! built from the current sources. Nothing prebuilt is ever checked in. Also reads the
//! WIT package's version from `wit/world.wit`, so that it is written in one place.

use std::env;
use std::fs;
use std::path::PathBuf;

use pipeline_checkpoint_guest_build as guest_build;

const ARTIFACT: &str = "pipeline_checkpoint_guest";

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let workspace = manifest_dir
        .ancestors()
        .nth(2)
        .expect("host-example/host sits two levels down in the workspace");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));

    let world = workspace.join("wit/world.wit");
    let version = guest_build::wit_package_version(&world);
    println!("cargo:rustc-env=PIPELINE_CHECKPOINT_WIT_VERSION={version}");

    let wasm =
        guest_build::build_component(&workspace.join("guest/Cargo.toml"), ARTIFACT, &out_dir);
    let embedded = out_dir.join(format!("{ARTIFACT}.wasm"));
    fs::copy(&wasm, &embedded).expect("the guest build produced no component");

    for always in ["wit", "guest/Cargo.toml", "Cargo.toml", "Cargo.lock"] {
        println!(
            "cargo:rerun-if-changed={}",
            workspace.join(always).display()
        );
    }
    println!("cargo:rerun-if-changed=build.rs");
}
