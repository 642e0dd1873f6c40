//! An Azure Blob Storage API for one test: Azurite's blob service on a free loopback
//! port, in memory, killed when dropped.
//!
//! Azurite is npm's `azurite` package: `AZURITE_BLOB` names its `azurite-blob`, else
//! the tests install it once under cargo's target directory (`target/debug/azurite`, with
//! `npm install`). Where neither works (no npm, no registry) the Azure tests print a
//! loud `SKIPPED` and pass; CI sets `PIPELINE_CHECKPOINT_REQUIRE_AZURE` so that there
//! they fail instead. Azurite runs with `--disableTelemetry` (else it sends telemetry
//! out), `--loose` and `--skipApiVersionCheck` (object_store's API version may be newer
//! than Azurite's).
//!
//! Requests of the tests' own (creating a container, reading an object behind the
//! storage's back, the proxy that drops conditions) are signed with `object_store`'s
//! own Shared Key signer, the one the storage uses.

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use object_store::azure::{AzureAccessKey, AzureAuthorizer, AzureCredential};
use object_store::client::HttpRequest;

use crate::http_fronts::{CONDITION_HEADERS, closing, serve};
use crate::server::{free_port, wait_until_ready};

/// Azurite's well-known development account.
pub const ACCOUNT: &str = "devstoreaccount1";
/// Its well-known key: public, yet the tests assert it never shows, as a real one must not.
pub const ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// The azurite release installed where none is given.
const AZURITE: &str = "azurite@3.35.0";

pub struct AzureServer {
    child: Option<Child>,
    _dir: tempfile::TempDir,
    port: u16,
}

impl AzureServer {
    /// Starts Azurite, or returns `None` after printing why the calling test is
    /// skipped (a failure where CI requires Azure).
    pub fn start(test: &str) -> Option<Self> {
        let binary = match azurite_blob() {
            Ok(binary) => binary,
            Err(why) => {
                let line = format!("{test}: SKIPPED: no Azurite ({why})");
                crate::skip(&line, "azure", "install npm, or set AZURITE_BLOB");
                return None;
            }
        };
        let dir = tempfile::tempdir().expect("a temporary directory");
        let log = dir.path().join("azurite.log");
        let (mut child, mut port) = (None, 0);
        for _ in 0..3 {
            port = free_port();
            let out = File::create(&log).expect("the log opens");
            child = Some(
                Command::new(&binary)
                    .args(["--loose", "--skipApiVersionCheck", "--disableTelemetry"])
                    .args(["--inMemoryPersistence", "--blobHost", "127.0.0.1"])
                    .args(["--blobPort", &port.to_string()])
                    .stdin(Stdio::null())
                    .stdout(out.try_clone().expect("the log clones"))
                    .stderr(out)
                    .spawn()
                    .expect("azurite-blob starts"),
            );
            let started =
                || std::fs::read_to_string(&log).is_ok_and(|l| l.contains("successfully listens"));
            if wait_until_ready(
                &mut child,
                "Azurite",
                Duration::from_secs(60),
                &log,
                started,
            ) {
                break;
            }
        }
        assert!(child.is_some(), "Azurite did not start");
        Some(AzureServer {
            child,
            _dir: dir,
            port,
        })
    }

    /// The port Azurite listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The account's blob endpoint, path-style: `http://127.0.0.1:PORT/devstoreaccount1`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/{ACCOUNT}", self.port)
    }

    /// `az://CONTAINER/PREFIX?account_name=…&endpoint=http://127.0.0.1:PORT/…`.
    pub fn url_at(port: u16, container: &str, prefix: &str) -> String {
        format!(
            "az://{container}/{prefix}?account_name={ACCOUNT}\
             &endpoint=http://127.0.0.1:{port}/{ACCOUNT}&timeout_ms=2000"
        )
    }

    /// The `object_store` settings: the account's key.
    pub fn settings() -> Vec<(&'static str, String)> {
        vec![("azure_storage_account_key", ACCOUNT_KEY.to_owned())]
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

    /// Creates `container`.
    pub fn create_container(&self, container: &str) {
        let status = signed(
            self.port,
            "PUT",
            &format!("/{container}?restype=container"),
            &[],
            b"",
        )
        .0;
        assert!(
            status == 201 || status == 409,
            "creating {container}: {status}"
        );
    }

    /// The blob's bytes, straight from Azurite; `None` if it is missing.
    pub fn object(&self, container: &str, key: &str) -> Option<Vec<u8>> {
        let (status, body) = signed(self.port, "GET", &format!("/{container}/{key}"), &[], b"");
        (status == 200).then_some(body)
    }

    /// Stores `value` under `key`, unconditionally, behind the storage's back.
    pub fn put_object(&self, container: &str, key: &str, value: &[u8]) {
        let headers = [("x-ms-blob-type", "BlockBlob")];
        let status = signed(
            self.port,
            "PUT",
            &format!("/{container}/{key}"),
            &headers,
            value,
        )
        .0;
        assert_eq!(status, 201, "putting {key}");
    }

    /// Deletes `key` behind the storage's back.
    pub fn delete_object(&self, container: &str, key: &str) {
        let status = signed(
            self.port,
            "DELETE",
            &format!("/{container}/{key}"),
            &[],
            b"",
        )
        .0;
        assert_eq!(status, 202, "deleting {key}");
    }

    /// A proxy in front of Azurite that drops every conditional header, then signs the
    /// request again (Shared Key signs those headers too): a store that ignores
    /// conditional writes. Returns its port.
    pub fn condition_stripping_proxy(&self) -> u16 {
        let port = self.port;
        serve(move |request, client| {
            let line: Vec<&str> = request.head[0].split(' ').collect();
            let (method, target) = (line[0], line.get(1).copied().unwrap_or("/"));
            let kept: Vec<(String, String)> = request.head[1..]
                .iter()
                .filter_map(|h| {
                    let (name, value) = h.split_once(':')?;
                    let lower = name.trim().to_ascii_lowercase();
                    let dropped = [
                        "authorization",
                        "x-ms-date",
                        "connection",
                        "host",
                        "content-length",
                    ];
                    (!CONDITION_HEADERS.contains(&lower.as_str())
                        && !dropped.contains(&lower.as_str()))
                    .then(|| (lower, value.trim().to_owned()))
                })
                .collect();
            let kept: Vec<(&str, &str)> =
                kept.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            let path = target
                .strip_prefix(&format!("/{ACCOUNT}"))
                .unwrap_or(target);
            let answer = send_signed(port, method, path, &kept, &request.body);
            let _ = client.write_all(&closing(answer));
        })
    }
}

impl Drop for AzureServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One request to Azurite on `port` for `path` under the account, signed with the
/// account's key: its status and body.
pub fn signed(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<u8>) {
    let answer = send_signed(port, method, path, headers, body);
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("{method} {path}: no answer"));
    let status = String::from_utf8_lossy(&answer[..split])
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, dechunk(&answer[..split], &answer[split + 4..]))
}

/// The whole answer to a signed request (see [`signed`]).
fn send_signed(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Vec<u8> {
    let target = format!("/{ACCOUNT}{path}");
    let mut request = http::Request::builder()
        .method(method)
        .uri(format!("http://127.0.0.1:{port}{target}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if !body.is_empty() {
        request = request.header("content-length", body.len());
    }
    let mut request: HttpRequest = request.body(body.to_vec().into()).expect("a valid request");
    let key = AzureAccessKey::try_new(ACCOUNT_KEY).expect("the key is base64");
    let credential = AzureCredential::AccessKey(key);
    AzureAuthorizer::new(&credential, ACCOUNT)
        .try_authorize(&mut request)
        .expect("signed");
    let mut head =
        format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    if body.is_empty() {
        head.push_str("Content-Length: 0\r\n");
    }
    for (name, value) in request.headers() {
        head.push_str(&format!(
            "{name}: {}\r\n",
            value.to_str().unwrap_or_default()
        ));
    }
    head.push_str("\r\n");
    let mut answer = Vec::new();
    let sent = TcpStream::connect(("127.0.0.1", port)).and_then(|mut stream| {
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        stream.write_all(head.as_bytes())?;
        stream.write_all(body)?;
        stream.read_to_end(&mut answer)
    });
    if sent.is_err() {
        return b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n".to_vec();
    }
    answer
}

/// The body of an answer, its chunks joined if it was sent chunked.
fn dechunk(head: &[u8], body: &[u8]) -> Vec<u8> {
    if !String::from_utf8_lossy(head)
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return body.to_vec();
    }
    let (mut out, mut rest) = (Vec::new(), body);
    while let Some(end) = rest.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&rest[..end]).trim(), 16).unwrap_or(0);
        if size == 0 || rest.len() < end + 2 + size {
            break;
        }
        out.extend_from_slice(&rest[end + 2..end + 2 + size]);
        rest = &rest[(end + 4 + size).min(rest.len())..];
    }
    out
}

/// `azurite-blob`: `AZURITE_BLOB`, else installed once under cargo's target directory.
fn azurite_blob() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("AZURITE_BLOB") {
        let path = PathBuf::from(path);
        return match path.is_file() {
            true => Ok(path),
            false => Err(format!("AZURITE_BLOB names no file: {}", path.display())),
        };
    }
    // One install at a time in this process; the tests that start Azurite wait for it.
    static INSTALL: Mutex<()> = Mutex::new(());
    let _installing = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    // target/PROFILE/deps/<test binary>: installed in target/PROFILE/azurite.
    let profile = exe
        .parent()
        .and_then(std::path::Path::parent)
        .ok_or("no target directory")?;
    let prefix = profile.join("azurite");
    let binary = prefix.join("node_modules/.bin/azurite-blob");
    if binary.is_file() {
        return Ok(binary);
    }
    let out = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--prefix"])
        .arg(&prefix)
        .arg(AZURITE)
        .output()
        .map_err(|e| format!("npm does not run: {e}"))?;
    if !out.status.success() || !binary.is_file() {
        return Err(format!(
            "npm install {AZURITE} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(binary)
}
