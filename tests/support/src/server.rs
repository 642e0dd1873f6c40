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
    usable_or_skip(test, binary, missing, requirement, install, None)
}

/// [`installed_or_skip`], and also skipped (or failed, where required) when the
/// version `binary --version` prints is older than `minimum` (`"3.4"`, `"6.2.0"`):
/// a test must never fail because a machine has an older server than the tests need.
pub fn usable_or_skip(
    test: &str,
    binary: &Path,
    missing: &str,
    requirement: &str,
    install: &str,
    minimum: Option<&str>,
) -> bool {
    let Err(why) = usable(binary, minimum) else {
        return true;
    };
    crate::skip(
        &format!("{test}: SKIPPED: {missing} ({}) {why}", binary.display()),
        requirement,
        install,
    );
    false
}

/// `Ok` if `binary` runs and, given a `minimum`, reports a version at least that; else
/// why not. A version that cannot be read from its output is taken as usable: the
/// tests then say what fails.
fn usable(binary: &Path, minimum: Option<&str>) -> Result<(), String> {
    let out = match Command::new(binary).arg("--version").output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err("is not installed".into());
        }
        Err(e) => return Err(format!("does not run: {e}")),
    };
    let Some(minimum) = minimum else {
        return Ok(());
    };
    let printed = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    match (version_in(&printed), version_in(minimum)) {
        (Some(found), Some(wanted)) if found < wanted => Err(format!(
            "is version {}, older than the {minimum} the tests need",
            found
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(".")
        )),
        _ => Ok(()),
    }
}

/// The first dotted version number in `text` (`v20.20.2`, `Version: 3.4.23`,
/// `v=7.0.15`), as its numbers.
fn version_in(text: &str) -> Option<Vec<u32>> {
    let start = text.find(|c: char| c.is_ascii_digit())?;
    let rest = &text[start..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let numbers: Vec<u32> = rest[..end]
        .split('.')
        .map_while(|n| n.parse().ok())
        .collect();
    (!numbers.is_empty()).then_some(numbers)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    /// A stand-in for a server binary that prints `version` as the real one would.
    fn fake_binary(dir: &Path, name: &str, version: &str) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\necho '{version}'\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[test]
    fn versions_are_read_from_what_each_server_prints() {
        assert_eq!(version_in("v20.20.2"), Some(vec![20, 20, 2]));
        assert_eq!(
            version_in("etcd Version: 3.4.23\nGit SHA: Not provided"),
            Some(vec![3, 4, 23])
        );
        assert_eq!(
            version_in("Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0"),
            Some(vec![7, 0, 15])
        );
        assert_eq!(version_in("Python 3.11.7"), Some(vec![3, 11, 7]));
        assert_eq!(version_in("no version here"), None);
    }

    /// Servers older than the tests need are skipped, never run into a failure: an
    /// etcd 3.3, a Redis 6.0, a Node 18 and a Python 3.8, as older machines have them.
    #[test]
    fn a_server_older_than_the_tests_need_is_unusable_and_a_newer_one_usable() {
        let dir = tempfile::tempdir().unwrap();
        for (name, old, new, minimum) in [
            (
                "etcd",
                "etcd Version: 3.3.27",
                "etcd Version: 3.4.23",
                "3.4",
            ),
            (
                "redis-server",
                "Redis server v=6.0.16 sha=0",
                "Redis server v=7.0.15 sha=0",
                "6.2",
            ),
            ("node", "v18.20.8", "v20.20.2", "20"),
            ("python3", "Python 3.8.18", "Python 3.11.7", "3.9"),
        ] {
            let old = fake_binary(dir.path(), &format!("{name}-old"), old);
            let why = usable(&old, Some(minimum)).expect_err(name);
            assert!(why.contains("older than"), "{name}: {why}");
            let new = fake_binary(dir.path(), &format!("{name}-new"), new);
            assert_eq!(usable(&new, Some(minimum)), Ok(()), "{name}");
        }
        let missing = dir.path().join("not-installed");
        assert_eq!(
            usable(&missing, Some("1.0")),
            Err("is not installed".to_owned())
        );
    }
}
