//! A real three-member etcd cluster for one test: on loopback, free ports, temporary
//! data directories, members killed when dropped. Members can be killed (SIGKILL),
//! restarted, frozen (SIGSTOP) and thawed, and the cluster can serve its clients over
//! TLS with certificates a test makes ([`crate::certs`]).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pipeline_checkpoint_host::{EtcdStorage, Storage};

use crate::certs::Certificates;
use crate::etcd::on_a_thread_of_its_own;
use crate::server::free_port;

/// How long a fresh cluster may take to elect a leader and answer.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// How the members serve their clients.
#[derive(Clone, Default)]
pub struct ClusterOptions {
    /// TLS on the client port with these certificates; with `client_cert_auth`, the
    /// members also demand a client certificate signed by the CA.
    pub tls: Option<Certificates>,
    pub client_cert_auth: bool,
    /// `--auth-token-ttl`, in seconds, for tests of token renewal.
    pub auth_token_ttl: Option<u32>,
}

struct Member {
    child: Option<Child>,
    client_port: u16,
    peer_port: u16,
}

pub struct EtcdCluster {
    members: Vec<Member>,
    data: tempfile::TempDir,
    options: ClusterOptions,
    token: String,
}

impl EtcdCluster {
    /// Starts a three-member cluster, or `None` after printing why the calling test
    /// is skipped (no etcd binary, and none required).
    pub fn start(test: &str, options: ClusterOptions) -> Option<Self> {
        crate::etcd::EtcdServer::binary_or_skip(test)?;
        let mut cluster = EtcdCluster {
            members: Vec::new(),
            data: tempfile::tempdir().expect("a temporary directory"),
            options,
            token: format!("{test}-{}", std::process::id()),
        };
        // A port found free can be taken before etcd binds it: try fresh ones.
        for _ in 0..3 {
            cluster.stop_all();
            cluster.members = (0..3)
                .map(|_| Member {
                    child: None,
                    client_port: free_port(),
                    peer_port: free_port(),
                })
                .collect();
            let _ = std::fs::remove_dir_all(cluster.data.path().join("members"));
            for i in 0..3 {
                cluster.spawn(i);
            }
            if cluster.wait_until_all_answer() {
                return Some(cluster);
            }
        }
        panic!("the etcd cluster did not start; logs: {}", cluster.logs());
    }

    /// `etcd[s]://127.0.0.1:P0,127.0.0.1:P1,127.0.0.1:P2/PREFIX?…`, members in `order`.
    pub fn url_in_order(&self, prefix: &str, order: &[usize], query: &str) -> String {
        let scheme = if self.options.tls.is_some() {
            "etcds"
        } else {
            "etcd"
        };
        let members: Vec<String> = order
            .iter()
            .map(|&i| format!("127.0.0.1:{}", self.members[i].client_port))
            .collect();
        format!("{scheme}://{}/{prefix}?{query}", members.join(","))
    }

    /// All three members, first to last, with the CA if the cluster speaks TLS and a
    /// timeout of 5 s (an election fits in it).
    pub fn url(&self, prefix: &str) -> String {
        self.url_in_order(prefix, &[0, 1, 2], &self.default_query())
    }

    /// Only member `i`.
    pub fn member_url(&self, i: usize, prefix: &str) -> String {
        self.url_in_order(prefix, &[i], &self.default_query())
    }

    fn default_query(&self) -> String {
        let mut query = "timeout_ms=5000".to_owned();
        if let Some(certs) = &self.options.tls {
            query.push_str(&format!("&ca={}", certs.ca.display()));
            if self.options.client_cert_auth {
                query.push_str(&format!(
                    "&cert={}&key={}",
                    certs.client_cert.display(),
                    certs.client_key.display()
                ));
            }
        }
        query
    }

    /// A storage client for `prefix` on every member (opened without a runtime: its
    /// calls are async).
    pub fn storage(&self, prefix: &str) -> EtcdStorage {
        EtcdStorage::open_blocking(self.url(prefix).parse().expect("a valid URL"))
            .expect("it opens")
    }

    /// The index of the member that leads now, asked of any member that answers.
    pub fn leader(&self) -> usize {
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            // Each member's status, asked once: the leader's id is in any of them,
            // and the leader's own status carries that id as its member id.
            let statuses: Vec<Option<serde_json::Value>> = on_a_thread_of_its_own(async {
                let mut statuses = Vec::new();
                for i in 0..3 {
                    statuses.push(self.status(i).await);
                }
                statuses
            });
            let id_of =
                |s: &serde_json::Value| s["header"]["member_id"].as_str().map(str::to_owned);
            let leader = statuses
                .iter()
                .flatten()
                .find_map(|s| s["leader"].as_str().map(str::to_owned));
            if let Some(i) = statuses
                .iter()
                .position(|s| leader.is_some() && s.as_ref().and_then(id_of) == leader)
            {
                return i;
            }
            assert!(Instant::now() < deadline, "no etcd leader: {}", self.logs());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `POST /v3/maintenance/status` on member `i` (plain-text clusters only).
    async fn status(&self, i: usize) -> Option<serde_json::Value> {
        assert!(
            self.options.tls.is_none(),
            "status is asked over plain HTTP"
        );
        let answer = self
            .gateway(i, "maintenance/status", serde_json::json!({}))
            .timeout(Duration::from_millis(500))
            .send()
            .await
            .ok()?;
        serde_json::from_str(&answer.text().await.ok()?).ok()
    }

    /// A request to member `i`'s JSON gateway (plain-text clusters only).
    fn gateway(&self, i: usize, method: &str, body: serde_json::Value) -> reqwest::RequestBuilder {
        let port = self.members[i].client_port;
        reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("an HTTP client")
            .post(format!("http://127.0.0.1:{port}/v3/{method}"))
            .body(body.to_string())
    }

    /// Adds user `root` with `password` and the root role, and turns authentication
    /// on (plain-text clusters only).
    pub fn enable_auth(&self, password: &str) {
        for (method, body) in [
            (
                "user/add",
                serde_json::json!({ "name": "root", "password": password }),
            ),
            ("role/add", serde_json::json!({ "name": "root" })),
            (
                "user/grant",
                serde_json::json!({ "user": "root", "role": "root" }),
            ),
            ("enable", serde_json::json!({})),
        ] {
            let path = format!("auth/{method}");
            let answer = on_a_thread_of_its_own(async {
                let answer = self
                    .gateway(0, &path, body)
                    .timeout(Duration::from_secs(5))
                    .send()
                    .await?;
                let status = answer.status();
                Ok::<_, reqwest::Error>((status, answer.text().await?))
            });
            assert!(
                matches!(&answer, Ok((status, _)) if status.is_success()),
                "{path}: {answer:?}"
            );
        }
    }

    /// SIGKILLs member `i` and waits for it to die.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts member `i` again on its data directory and ports, and waits until it
    /// answers a read.
    pub fn restart(&mut self, i: usize) {
        self.kill(i);
        self.spawn(i);
        assert!(
            self.wait_until_answers(i),
            "member {i} did not come back: {}",
            self.logs()
        );
    }

    /// Kills every member and starts them all again: a cluster-wide restart, which
    /// forgets what members keep only in memory (simple auth tokens).
    pub fn restart_all(&mut self) {
        self.stop_all();
        for i in 0..3 {
            self.spawn(i);
        }
        assert!(
            self.wait_until_all_answer(),
            "the cluster did not restart: {}",
            self.logs()
        );
    }

    /// SIGSTOPs (`freeze`) or SIGCONTs member `i`.
    pub fn signal(&self, i: usize, freeze: bool) {
        let child = self.members[i].child.as_ref().expect("member is running");
        let signal = if freeze { libc::SIGSTOP } else { libc::SIGCONT };
        // SAFETY: kill(2) on a child this cluster spawned and has not reaped.
        assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
    }

    fn spawn(&mut self, i: usize) {
        let scheme = if self.options.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let peers: Vec<String> = self
            .members
            .iter()
            .enumerate()
            .map(|(j, m)| format!("m{j}=http://127.0.0.1:{}", m.peer_port))
            .collect();
        let member = &self.members[i];
        let client = format!("{scheme}://127.0.0.1:{}", member.client_port);
        let peer = format!("http://127.0.0.1:{}", member.peer_port);
        let mut command = Command::new(crate::etcd::binary());
        command
            .arg(format!("--name=m{i}"))
            .arg(format!("--data-dir={}", self.dir(i).display()))
            .arg(format!("--listen-client-urls={client}"))
            .arg(format!("--advertise-client-urls={client}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster={}", peers.join(",")))
            .arg("--initial-cluster-state=new")
            .arg(format!("--initial-cluster-token={}", self.token))
            .args(["--logger=zap", "--log-level=warn"]);
        if let Some(certs) = &self.options.tls {
            command
                .arg(format!("--cert-file={}", certs.server_cert.display()))
                .arg(format!("--key-file={}", certs.server_key.display()));
            if self.options.client_cert_auth {
                command
                    .arg("--client-cert-auth")
                    .arg(format!("--trusted-ca-file={}", certs.ca.display()));
            }
        }
        if let Some(ttl) = self.options.auth_token_ttl {
            command.arg(format!("--auth-token-ttl={ttl}"));
        }
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_path(i))
            .expect("the log file opens");
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("etcd starts");
        self.members[i].child = Some(child);
    }

    /// Waits until every member answers a read; false if one exited first.
    fn wait_until_all_answer(&mut self) -> bool {
        (0..3).all(|i| self.wait_until_answers(i))
    }

    /// Waits until member `i` answers a read; false if it exited first (its port
    /// was probably taken). Panics with its log if it does neither in time.
    fn wait_until_answers(&mut self, i: usize) -> bool {
        let url = self
            .member_url(i, "readiness")
            .parse()
            .expect("a valid URL");
        let mut probe = EtcdStorage::open_blocking(url).expect("it opens");
        let log = self.log_path(i);
        crate::server::wait_until_ready(
            &mut self.members[i].child,
            &format!("etcd member {i}"),
            READY_WITHIN,
            &log,
            || answers(&mut probe),
        )
    }

    fn dir(&self, i: usize) -> PathBuf {
        self.data.path().join("members").join(format!("m{i}"))
    }

    fn log_path(&self, i: usize) -> PathBuf {
        self.data.path().join(format!("m{i}.log"))
    }

    /// Every member's log, for failure messages.
    pub fn logs(&self) -> String {
        (0..self.members.len())
            .map(|i| {
                let log = std::fs::read_to_string(self.log_path(i)).unwrap_or_default();
                format!("\n--- member {i} ---\n{log}")
            })
            .collect()
    }

    fn stop_all(&mut self) {
        for i in 0..self.members.len() {
            // A frozen member cannot die until it is continued.
            if let Some(child) = &self.members[i].child {
                // SAFETY: kill(2) on a child of this process.
                unsafe { libc::kill(child.id() as i32, libc::SIGCONT) };
            }
            self.kill(i);
        }
    }

    /// The data directory root, for tests that keep files beside the cluster.
    pub fn scratch(&self) -> &Path {
        self.data.path()
    }
}

/// Whether a member answers a read: with the record, or by refusing a client without
/// credentials once authentication is on.
fn answers(probe: &mut EtcdStorage) -> bool {
    use pipeline_checkpoint_host::{Fault, StorageError};
    matches!(
        on_a_thread_of_its_own(probe.get("probe")),
        Ok(_) | Err(Fault::Error(StorageError::AccessDenied(_)))
    )
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        self.stop_all();
    }
}
