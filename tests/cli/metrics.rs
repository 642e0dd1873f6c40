//! `run --metrics-addr`: the real binary serves Prometheus text while it runs, scraped
//! over HTTP; per tenant with `--tenants`. And `RUST_LOG` turns its logs on.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use pipeline_checkpoint_test_support::redis::RedisServer;
use pipeline_checkpoint_test_support::server::free_port;

use crate::redis::{produce, run_args};
use crate::support::host_example_command;

/// `GET /metrics` on `port`: the body, or `None` while nothing answers.
fn scrape(port: u16) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("text/plain; version=0.0.4"), "{response}");
    Some(response.split_once("\r\n\r\n")?.1.to_owned())
}

/// Scrapes until `done` holds for the body, while `child` runs; returns that body.
#[track_caller]
fn scrape_until(child: &mut Child, port: u16, done: impl Fn(&str) -> bool) -> String {
    let give_up = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(body) = scrape(port).filter(|body| done(body)) {
            return body;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before the scrape"
        );
        assert!(
            Instant::now() < give_up,
            "the metrics never showed it: {:?}",
            scrape(port)
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// The value of the sample `name` (with its labels), if the body has it.
fn sample(body: &str, name: &str) -> Option<f64> {
    body.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .map(|value| value.parse().expect("a number"))
}

#[test]
fn a_following_redis_run_serves_checkpoints_failures_latency_offset_and_lag() {
    let Some(redis) = RedisServer::start(
        "a_following_redis_run_serves_checkpoints_failures_latency_offset_and_lag",
    ) else {
        return;
    };
    let state = tempfile::tempdir().unwrap();
    produce(&redis, "in", 500);
    let port = free_port();
    let mut child = host_example_command()
        .arg("--state-dir")
        .arg(state.path())
        .args(run_args(&redis, "in", "out"))
        .args(["--batch-size", "10", "--follow"])
        .args(["--metrics-addr", &format!("127.0.0.1:{port}")])
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let body = scrape_until(&mut child, port, |body| {
        sample(body, "pipeline_checkpoint_durable_offset") == Some(500.0)
    });
    assert_eq!(
        sample(&body, "pipeline_checkpoint_checkpoints_written_total"),
        Some(50.0),
        "{body}"
    );
    assert_eq!(
        sample(&body, "pipeline_checkpoint_latency_seconds_count"),
        Some(50.0),
        "{body}"
    );
    assert_eq!(
        sample(&body, "pipeline_checkpoint_lag_messages"),
        Some(0.0),
        "{body}"
    );
    for kind in [
        "write-failed",
        "ack-failed",
        "fenced",
        "corrupt",
        "regression",
    ] {
        let name = format!("pipeline_checkpoint_failures_total{{kind=\"{kind}\"}}");
        assert_eq!(sample(&body, &name), Some(0.0), "{name}: {body}");
    }
    assert!(
        body.contains("# TYPE pipeline_checkpoint_latency_seconds histogram"),
        "{body}"
    );

    // Following: new entries are taken as they come, and the lag is measured.
    produce(&redis, "in", 20);
    scrape_until(&mut child, port, |body| {
        sample(body, "pipeline_checkpoint_durable_offset") == Some(520.0)
    });
    child.kill().unwrap();
    let output = child.wait_with_output().unwrap();
    let logs = String::from_utf8_lossy(&output.stderr);
    assert!(
        logs.contains("resuming") && logs.contains("INFO"),
        "RUST_LOG=info logs: {logs}"
    );
}

#[test]
fn tenants_each_have_their_own_metrics() {
    let state = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = host_example_command()
        .arg("--state-dir")
        .arg(state.path())
        .args([
            "run",
            "--tenants",
            "2",
            "--threads",
            "2",
            "--messages",
            "2000000",
        ])
        .args(["--batch-size", "10", "--quiet"])
        .args(["--metrics-addr", &format!("127.0.0.1:{port}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let written = |tenant: &str, body: &str| {
        sample(
            body,
            &format!("pipeline_checkpoint_checkpoints_written_total{{tenant=\"{tenant}\"}}"),
        )
        .unwrap_or(0.0)
    };
    let body = scrape_until(&mut child, port, |body| {
        written("tenant-0000", body) >= 1.0 && written("tenant-0001", body) >= 1.0
    });
    assert!(
        body.contains(
            "pipeline_checkpoint_failures_total{tenant=\"tenant-0001\",kind=\"fenced\"} 0"
        ) || body.contains(
            "pipeline_checkpoint_failures_total{kind=\"fenced\",tenant=\"tenant-0001\"} 0"
        ),
        "{body}"
    );
    assert!(
        !body
            .lines()
            .any(|line| line.starts_with("pipeline_checkpoint_durable_offset ")),
        "no unlabelled samples: {body}"
    );
    child.kill().unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.stderr.is_empty(),
        "without RUST_LOG, no logs: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
