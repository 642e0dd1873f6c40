//! The js package's tests: `bindings/js` built the way `npm install` builds it (its
//! `prepare` script transpiles the component this workspace built with jco), installed
//! into another project as a user installs it, then its `node --test` suite run.

use std::fs;
use std::process::Command;

use crate::support;

fn npm() -> Command {
    let mut command = Command::new("npm");
    command
        .args(["--no-audit", "--no-fund", "--loglevel=error"])
        .env("PIPELINE_CHECKPOINT_WASM", support::component_file());
    command
}

/// `npm install` in the package builds `generated/` from this workspace's component
/// (not a stale copy), another project installs the package with one command and
/// imports it, and the package's whole `node --test` suite passes.
#[test]
fn js_package_builds_from_the_component_installs_and_its_node_suite_passes() {
    if !support::installed(
        "js_package_builds_from_the_component_installs_and_its_node_suite_passes",
        "node",
        "node",
        "install Node.js 20 or later with npm",
    ) {
        return;
    }
    let workspace = support::workspace();
    let package = workspace.join("bindings").join("js");
    let component = support::component_file();

    support::run(
        "npm install in bindings/js",
        npm().arg("install").current_dir(&package),
    );
    let stamp = fs::read_to_string(package.join("generated").join("component.json"))
        .expect("npm install left no generated/component.json");
    let stamp: serde_json::Value = serde_json::from_str(&stamp).expect("component.json is JSON");
    assert_eq!(
        stamp["source"].as_str(),
        component.to_str(),
        "generated/ was not built from this workspace's component: {stamp}"
    );
    assert_eq!(
        stamp["bytes"].as_u64(),
        Some(pipeline_checkpoint_host::COMPONENT.len() as u64),
        "generated/ holds a component of another size: {stamp}"
    );

    let project = support::scratch("js-project");
    fs::write(
        project.join("package.json"),
        r#"{"name": "uses-pipeline-checkpoint", "private": true, "type": "module"}"#,
    )
    .expect("cannot write the project's package.json");
    support::run(
        "npm install ./bindings/js from another project",
        npm().arg("install").arg(&package).current_dir(&project),
    );
    let used = support::run(
        "importing pipeline-checkpoint from the project",
        Command::new("node")
            .args([
                "--input-type=module",
                "-e",
                "import { CheckpointManager, MemoryStorage, MemoryConsumer } from 'pipeline-checkpoint';\n\
                 const m = new CheckpointManager(new MemoryStorage(), new MemoryConsumer());\n\
                 m.writeCheckpoint(['a'], 2n ** 60n);\n\
                 console.log(String(m.getCheckpoint()));",
            ])
            .current_dir(&project),
    );
    assert_eq!(
        String::from_utf8_lossy(&used.stdout).trim(),
        (1u64 << 60).to_string()
    );

    support::run(
        "node --test in bindings/js",
        Command::new("node")
            .args(["--test", "test/"])
            .current_dir(&package),
    );
}
