//! What the tests and benchmarks of the workspace share, as a crate of its own rather
//! than files included across crates.
//!
//! # Layout
//! - [`recorder`]: a storage and consumer that record every call the component makes,
//!   the compiled runtime, and helpers over them.
//! - [`files`]: the checked-in fixtures, and small looks at files and python3.
//! - [`seeded`]: seeded randomness; every randomized test prints its seed.
//! - [`server`]: free ports and readiness, for the launchers of test servers.
//! - [`etcd`]: a throwaway etcd member on free loopback ports.
//! - [`etcd_cluster`]: a throwaway three-member etcd cluster, plain or TLS, whose
//!   members can be killed, restarted and frozen.
//! - [`certs`]: a CA, a server and a client certificate made with `openssl`.
//! - [`s3`]: a throwaway S3 API (moto) on a free loopback port.
//! - [`gcs`]: a throwaway GCS API (fake-gcs-server, behind a front of ours).
//! - [`azure`]: a throwaway Azure Blob Storage API (Azurite).
//! - [`object_stores`]: the three behind one face, for tests that run on each cloud.
//! - [`http_fronts`]: HTTP servers that strip conditional headers or answer with
//!   canned errors.
//! - [`redis`]: a throwaway redis-server on a free loopback port, writing every
//!   change to its append-only file before it answers.
//! - [`power_cut`]: a FUSE file system that forgets what was not synced (Linux).
//! - [`hostile`]: the misbehaving components of `tests/hostile-guest/`, built by this
//!   crate's build script, one per misbehaviour.

pub mod azure;
pub mod certs;
pub mod etcd;
pub mod etcd_cluster;
pub mod files;
pub mod gcs;
pub mod hostile;
pub mod http_fronts;
pub mod object_stores;
#[cfg(target_os = "linux")]
pub mod power_cut;
pub mod recorder;
pub mod redis;
pub mod s3;
pub mod seeded;
pub mod server;

pub use files::{fixture_dir, fixtures, in_memory_tempdir, lines_in, names_in, python};
pub use recorder::*;

/// Whether the environment asks for tests that need `what` to fail rather than skip
/// when it is missing: CI sets `PIPELINE_CHECKPOINT_REQUIRE_<WHAT>=1`.
pub fn required(what: &str) -> bool {
    std::env::var_os(format!(
        "PIPELINE_CHECKPOINT_REQUIRE_{}",
        what.to_uppercase()
    ))
    .is_some_and(|v| v == "1")
}

/// Runs `future` to completion on a runtime of its own (current-thread, with a
/// blocking pool and timers): for the synchronous parts of tests and launchers (a
/// readiness probe, a setup before processes start) that call the asynchronous API.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a test runtime starts")
        .block_on(future)
}

/// Says that a test is skipped, why (`line`: `"{test}: SKIPPED: {why}"`) and how to
/// run it (`fix`), or fails the test where CI requires `requirement`
/// (`PIPELINE_CHECKPOINT_REQUIRE_<REQUIREMENT>=1`). The notice goes straight to the
/// process's standard error, which the test harness does not capture (it captures only
/// `print!` and `eprint!`), so that `cargo test` shows it for a test that passes.
pub fn skip(line: &str, requirement: &str, fix: &str) {
    assert!(
        !required(requirement),
        "{line}, and PIPELINE_CHECKPOINT_REQUIRE_{} is set",
        requirement.to_uppercase()
    );
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "\n{line}; {fix}\n");
}

/// The `index`-th of a stream of UUID-shaped ids (36 bytes, like most brokers'), for
/// tests and benchmarks that want realistic ids without a pipeline.
pub fn uuid_shaped_id(index: u64) -> String {
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        index.wrapping_mul(0x9e37_79b9) as u32,
        (index >> 32) & 0xffff,
        (index >> 48) & 0xfff,
        index & 0xfff,
        index & 0xffff_ffff_ffff
    )
}
