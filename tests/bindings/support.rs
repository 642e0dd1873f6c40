//! What the packages' tests share: the workspace's paths, the component as a file, and
//! the checks for an interpreter that may be missing.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use pipeline_checkpoint_test_support::server::usable_or_skip;

/// The workspace's root directory.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("host-example/host sits two levels down in the workspace")
        .to_path_buf()
}

/// A scratch directory for `what` under cargo's target directory, kept between runs so
/// that a venv or `node_modules` is reused.
pub fn scratch(what: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(what);
    fs::create_dir_all(&dir).expect("cannot create a scratch directory under target/");
    dir
}

/// The component the host library embeds (built from the current sources by its build
/// script), written to a file that the packages' builds pick up through
/// `PIPELINE_CHECKPOINT_WASM`: a test then never starts a second cargo build inside
/// this one.
pub fn component_file() -> PathBuf {
    let path = scratch("component").join("pipeline_checkpoint.wasm");
    let current = fs::read(&path).is_ok_and(|b| b == pipeline_checkpoint_host::COMPONENT);
    if !current {
        fs::write(&path, pipeline_checkpoint_host::COMPONENT)
            .expect("cannot write the component under target/");
    }
    path
}

/// The oldest version of each interpreter the packages support: Node 20 (the JS
/// package's `engines`), Python 3.9 (wasmtime-py's floor).
const MINIMUM_VERSIONS: &[(&str, &str)] = &[("node", "20"), ("python3", "3.9")];

/// Whether `program` is installed and recent enough; prints `SKIPPED` (or panics where
/// CI requires it, `PIPELINE_CHECKPOINT_REQUIRE_<REQUIREMENT>=1`) when it is not.
pub fn installed(test: &str, program: &str, requirement: &str, install: &str) -> bool {
    let minimum = MINIMUM_VERSIONS
        .iter()
        .find(|(name, _)| *name == program)
        .map(|(_, version)| *version);
    usable_or_skip(
        test,
        Path::new(program),
        program,
        requirement,
        install,
        minimum,
    )
}

/// Runs `command`, panicking with its whole output unless it succeeds.
pub fn run(what: &str, command: &mut Command) -> Output {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start {command:?}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
