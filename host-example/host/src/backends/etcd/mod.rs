//! [`EtcdStorage`]: checkpoint records in an etcd v3 cluster, written with fenced
//! transactions.
//!
//! It speaks etcd's JSON gateway (`POST /v3/kv/range`, `/v3/kv/txn`,
//! `/v3/auth/authenticate`), which every etcd 3.4+ member serves on its client port,
//! over plain HTTP or TLS, with reqwest: the asynchronous HTTP client, in the major
//! version and with the TLS set-up (rustls, aws-lc-rs, the platform's verifier) that
//! object_store's cloud stores use, so that a host with both builds one HTTP stack.
//! Keys and values travel base64-encoded, 64-bit integers as decimal strings, and
//! fields equal to their default are omitted, as protobuf's JSON mapping does.
//!
//! gRPC (the `etcd-client` crate, 0.21.1) was measured against it and left (figures
//! from scratch crates with the workspace's dev profile, built one after another on a
//! shared two-core machine, so CPU time is the figure to compare; README, "Why the
//! gateway and not gRPC", says how each was measured):
//! - Build: on top of object_store 0.14.2 (`aws`), reqwest adds no crate and 0.2 s of
//!   CPU time; etcd-client adds 64 crate builds (tonic, prost, its generated code, and
//!   shared crates rebuilt with more features) and 234 s of CPU time, and needs `protoc`
//!   at build time. Alone, reqwest is 101 crates and 249 s, etcd-client 109 and 325 s.
//! - Latency, sequential calls on loopback against one etcd 3.4.23 member, median of
//!   three runs of 2,000: a fenced txn put takes 0.92 ms over the gateway and 0.66 ms
//!   over gRPC (data on disk; 0.58 and 0.37 ms on tmpfs), a range 0.45 and 0.38 ms.
//!   The gateway is a hop inside the member, so the difference stays about 0.2 ms per
//!   checkpoint on a real network, where a round trip and a quorum's fsync dominate.
//! - What gRPC adds beyond that, leases and watches, the checkpoint does not need: a
//!   stale worker is fenced by the record's `mod_revision`, whether or not it still
//!   holds a lease.
//!
//! So a quarter of a millisecond per checkpoint was not worth a second HTTP/2 stack,
//! code generation and a build-time tool in every build of the host.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;
use serde_json::json;

use crate::storage::{Expected, Stored};
use crate::{Cause, Storage, StorageError, StorageResult, validate_key};

mod answer;
mod auth;
mod client;
mod tls;
mod url;

use client::{Client, Replay};
pub use url::{EtcdTls, EtcdUrl, InvalidEtcdUrl, PASSWORD_ENV};

/// Storage in etcd: each key is `PREFIX/key`, its version etcd's `mod_revision`.
///
/// `put_if` is one etcd transaction that compares the key's `mod_revision` (or, for
/// [`Expected::Absent`], its `create_revision` with 0) and puts only if it matches, so
/// a worker holding a stale revision can never overwrite a newer record, whichever
/// machine or member it talks to. A put returns once etcd has committed it, which
/// means written to the write-ahead log and fsynced by a quorum of members: durable.
///
/// A call goes to the member that last answered, and moves on to the next when one is
/// down, refuses, or does not answer within its share of the URL's timeout. Reads are
/// asked again freely; a write only while it provably was not applied, because a
/// transaction that may have landed must be reported as unknown, never retried into a
/// false conflict.
///
/// Every failure comes back as a [`StorageError`]: no member reachable in time as
/// `Unavailable`, etcd's own errors by their gRPC code, a wrong password or an
/// untrusted certificate as `AccessDenied`, a value that is not UTF-8 as
/// `InvalidData`.
#[derive(Debug, Clone)]
pub struct EtcdStorage {
    client: Client,
    url: EtcdUrl,
}

impl EtcdStorage {
    /// A storage talking to the cluster and under the prefix that `url` names. The TLS
    /// files and the password are read now (on tokio's blocking pool); connecting is
    /// lazy, so the first call reports an unreachable cluster.
    pub async fn open(url: EtcdUrl) -> Result<Self, StorageError> {
        crate::backends::off_executor("opening etcd", move || Self::open_blocking(url)).await
    }

    /// [`Self::open`] for callers without a runtime, or that may block: it reads the
    /// files on the calling thread.
    pub fn open_blocking(url: EtcdUrl) -> Result<Self, StorageError> {
        Ok(Self {
            client: Client::new(&url)?,
            url,
        })
    }

    /// The URL this storage was opened with.
    pub fn url(&self) -> &EtcdUrl {
        &self.url
    }

    /// The etcd key that holds `key`, once `key` is validated.
    pub fn etcd_key(&self, key: &str) -> Result<String, StorageError> {
        validate_key(key)?;
        Ok(self.url.etcd_key(key))
    }
}

impl Storage for EtcdStorage {
    async fn get(&mut self, key: &str) -> StorageResult<Option<Stored>> {
        let etcd_key = self.etcd_key(key)?;
        let body = json!({ "key": BASE64.encode(&etcd_key) });
        let range: RangeResponse = self.client.call("kv/range", &body, Replay::Always).await?;
        Ok(range
            .kvs
            .into_iter()
            .next()
            .map(|kv| kv.stored(&etcd_key))
            .transpose()?)
    }

    async fn put(&mut self, key: &str, value: &str, expected: Expected) -> StorageResult<u64> {
        let etcd_key = self.etcd_key(key)?;
        let encoded_key = BASE64.encode(&etcd_key);
        let compare = match expected {
            Expected::Absent => json!({
                "key": encoded_key, "target": "CREATE", "result": "EQUAL",
                "create_revision": "0",
            }),
            Expected::Version(revision) => json!({
                "key": encoded_key, "target": "MOD", "result": "EQUAL",
                "mod_revision": revision.to_string(),
            }),
        };
        let body = json!({
            "compare": [compare],
            "success": [{ "request_put": { "key": encoded_key, "value": BASE64.encode(value) } }],
            // On a conflict, read what is there instead, to say so.
            "failure": [{ "request_range": { "key": encoded_key } }],
        });
        let txn: TxnResponse = self
            .client
            .call("kv/txn", &body, Replay::IfUnapplied)
            .await?;
        if txn.succeeded {
            // The put is the transaction's only write, so it carries the revision the
            // transaction created.
            return Ok(parse_revision(&txn.header.revision, "revision")?);
        }
        let current = txn
            .responses
            .into_iter()
            .find_map(|r| r.response_range)
            .and_then(|range| range.kvs.into_iter().next());
        let holds = match current {
            Some(kv) => format!("mod_revision {}", kv.mod_revision),
            None => "nothing".to_owned(),
        };
        let wanted = match expected {
            Expected::Absent => "absent".to_owned(),
            Expected::Version(revision) => format!("mod_revision {revision}"),
        };
        Err(StorageError::Conflict(format!(
            "{}: expected {wanted}, holds {holds}",
            self.url.display_key(key)
        ))
        .into())
    }
}

fn parse_revision(text: &str, what: &str) -> Result<u64, StorageError> {
    text.parse().map_err(|_| {
        StorageError::Io(Cause::new(format!(
            "etcd returned a {what} that is not a number: {text:?}"
        )))
    })
}

/// The parts of etcd's answers that are read. Absent fields are their defaults.
#[derive(Deserialize, Default)]
#[serde(default)]
struct ResponseHeader {
    revision: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RangeResponse {
    kvs: Vec<KeyValue>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct TxnResponse {
    header: ResponseHeader,
    succeeded: bool,
    responses: Vec<ResponseOp>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ResponseOp {
    response_range: Option<RangeResponse>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct KeyValue {
    mod_revision: String,
    value: String,
}

impl KeyValue {
    fn stored(self, etcd_key: &str) -> Result<Stored, StorageError> {
        let bytes = BASE64.decode(&self.value).map_err(|e| {
            StorageError::Io(Cause::new(format!(
                "etcd returned {etcd_key} in invalid base64: {e}"
            )))
        })?;
        let value = String::from_utf8(bytes).map_err(|e| {
            StorageError::InvalidData(Cause::new(format!(
                "etcd key {etcd_key} is not UTF-8: invalid byte at offset {}",
                e.utf8_error().valid_up_to()
            )))
        })?;
        Ok(Stored {
            value,
            version: parse_revision(&self.mod_revision, "mod_revision")?,
        })
    }
}

/// How long a call may take, across every member it tries, unless the URL says
/// otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

impl crate::backends::Backend for EtcdUrl {
    fn open(&self) -> crate::BoxFuture<'_, Result<Box<dyn crate::DynStorage>, StorageError>> {
        let url = self.clone();
        Box::pin(async move {
            let storage = EtcdStorage::open(url).await?;
            Ok(Box::new(storage) as Box<dyn crate::DynStorage>)
        })
    }

    /// etcd creates nothing on a read: the same client.
    fn open_read_only(
        &self,
    ) -> crate::BoxFuture<'_, Result<Box<dyn crate::DynStorage>, StorageError>> {
        self.open()
    }

    fn for_tenant(&self, id: &str) -> std::sync::Arc<dyn crate::backends::Backend> {
        std::sync::Arc::new(EtcdUrl {
            prefix: self.etcd_key(id),
            ..self.clone()
        })
    }

    fn describe(&self, key: &str) -> String {
        self.display_key(key)
    }

    fn logs(&self) -> Option<std::sync::Arc<dyn crate::backends::logs::Logs>> {
        None
    }
}
