//! A real Redis for one test: `redis-server` started on a free loopback port with its
//! own temporary directory and `appendfsync always` (every write in the append-only
//! file, synced, before Redis answers), killed (SIGKILL) when dropped.
//!
//! redis-server comes from `REDIS_SERVER_BIN` or `redis-server` on the `PATH`
//! (Debian's `redis-server`). Where it is missing the Redis tests print `SKIPPED` and
//! pass; CI sets `PIPELINE_CHECKPOINT_REQUIRE_REDIS` so that there they fail instead.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use pipeline_checkpoint_host::backends::redis::redis;

use crate::server::free_port;

/// How long a fresh server (or one replaying its append-only file) may take to answer.
const READY_WITHIN: Duration = Duration::from_secs(30);

pub struct RedisServer {
    child: Option<Child>,
    dir: tempfile::TempDir,
    port: u16,
}

impl RedisServer {
    /// Starts a server, or returns `None` after printing why the calling test is
    /// skipped.
    pub fn start(test: &str) -> Option<Self> {
        // 6.2: the pipeline takes a dead worker's entries over with XAUTOCLAIM.
        if !crate::server::usable_or_skip(
            test,
            &binary(),
            "redis-server",
            "redis",
            "install Debian's redis-server (6.2 or later) or set REDIS_SERVER_BIN",
            Some("6.2"),
        ) {
            return None;
        }
        let mut server = RedisServer {
            child: None,
            dir: tempfile::tempdir().expect("a temporary directory"),
            port: 0,
        };
        // A port found free can be taken before Redis binds it: try fresh ones.
        for _ in 0..3 {
            server.port = free_port();
            if server.spawn() {
                return Some(server);
            }
        }
        panic!("redis-server did not start; its log: {}", server.log());
    }

    /// `redis://127.0.0.1:PORT/STREAM`, with a short timeout so that outages show fast.
    pub fn url(&self, stream: &str) -> String {
        format!("redis://127.0.0.1:{}/{stream}?timeout_ms=2000", self.port)
    }

    /// The source URL of `stream`, read through `group`.
    pub fn source_url(&self, stream: &str, group: &str) -> String {
        format!("{}&group={group}", self.url(stream))
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// An asynchronous client connection, for an asynchronous test to set up and look.
    pub async fn connection(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(format!("redis://127.0.0.1:{}/", self.port))
            .expect("a Redis URL")
            .get_multiplexed_async_connection()
            .await
            .expect("a connection to the test's Redis")
    }

    /// A blocking client connection, for a synchronous test to set up and look.
    pub fn client(&self) -> redis::Connection {
        redis::Client::open(format!("redis://127.0.0.1:{}/", self.port))
            .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(10)))
            .expect("a connection to the test's Redis")
    }

    /// Kills the server (SIGKILL: an outage, not a shutdown) and waits for it to die.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same directory (its append-only file) and port.
    pub fn restart(&mut self) {
        self.stop();
        assert!(
            self.spawn(),
            "redis-server did not restart; its log: {}",
            self.log()
        );
    }

    /// Spawns redis-server and waits until it answers; false if it exited first.
    fn spawn(&mut self) -> bool {
        let log = self.dir.path().join("redis.log");
        let child = Command::new(binary())
            .args(["--bind", "127.0.0.1", "--port"])
            .arg(self.port.to_string())
            .arg("--dir")
            .arg(self.dir.path())
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ])
            .args(["--daemonize", "no", "--protected-mode", "yes"])
            .arg("--logfile")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(self.dir.path().join("stderr.log")).expect("a log file"))
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let port = self.port;
        crate::server::wait_until_ready(&mut self.child, "redis-server", READY_WITHIN, &log, || {
            redis::Client::open(format!("redis://127.0.0.1:{port}/"))
                .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(500)))
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
                .is_ok()
        })
    }

    fn log(&self) -> String {
        let read = |name| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        format!("{}{}", read("redis.log"), read("stderr.log"))
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn binary() -> PathBuf {
    std::env::var_os("REDIS_SERVER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("redis-server"))
}
