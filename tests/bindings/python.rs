//! The python package's tests: `bindings/python` installed into a venv the way a user
//! installs it (`pip install ./bindings/python`, not editable), with the component this
//! workspace built, then its pytest suite run against that installed copy.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support;

/// The venv under cargo's target directory, created on the first run and reused:
/// `--system-site-packages` lets it use an installed wasmtime and pytest, so pip only
/// fetches what is missing.
fn venv_python(workspace: &Path) -> PathBuf {
    let venv = support::scratch("python-venv");
    let python = venv.join("bin").join("python");
    if !python.is_file() {
        support::run(
            "creating the python venv",
            Command::new("python3")
                .args(["-m", "venv", "--system-site-packages"])
                .arg(&venv)
                .current_dir(workspace),
        );
    }
    python
}

fn pip(python: &Path, workspace: &Path) -> Command {
    let mut command = Command::new(python);
    command
        .args(["-m", "pip", "install", "--quiet"])
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .current_dir(workspace);
    command
}

/// The package installs from the clone with one pip command, carries the component
/// this workspace built (not a stale copy), and its whole pytest suite passes against
/// the installed copy.
#[test]
fn python_package_installs_from_the_clone_and_its_pytest_suite_passes() {
    if !support::installed(
        "python_package_installs_from_the_clone_and_its_pytest_suite_passes",
        "python3",
        "python",
        "install python3 with venv and pip",
    ) {
        return;
    }
    let workspace = support::workspace();
    let component = support::component_file();
    let python = venv_python(&workspace);

    // The dependencies, only if missing; then the package itself, rebuilt and
    // reinstalled on every run so that an earlier install cannot hide a change.
    support::run(
        "installing the python package's dependencies",
        pip(&python, &workspace).args(["wasmtime>=50.0.1,<51", "pytest"]),
    );
    support::run(
        "pip install ./bindings/python",
        pip(&python, &workspace)
            .args(["--force-reinstall", "--no-deps", "./bindings/python"])
            .env("PIPELINE_CHECKPOINT_WASM", &component),
    );

    let located = support::run(
        "locating the installed package",
        Command::new(&python)
            .args([
                "-c",
                "import pipeline_checkpoint._component as c; print(c.COMPONENT_FILE)",
            ])
            .current_dir(support::scratch("python-cwd")),
    );
    let installed = PathBuf::from(String::from_utf8_lossy(&located.stdout).trim());
    assert!(
        !installed.starts_with(workspace.join("bindings")),
        "the package imported from the source tree ({}), not from the venv",
        installed.display()
    );
    let packaged = std::fs::read(&installed).unwrap_or_else(|e| {
        panic!(
            "the installed package has no component at {}: {e}",
            installed.display()
        )
    });
    assert!(
        packaged == pipeline_checkpoint_host::COMPONENT,
        "the installed package carries a different component than this workspace built"
    );

    support::run(
        "python -m pytest bindings/python/tests",
        Command::new(&python)
            .args([
                "-m",
                "pytest",
                "bindings/python/tests",
                "-q",
                "-p",
                "no:cacheprovider",
            ])
            .env_remove("PYTHONPATH")
            .current_dir(&workspace),
    );
}
