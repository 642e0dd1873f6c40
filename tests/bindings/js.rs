//! The js package's tests: `bindings/js` built the way `npm install` builds it (its
//! `prepare` script transpiles the component this workspace built with jco), installed
//! into another project as a user installs it, then its suites run in every runtime it
//! supports: `node --test` on the machine's Node (20 or later: the sync build), on
//! Node 26 (JSPI), Deno's test runner (with no permission for the package), and
//! Cloudflare's workerd under miniflare, with the two examples killed mid-stream.
//!
//! Node 26, Deno, miniflare (with workerd) and esbuild are installed by npm into an
//! npm prefix under cargo's target directory, by `bindings/js/scripts/runtimes.mjs`
//! (which pins them); where npm cannot install them the tests print `SKIPPED` with the
//! command that fixes it, or fail where `PIPELINE_CHECKPOINT_REQUIRE_NODE=1` (CI).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::support;

fn npm() -> Command {
    let mut command = Command::new("npm");
    command
        .args(["--no-audit", "--no-fund", "--loglevel=error"])
        .env("PIPELINE_CHECKPOINT_WASM", support::component_file());
    command
}

fn package_dir() -> PathBuf {
    support::workspace().join("bindings").join("js")
}

/// Whether Node and npm are here: prints `SKIPPED` (or panics where CI requires them).
fn node_installed(test: &str) -> bool {
    support::installed(test, "node", "node", "install Node.js 20 or later with npm")
}

/// `npm install` in the package, once for every test of this binary: it builds
/// `generated/` from this workspace's component.
fn built_package() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let package = package_dir();
        support::run(
            "npm install in bindings/js",
            npm().arg("install").current_dir(&package),
        );
        package
    })
}

/// What npm installed under target/: Node 26's binary, Deno's, and the prefix that
/// holds miniflare and esbuild.
struct Runtimes {
    node26: PathBuf,
    deno: PathBuf,
    prefix: PathBuf,
}

/// Installs the pinned runtimes once; `Err` says why they could not be had.
fn runtimes() -> Result<&'static Runtimes, &'static str> {
    static INSTALLED: OnceLock<Result<Runtimes, String>> = OnceLock::new();
    INSTALLED
        .get_or_init(install_runtimes)
        .as_ref()
        .map_err(String::as_str)
}

/// Installs them with the package's `scripts/runtimes.mjs`, where their versions are
/// pinned (`.ci/run` runs the same script).
fn install_runtimes() -> Result<Runtimes, String> {
    let prefix = support::scratch("js-runtimes");
    let out = Command::new("node")
        .arg(package_dir().join("scripts").join("runtimes.mjs"))
        .arg(&prefix)
        .output()
        .map_err(|e| format!("cannot start node: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "scripts/runtimes.mjs could not install them: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let found: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("scripts/runtimes.mjs printed no JSON: {e}"))?;
    let path = |name: &str| found[name].as_str().map(PathBuf::from);
    match (path("node26"), path("deno"), path("prefix")) {
        (Some(node26), Some(deno), Some(prefix)) => Ok(Runtimes {
            node26,
            deno,
            prefix,
        }),
        _ => Err(format!("scripts/runtimes.mjs printed {found}")),
    }
}

/// The runtimes, or `None` after printing `SKIPPED` (panicking where CI requires them).
fn runtimes_or_skip(test: &str) -> Option<&'static Runtimes> {
    if !node_installed(test) {
        return None;
    }
    match runtimes() {
        Ok(runtimes) => Some(runtimes),
        Err(why) => {
            let fix = "it needs the npm registry: node bindings/js/scripts/runtimes.mjs target/tmp/js-runtimes";
            assert!(
                !pipeline_checkpoint_test_support::required("node"),
                "{test}: {why}, and PIPELINE_CHECKPOINT_REQUIRE_NODE is set"
            );
            eprintln!("\n{test}: SKIPPED: {why}; {fix}\n");
            None
        }
    }
}

/// The package's own suites (`test/*.test.js`), relative to the package.
fn suites(package: &Path) -> Vec<String> {
    let mut files: Vec<String> = fs::read_dir(package.join("test"))
        .expect("bindings/js/test is missing")
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".test.js"))
        .map(|name| format!("test/{name}"))
        .collect();
    files.sort();
    files
}

/// A project that installs the package from its folder, as a user does.
fn user_project() -> &'static Path {
    static PROJECT: OnceLock<PathBuf> = OnceLock::new();
    PROJECT.get_or_init(|| {
        let package = built_package();
        let project = support::scratch("js-project");
        fs::write(
            project.join("package.json"),
            r#"{"name": "uses-pipeline-checkpoint", "private": true, "type": "module"}"#,
        )
        .expect("cannot write the project's package.json");
        support::run(
            "npm install ./bindings/js from another project",
            npm().arg("install").arg(package).current_dir(&project),
        );
        project
    })
}

/// `npm install` in the package builds `generated/` from this workspace's component
/// (not a stale copy), another project installs the package with one command and
/// imports it, and the package's whole `node --test` suite passes on this machine's
/// Node (the sync build; the async suite proves its refusal where JSPI is missing).
#[test]
fn js_package_builds_from_the_component_installs_and_its_node_suite_passes() {
    if !node_installed("js_package_builds_from_the_component_installs_and_its_node_suite_passes") {
        return;
    }
    let package = built_package();
    let component = support::component_file();
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
            .current_dir(user_project()),
    );
    assert_eq!(
        String::from_utf8_lossy(&used.stdout).trim(),
        (1u64 << 60).to_string()
    );

    support::run(
        "node --test in bindings/js",
        Command::new("node")
            .arg("--test")
            .args(suites(package))
            .current_dir(package),
    );
}

/// On Node 26 the same suites pass with JSPI on: the async contract's tests run, and
/// are not skipped.
#[test]
fn js_suites_pass_on_node_26_with_jspi() {
    let Some(runtimes) = runtimes_or_skip("js_suites_pass_on_node_26_with_jspi") else {
        return;
    };
    let package = built_package();
    support::run(
        "node 26 --test in bindings/js",
        Command::new(&runtimes.node26)
            .arg("--test")
            .args(suites(package))
            .env("PIPELINE_CHECKPOINT_EXPECT_JSPI", "1")
            .current_dir(package),
    );
}

/// Deno runs the suites that need no file system with no permission flag at all (the
/// package reads no environment variable and no file), JSPI included; a user project
/// imports the installed package by name the same way; and the Deno KV storage fences
/// across two connections to one database.
#[test]
fn js_suites_pass_on_deno_without_permissions() {
    let Some(runtimes) = runtimes_or_skip("js_suites_pass_on_deno_without_permissions") else {
        return;
    };
    let package = built_package();
    let deno_test = || {
        let mut command = Command::new(&runtimes.deno);
        command
            .args(["test", "--no-check", "--no-prompt", "--quiet"])
            .env("DENO_DIR", support::scratch("js-deno-cache"))
            .env("NO_COLOR", "1")
            .current_dir(package);
        command
    };
    let portable: Vec<String> = suites(package)
        .into_iter()
        .filter(|suite| !suite.ends_with("file-storage.test.js"))
        .collect();
    support::run(
        "deno test (no permissions) in bindings/js",
        deno_test().args(&portable).args(["--", "--expect-jspi"]),
    );

    let project = user_project();
    fs::write(
        project.join("uses.mjs"),
        "import { AsyncCheckpointManager, MemoryStorage, MemoryConsumer } from 'pipeline-checkpoint';\n\
         const m = new AsyncCheckpointManager(new MemoryStorage(), new MemoryConsumer());\n\
         await m.writeCheckpoint(['a'], 2n ** 60n);\n\
         console.log(String(await m.getCheckpoint()));\n",
    )
    .expect("cannot write the project's script");
    let used = support::run(
        "deno run (no permissions) of a project importing the package",
        Command::new(&runtimes.deno)
            .args(["run", "--no-check", "--no-prompt", "uses.mjs"])
            .env("DENO_DIR", support::scratch("js-deno-cache"))
            .current_dir(project),
    );
    assert_eq!(
        String::from_utf8_lossy(&used.stdout).trim(),
        (1u64 << 60).to_string()
    );

    let temp = support::scratch("js-deno-kv");
    let allow = |flag: &str| format!("--allow-{flag}={}", temp.display());
    support::run(
        "deno test of the Deno KV storage",
        deno_test()
            .args([
                "--unstable-kv",
                &allow("read"),
                &allow("write"),
                "test/deno/",
            ])
            .env("TMPDIR", &temp),
    );
}

/// In workerd (miniflare), bundled as wrangler bundles a Worker: both builds, the
/// Durable Object, R2 and Workers KV storages, and the error without the `workerd`
/// condition.
#[test]
fn js_package_runs_in_cloudflare_workers_under_miniflare() {
    let Some(runtimes) = runtimes_or_skip("js_package_runs_in_cloudflare_workers_under_miniflare")
    else {
        return;
    };
    let package = built_package();
    support::run(
        "node --test test/workerd in bindings/js",
        Command::new(&runtimes.node26)
            .args(["--test", "test/workerd/workerd.test.js"])
            .env("PIPELINE_CHECKPOINT_JS_TOOLS", &runtimes.prefix)
            .current_dir(package),
    );
}

/// The Queue consumer Worker, killed with its workerd mid-stream and restarted on its
/// persisted Durable Object: nothing lost, duplicates only from the batch in flight.
#[test]
fn js_queue_worker_example_survives_a_kill_mid_stream() {
    let Some(runtimes) = runtimes_or_skip("js_queue_worker_example_survives_a_kill_mid_stream")
    else {
        return;
    };
    let example = built_package().join("examples").join("cloudflare-queue");
    support::run(
        "npm install in the Worker example",
        npm()
            .args(["install", "--ignore-scripts"])
            .current_dir(&example),
    );
    support::run(
        "node --test of the Worker example",
        Command::new(&runtimes.node26)
            .args(["--test", "test/kill-restart.test.js"])
            .env("PIPELINE_CHECKPOINT_JS_TOOLS", &runtimes.prefix)
            .current_dir(&example),
    );
}

/// The Deno pipeline over Deno KV, killed mid-stream and run again: nothing lost,
/// duplicates only from the batch in flight.
#[test]
fn js_deno_kv_example_survives_a_kill_mid_stream() {
    let Some(runtimes) = runtimes_or_skip("js_deno_kv_example_survives_a_kill_mid_stream") else {
        return;
    };
    let example = built_package().join("examples").join("deno-kv");
    support::run(
        "npm install in the Deno example",
        npm()
            .args(["install", "--ignore-scripts"])
            .current_dir(&example),
    );
    support::run(
        "deno test of the Deno example",
        Command::new(&runtimes.deno)
            .args([
                "test",
                "--no-check",
                "--no-prompt",
                "--quiet",
                "--unstable-kv",
                "--allow-run",
                "--allow-read",
                "--allow-write",
                "pipeline.test.js",
            ])
            .env("DENO_DIR", support::scratch("js-deno-cache"))
            .current_dir(&example),
    );
}
