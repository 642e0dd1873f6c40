//! A real S3 API for one test: moto's S3 server, started on a free loopback port,
//! applying one request at a time (see [`SERIALIZED_MOTO`]), killed when dropped. The
//! HTTP servers that tests put in front of it are [`crate::http_fronts`]'s.
//!
//! moto comes from `MOTO_PYTHON` (a Python with `moto[server]` installed) or
//! `python3`. Any moto 5 that honours S3's conditional writes will do (tested: 5.2.1
//! and 5.2.5). Where moto is missing, has no S3 application to serve, or ignores
//! conditional writes (5.0.0 does), the S3 tests print a loud `SKIPPED` and pass; CI
//! sets `PIPELINE_CHECKPOINT_REQUIRE_S3` so that there each of those fails instead.
//! moto keeps objects in memory: a killed server forgets them, so outages are made by
//! freezing it (SIGSTOP) rather than by killing it.

use std::fs::File;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use pipeline_checkpoint_host::{ObjectStorage, ObjectUrl};

use crate::http_fronts;
pub use crate::http_fronts::{canned_server, condition_stripping_proxy};
use crate::server::free_port;

/// Starts moto for the test named `$test`, or returns from the test where
/// [`S3Server::start`] skips it. `S3Server` must be in scope.
#[macro_export]
macro_rules! s3_or_skip {
    ($test:literal) => {
        match S3Server::start($test) {
            Some(server) => server,
            None => return,
        }
    };
}

/// The credentials every test signs with: moto accepts any. The secret is distinctive
/// so that tests can assert it never shows in an error or a log.
pub const ACCESS_KEY_ID: &str = "AKIATESTPIPELINECKPT";
/// See [`ACCESS_KEY_ID`].
pub const SECRET_ACCESS_KEY: &str = "Secret+Must/Never+Be+Printed0123456789abc";
/// See [`ACCESS_KEY_ID`].
pub const SESSION_TOKEN: &str = "SessionTokenMustNeverBePrinted";

/// The environment a child process or a storage signs with.
pub fn credentials_env() -> [(&'static str, &'static str); 4] {
    [
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID),
        ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY),
        ("AWS_SESSION_TOKEN", SESSION_TOKEN),
        ("AWS_REGION", "us-east-1"),
    ]
}

/// [`credentials_env`] as the `object_store` settings `ObjectStorage::open` takes.
pub fn settings() -> [(&'static str, &'static str); 4] {
    [
        ("aws_access_key_id", ACCESS_KEY_ID),
        ("aws_secret_access_key", SECRET_ACCESS_KEY),
        ("aws_session_token", SESSION_TOKEN),
        ("aws_region", "us-east-1"),
    ]
}

/// moto's S3 application, served as `python -m moto.server` serves it but applying one
/// request at a time. moto checks `If-Match` and stores the object in two steps
/// without a lock, so two threads racing with the same ETag can both succeed (seen
/// in the race test); S3 applies conditional writes atomically, which one request at
/// a time restores. A request's body is read before it takes its turn, so a client
/// frozen (SIGSTOP) in the middle of sending one stalls only its own thread.
///
/// Only what `moto.server` itself serves is used (its application object and the
/// factory it dispatches to), wrapped in a WSGI function of our own and served by
/// werkzeug's plain server: nothing of moto's request handling is reached into, so
/// the wrapper works with every moto 5 release. A moto that lacks them exits saying
/// so ([`NOTHING_TO_SERVE`]) and the tests skip.
const SERIALIZED_MOTO: &str = "
import io, sys, threading
try:
    from moto.server import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import run_simple
except ImportError as e:
    print('moto.server has no S3 application to serve:', e, file=sys.stderr)
    sys.exit(3)
app, lock = DomainDispatcherApplication(create_backend_app), threading.Lock()
def serialized(environ, start_response):
    length = int(environ.get('CONTENT_LENGTH') or 0)
    environ['wsgi.input'] = io.BytesIO(environ['wsgi.input'].read(length) if length else b'')
    with lock:
        return list(app(environ, start_response))
run_simple('127.0.0.1', int(sys.argv[1]), serialized, threaded=True)
";

/// What [`SERIALIZED_MOTO`] says before it exits when moto has nothing to serve.
const NOTHING_TO_SERVE: &str = "moto.server has no S3 application to serve";

/// How long moto may take to import and answer.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// What to install where moto is missing, too old, or ignores conditional writes.
const INSTALL_MOTO: &str =
    "pip install 'moto[server]>=5.2.1' or set MOTO_PYTHON to a Python that has it";

pub struct S3Server {
    child: Option<Child>,
    dir: tempfile::TempDir,
    port: u16,
}

impl S3Server {
    /// Starts moto, or returns `None` after printing why the calling test is skipped:
    /// no moto, a moto without an S3 application to serve, or one that ignores
    /// conditional writes (the tests' fencing would then fail for moto's sake, not
    /// ours). Where CI requires S3 (`PIPELINE_CHECKPOINT_REQUIRE_S3=1`) each of those
    /// is a failure instead.
    pub fn start(test: &str) -> Option<Self> {
        let python = python();
        let Some(version) = moto_version(&python) else {
            return skip(
                test,
                &format!(
                    "no moto server ({} -c 'import moto.server' failed)",
                    python.display()
                ),
            );
        };
        let mut server = S3Server {
            child: None,
            dir: tempfile::tempdir().expect("a temporary directory"),
            port: 0,
        };
        for _ in 0..3 {
            server.port = free_port();
            match server.spawn() {
                Started::Yes => break,
                Started::Unsupported => {
                    return skip(test, &format!("moto {version}: {}", server.log().trim()));
                }
                Started::PortTaken => {}
            }
        }
        assert!(
            server.child.is_some(),
            "moto did not start; its log: {}",
            server.log()
        );
        if let Some(ignored) = server.ignored_condition() {
            return skip(
                test,
                &format!("moto {version} ignores conditional writes ({ignored})"),
            );
        }
        Some(server)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The port moto listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Creates `bucket` (a bucket name is 3 or more characters).
    pub fn create_bucket(&self, bucket: &str) {
        let (status, body) = raw(self.port, "PUT", &format!("/{bucket}"), &[], b"");
        let owned = String::from_utf8_lossy(&body).contains("BucketAlreadyOwnedByYou");
        assert!(
            status == 200 || (status == 409 && owned),
            "creating bucket {bucket}: HTTP {status} {}",
            String::from_utf8_lossy(&body)
        );
    }

    /// `s3://BUCKET/PREFIX?endpoint=…` (see [`url_at`]), creating the bucket.
    pub fn url(&self, bucket: &str, prefix: &str) -> String {
        self.create_bucket(bucket);
        url_at(self.port, bucket, prefix)
    }

    /// A probed storage client for `bucket`/`prefix`, the bucket created.
    pub async fn storage(&self, bucket: &str, prefix: &str) -> ObjectStorage {
        let url: ObjectUrl = self.url(bucket, prefix).parse().expect("a valid URL");
        ObjectStorage::open(url, &settings())
            .await
            .expect("moto opens")
    }

    /// The object's bytes and ETag, straight from moto; `None` if it is missing.
    pub fn object(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        let (status, body) = raw(self.port, "GET", &format!("/{bucket}/{key}"), &[], b"");
        (status == 200).then_some(body)
    }

    /// Stores `value` under `key`, unconditionally, behind the storage's back.
    pub fn put_object(&self, bucket: &str, key: &str, value: &[u8]) {
        let status = raw(self.port, "PUT", &format!("/{bucket}/{key}"), &[], value).0;
        assert_eq!(status, 200, "putting {key}");
    }

    /// Deletes `key` behind the storage's back.
    pub fn delete_object(&self, bucket: &str, key: &str) {
        let status = raw(self.port, "DELETE", &format!("/{bucket}/{key}"), &[], b"").0;
        assert_eq!(status, 204, "deleting {key}");
    }

    /// Freezes moto (SIGSTOP): connections are accepted by the kernel and never
    /// answered, as by a server that hangs.
    pub fn freeze(&self) {
        self.signal("STOP");
    }

    /// Thaws a frozen moto (SIGCONT).
    pub fn thaw(&self) {
        self.signal("CONT");
    }

    fn signal(&self, name: &str) {
        let pid = self.child.as_ref().expect("moto runs").id();
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(pid.to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{name} {pid}");
    }

    fn spawn(&mut self) -> Started {
        let log = File::create(self.dir.path().join("moto.log")).expect("the log opens");
        let child = Command::new(python())
            .args(["-c", SERIALIZED_MOTO])
            .arg(self.port.to_string())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("the log clones"))
            .stderr(log)
            .spawn()
            .expect("python starts");
        self.child = Some(child);
        let port = self.port;
        let log = self.dir.path().join("moto.log");
        let ready =
            crate::server::wait_until_ready(&mut self.child, "moto", READY_WITHIN, &log, || {
                TcpStream::connect(("127.0.0.1", port)).is_ok()
                    && try_raw(port, "GET", "/", &[], b"").is_some_and(|(s, _)| s == 200)
            });
        if ready {
            return Started::Yes;
        }
        if self.log().contains(NOTHING_TO_SERVE) {
            Started::Unsupported
        } else {
            Started::PortTaken
        }
    }

    /// `None` if moto refuses a conditional PUT whose condition fails, as S3 does; else
    /// which condition it let through.
    fn ignored_condition(&self) -> Option<&'static str> {
        const BUCKET: &str = "conditional-write-probe";
        self.create_bucket(BUCKET);
        let path = format!("/{BUCKET}/probe");
        let put = |headers: &[(&str, &str)]| raw(self.port, "PUT", &path, headers, b"{}").0;
        put(&[]);
        if put(&[("If-None-Match", "*")]) != 412 {
            return Some("If-None-Match: * over an existing object");
        }
        if put(&[("If-Match", "\"not-the-etag\"")]) != 412 {
            return Some("If-Match with another ETag");
        }
        None
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("moto.log")).unwrap_or_default()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // A frozen process dies of SIGKILL all the same.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// How a spawn of moto ended.
enum Started {
    Yes,
    /// It exited at once: this moto has no S3 application to serve.
    Unsupported,
    /// It exited for another reason, most likely a port taken since it was found free.
    PortTaken,
}

/// Says that `test` is skipped and why, or fails where CI requires S3.
fn skip(test: &str, why: &str) -> Option<S3Server> {
    crate::skip(&format!("{test}: SKIPPED: {why}"), "s3", INSTALL_MOTO);
    None
}

/// moto's version, if `python` can import its server.
fn moto_version(python: &std::path::Path) -> Option<String> {
    let out = Command::new(python)
        .args(["-c", "import moto, moto.server; print(moto.__version__)"])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// `s3://BUCKET/PREFIX?endpoint=http://127.0.0.1:PORT&timeout_ms=2000`.
pub fn url_at(port: u16, bucket: &str, prefix: &str) -> String {
    format!(
        "s3://{bucket}/{prefix}?endpoint=http://127.0.0.1:{port}&region=us-east-1&timeout_ms=2000"
    )
}

fn python() -> PathBuf {
    std::env::var_os("MOTO_PYTHON").map_or_else(|| PathBuf::from("python3"), PathBuf::from)
}

/// One HTTP/1.1 request with a dummy signature, which moto accepts.
pub fn raw(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<u8>) {
    try_raw(port, method, path, headers, body)
        .unwrap_or_else(|| panic!("{method} {path} on port {port} failed"))
}

fn try_raw(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<(u16, Vec<u8>)> {
    // moto does not verify signatures, but treats a request without an Authorization
    // header as anonymous, and private objects are not anonymous readers' to read.
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0"
    );
    let mut all = vec![("Authorization", authorization.as_str())];
    all.extend_from_slice(headers);
    let (status, _, body) = http_fronts::request(port, method, path, &all, body)?;
    Some((status, body))
}
