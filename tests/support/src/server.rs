//! What the launchers of test servers (etcd, moto, Redis) share: whether their binary
//! is installed, free ports, and waiting for a freshly spawned server to answer.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command};
use std::thread;
use std::time::{Duration, Instant};

/// A loopback port free at the moment of asking; a server may still lose it to
/// another process, which is why launchers retry with fresh ones.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// Polls `ready` until it holds (true) or the server `child` exits first (false, and
/// `child` is cleared: its port was probably taken). Panics with the server's log if
/// it neither answers nor exits `within`.
pub fn wait_until_ready(
    child: &mut Option<Child>,
    what: &str,
    within: Duration,
    log: &Path,
    mut ready: impl FnMut() -> bool,
) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if ready() {
            return true;
        }
        let exited = child
            .as_mut()
            .and_then(|c| c.try_wait().expect("polling a test server"))
            .is_some();
        if exited {
            *child = None;
            return false;
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not answer within {within:?}; its log: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// Whether `binary` is installed (it runs with `--version`). If not, prints that
/// `test` is skipped and returns false, or panics where CI requires `requirement`
/// (`PIPELINE_CHECKPOINT_REQUIRE_<REQUIREMENT>`). `missing` names what is absent,
/// `install` how to get it.
pub fn installed_or_skip(
    test: &str,
    binary: &Path,
    missing: &str,
    requirement: &str,
    install: &str,
) -> bool {
    let absent = Command::new(binary)
        .arg("--version")
        .output()
        .is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound);
    if absent {
        let why = format!("{test}: SKIPPED: no {missing} ({})", binary.display());
        assert!(
            !crate::required(requirement),
            "{why}, and PIPELINE_CHECKPOINT_REQUIRE_{} is set",
            requirement.to_uppercase()
        );
        eprintln!("\n{why}; {install}\n");
    }
    !absent
}
