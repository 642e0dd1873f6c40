//! A real etcd for one test: started on loopback with its own temporary data
//! directory and free ports, stopped (SIGKILL) when dropped. No fixed ports, no state
//! shared between tests.
//!
//! etcd comes from `ETCD_BIN` or `etcd` on the `PATH` (Debian's `etcd-server`). Where
//! it is not installed the etcd tests print a loud `SKIPPED` and pass, so that
//! `cargo test` works on a machine without it; CI sets `PIPELINE_CHECKPOINT_REQUIRE_ETCD`
//! so that there a missing etcd fails instead.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use pipeline_checkpoint_host::{EtcdStorage, Storage};

use crate::server::free_port;

/// Starts an etcd for the test named `$test`, or returns from the test where
/// [`EtcdServer::start`] skips it. `EtcdServer` must be in scope.
#[macro_export]
macro_rules! etcd_or_skip {
    ($test:literal) => {
        match EtcdServer::start($test) {
            Some(server) => server,
            None => return,
        }
    };
}

/// How long a fresh member may take to elect itself and answer.
const READY_WITHIN: Duration = Duration::from_secs(30);

pub struct EtcdServer {
    child: Option<Child>,
    data: tempfile::TempDir,
    client_port: u16,
    peer_port: u16,
}

impl EtcdServer {
    /// Starts a single-member etcd, or returns `None` after printing why the calling
    /// test is skipped.
    pub fn start(test: &str) -> Option<Self> {
        Self::binary_or_skip(test)?;
        let mut server = EtcdServer {
            child: None,
            data: tempfile::tempdir().expect("a temporary directory"),
            client_port: 0,
            peer_port: 0,
        };
        // A port found free can be taken before etcd binds it: try fresh ones.
        for _ in 0..3 {
            (server.client_port, server.peer_port) = (free_port(), free_port());
            if server.spawn() {
                return Some(server);
            }
        }
        panic!("etcd did not start; its log: {}", server.log());
    }

    /// `Some` if an etcd binary is there; else `None` after printing that `test` is
    /// skipped, or a panic where CI requires etcd.
    pub fn binary_or_skip(test: &str) -> Option<()> {
        // 3.4: the JSON gateway's `/v3/` paths (3.3 served them under `/v3beta/`).
        crate::server::usable_or_skip(
            test,
            &binary(),
            "etcd binary",
            "etcd",
            "install Debian's etcd-server (3.4 or later) or set ETCD_BIN",
            Some("3.4"),
        )
        .then_some(())
    }

    /// `etcd://127.0.0.1:PORT/PREFIX`, with a short timeout so that outages show fast.
    pub fn url(&self, prefix: &str) -> String {
        format!(
            "etcd://127.0.0.1:{}/{prefix}?timeout_ms=2000",
            self.client_port
        )
    }

    /// A storage client for `prefix` (opened without a runtime: its calls are async).
    pub fn storage(&self, prefix: &str) -> EtcdStorage {
        EtcdStorage::open_blocking(self.url(prefix).parse().expect("a valid URL"))
            .expect("the storage opens")
    }

    /// Kills the member (SIGKILL: an outage, not a shutdown) and waits for it to die.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the member again on the same data directory and ports.
    pub fn restart(&mut self) {
        self.stop();
        assert!(
            self.spawn(),
            "etcd did not restart; its log: {}",
            self.log()
        );
    }

    /// Spawns etcd and waits until it answers; false if it exited first.
    fn spawn(&mut self) -> bool {
        let client = format!("http://127.0.0.1:{}", self.client_port);
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.data.path().join("etcd.log"))
            .expect("the log file opens");
        let child = Command::new(binary())
            .arg("--name=test")
            .arg(format!(
                "--data-dir={}",
                self.data.path().join("data").display()
            ))
            .arg(format!("--listen-client-urls={client}"))
            .arg(format!("--advertise-client-urls={client}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster=test={peer}"))
            .args(["--logger=zap", "--log-level=warn"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("etcd starts");
        self.child = Some(child);
        let mut probe = self.storage("readiness");
        let log = self.data.path().join("etcd.log");
        crate::server::wait_until_ready(&mut self.child, "etcd", READY_WITHIN, &log, || {
            on_a_thread_of_its_own(probe.get("probe")).is_ok()
        })
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.data.path().join("etcd.log")).unwrap_or_default()
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs `future` to its end on a thread of its own, with a runtime of its own: the
/// launchers are synchronous, called from synchronous tests and from asynchronous ones
/// alike, and a runtime cannot be blocked on inside another.
pub(crate) fn on_a_thread_of_its_own<F>(future: F) -> F::Output
where
    F: std::future::Future + Send,
    F::Output: Send,
{
    std::thread::scope(|scope| {
        scope
            .spawn(|| crate::block_on(future))
            .join()
            .expect("the launcher's call does not panic")
    })
}

/// etcd from `ETCD_BIN`, else `etcd` on the `PATH`.
pub fn binary() -> PathBuf {
    std::env::var_os("ETCD_BIN").map_or_else(|| PathBuf::from("etcd"), PathBuf::from)
}
