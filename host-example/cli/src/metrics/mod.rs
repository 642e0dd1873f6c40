//! Prometheus metrics of the pipeline's checkpoints, and a small HTTP endpoint serving
//! them.
//!
//! Written by hand on std alone: five metric families in the text exposition format
//! (version 0.0.4) and one read-only route do not justify a metrics or HTTP dependency
//! tree in a crate that already compiles wasmtime.

use std::collections::BTreeMap;
use std::fmt::{Display, Write as _};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

const WRITTEN: &str = "pipeline_checkpoint_checkpoints_written_total";
const FAILURES: &str = "pipeline_checkpoint_failures_total";
const LATENCY: &str = "pipeline_checkpoint_latency_seconds";
const OFFSET: &str = "pipeline_checkpoint_durable_offset";
const LAG: &str = "pipeline_checkpoint_lag_messages";

/// Name, type and help of each family, in output order.
const FAMILIES: [(&str, &str, &str); 5] = [
    (WRITTEN, "counter", "Checkpoint writes that succeeded."),
    (FAILURES, "counter", "Failed checkpoint writes or reads."),
    (LATENCY, "histogram", "Latency of all checkpoint writes."),
    (OFFSET, "gauge", "The durable checkpoint offset."),
    (LAG, "gauge", "Source messages after the durable offset."),
];

/// Histogram upper bounds in microseconds: integers, so a latency on a bound is
/// compared exactly; the `le` label is their value in seconds.
const BUCKETS_US: [u64; 14] = [
    500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
    2_500_000, 5_000_000, 10_000_000,
];

/// Largest request head the endpoint reads: a scrape sends a few hundred bytes.
const MAX_HEAD: usize = 8 * 1024;
/// Time a client has for its whole request head (not per read, which a client
/// trickling bytes could stretch forever) and then for taking the response.
const DEADLINE: Duration = Duration::from_secs(5);
/// Connections handled at once (by all endpoints of the process); beyond, new ones are
/// closed at once, so a flood costs sockets, not threads.
const MAX_CONNECTIONS: usize = 64;
static ACTIVE: AtomicUsize = AtomicUsize::new(0);
/// The content type of the exposition format, version 0.0.4.
const EXPOSITION: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Failure kinds counted, as labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureKind {
    /// Writing the record to the storage failed.
    WriteFailed,
    /// The checkpoint was written but its acknowledgement failed.
    AckFailed,
    /// Another writer took over the record: this one was fenced off.
    Fenced,
    /// The stored record is damaged.
    Corrupt,
    /// The write would have moved the durable offset backwards.
    Regression,
    /// Anything else.
    Other,
}

impl FailureKind {
    /// Every kind in declaration order, so `kind as usize` indexes the counts and every
    /// kind is rendered (a zero is a sample too). `label`'s exhaustive match brings
    /// whoever adds a variant here.
    const ALL: [Self; 6] = [
        Self::WriteFailed,
        Self::AckFailed,
        Self::Fenced,
        Self::Corrupt,
        Self::Regression,
        Self::Other,
    ];

    /// The value of the `kind` label.
    pub fn label(self) -> &'static str {
        match self {
            Self::WriteFailed => "write-failed",
            Self::AckFailed => "ack-failed",
            Self::Fenced => "fenced",
            Self::Corrupt => "corrupt",
            Self::Regression => "regression",
            Self::Other => "other",
        }
    }
}

/// Metrics of one process: per tenant (the label `tenant`; a single pipeline uses
/// tenant "" and then the label is omitted entirely).
///
/// One mutex over all tenants: one update per checkpoint and a scrape every few seconds
/// are far too few for contention, and one lock makes each scrape consistent.
#[derive(Debug, Default)]
pub struct Metrics {
    tenants: Mutex<BTreeMap<String, TenantMetrics>>,
}

#[derive(Debug, Default)]
struct TenantMetrics {
    written: u64,
    failures: [u64; FailureKind::ALL.len()],
    /// Cumulative already: `buckets[i]` counts the latencies up to `BUCKETS_US[i]`.
    buckets: [u64; BUCKETS_US.len()],
    latency_sum: f64,
    latency_count: u64,
    /// `None` until known: a gauge is left out rather than shown as a made-up 0.
    offset: Option<u64>,
    lag: Option<u64>,
}

impl Metrics {
    /// No tenants yet; shared, since the pipeline updates what the server renders.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// A checkpoint write that succeeded, taking `latency`, leaving the durable offset at
    /// `offset`.
    pub fn checkpoint_written(&self, tenant: &str, latency: Duration, offset: u64) {
        self.update(tenant, latency, |m| {
            m.written = m.written.saturating_add(1);
            m.offset = Some(offset);
        });
    }

    /// A checkpoint write (or read) that failed with `kind`, after `latency`.
    pub fn checkpoint_failed(&self, tenant: &str, kind: FailureKind, latency: Duration) {
        self.update(tenant, latency, |m| {
            // `get_mut`: a variant missing from `ALL` goes uncounted rather than panic.
            if let Some(count) = m.failures.get_mut(kind as usize) {
                *count = count.saturating_add(1);
            }
        });
    }

    /// The durable offset and how many source messages are after it (the lag), e.g. at
    /// start and after each batch. Called at start, it also shows the tenant's counters
    /// at 0 before its first checkpoint, so rates start from a known zero.
    pub fn position(&self, tenant: &str, offset: u64, lag: u64) {
        let mut tenants = self.lock();
        let m = tenants.entry(tenant.to_owned()).or_default();
        m.offset = Some(offset);
        m.lag = Some(lag);
    }

    /// The Prometheus text exposition format (version 0.0.4) of everything so far.
    ///
    /// Every family's `# HELP` and `# TYPE` are there even before any tenant, so a
    /// scraper sees them from the first scrape; tenants come in order.
    pub fn render(&self) -> String {
        let tenants = self.lock();
        let mut out = String::with_capacity(1024 + 2048 * tenants.len());
        for (name, kind, help) in FAMILIES {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (tenant, m) in tenants.iter() {
                let mut put = |suffix: &str, extra: &str, value: &dyn Display| {
                    let labels = labels(tenant, extra);
                    let _ = writeln!(out, "{name}{suffix}{labels} {value}");
                };
                match name {
                    WRITTEN => put("", "", &m.written),
                    FAILURES => {
                        for (kind, count) in FailureKind::ALL.iter().zip(m.failures) {
                            put("", &format!("kind=\"{}\"", kind.label()), &count);
                        }
                    }
                    LATENCY => {
                        for (bound, count) in BUCKETS_US.iter().zip(m.buckets) {
                            // Shortest round-trip form: 500 µs is "0.0005", 1 s is "1".
                            let le = *bound as f64 / 1e6;
                            put("_bucket", &format!("le=\"{le}\""), &count);
                        }
                        put("_bucket", "le=\"+Inf\"", &m.latency_count);
                        put("_sum", "", &m.latency_sum);
                        put("_count", "", &m.latency_count);
                    }
                    OFFSET => m.offset.iter().for_each(|v| put("", "", v)),
                    _ => m.lag.iter().for_each(|v| put("", "", v)),
                }
            }
        }
        out
    }

    /// Serves `render()` at `GET /metrics` (and `/`) on `addr` from a background thread;
    /// returns the bound address (so `127.0.0.1:0` works). Other paths: 404. Other
    /// methods: 405. Each connection gets its own short-lived thread, a bounded request
    /// and a deadline, so a slow or hostile client delays no one else. The server runs
    /// until the process exits.
    pub fn serve(self: &Arc<Self>, addr: SocketAddr) -> io::Result<SocketAddr> {
        let context =
            |e: io::Error| io::Error::new(e.kind(), format!("cannot serve metrics on {addr}: {e}"));
        let listener = TcpListener::bind(addr).map_err(context)?;
        let bound = listener.local_addr().map_err(context)?;
        let metrics = Arc::clone(self);
        let server = thread::Builder::new().name("metrics-http".into());
        server
            .spawn(move || accept_loop(&listener, &metrics))
            .map_err(context)?;
        Ok(bound)
    }

    fn update(&self, tenant: &str, latency: Duration, count: impl FnOnce(&mut TenantMetrics)) {
        let mut tenants = self.lock();
        let m = tenants.entry(tenant.to_owned()).or_default();
        count(m);
        let nanos = latency.as_nanos();
        for (n, bound) in m.buckets.iter_mut().zip(BUCKETS_US) {
            if nanos <= u128::from(bound) * 1000 {
                *n = n.saturating_add(1);
            }
        }
        m.latency_sum += latency.as_secs_f64();
        m.latency_count = m.latency_count.saturating_add(1);
    }

    /// Poisoning is ignored: no update leaves a tenant half-changed, and metrics must
    /// never take the pipeline down.
    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, TenantMetrics>> {
        self.tenants.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The label set of a sample: the tenant's (unless it is "") and `extra` (already in
/// `key="value"` form, unless empty), escaped as the format requires in label values
/// (backslash, double quote, newline).
fn labels(tenant: &str, extra: &str) -> String {
    let tenant = tenant
        .replace('\\', r"\\")
        .replace('"', r#"\""#)
        .replace('\n', r"\n");
    match (tenant.is_empty(), extra.is_empty()) {
        (true, true) => String::new(),
        (true, false) => format!("{{{extra}}}"),
        (false, true) => format!("{{tenant=\"{tenant}\"}}"),
        (false, false) => format!("{{tenant=\"{tenant}\",{extra}}}"),
    }
}

/// Gives back a connection's place among the `MAX_CONNECTIONS` however its thread ends
/// (or fails to start).
struct Slot;

impl Drop for Slot {
    fn drop(&mut self) {
        ACTIVE.fetch_sub(1, Ordering::AcqRel);
    }
}

fn accept_loop(listener: &TcpListener, metrics: &Arc<Metrics>) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else {
            // Out of file descriptors and the like: back off rather than spin.
            thread::sleep(Duration::from_millis(50));
            continue;
        };
        if ACTIVE.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
            drop(Slot);
            continue;
        }
        let (slot, metrics) = (Slot, Arc::clone(metrics));
        let conn = thread::Builder::new().name("metrics-conn".into());
        let _ = conn.spawn(move || {
            let _slot = slot;
            let _ = handle(stream, &metrics);
        });
    }
}

fn handle(mut stream: TcpStream, metrics: &Metrics) -> io::Result<()> {
    stream.set_write_timeout(Some(DEADLINE))?;
    // A timeout or reset while reading leaves no one to answer: `?` just drops it.
    let (status, content_type, body) = match read_head(&mut stream)?.and_then(|h| route(&h)) {
        Ok(()) => ("200 OK", EXPOSITION, metrics.render()),
        Err(status) => (status, "text/plain; charset=utf-8", format!("{status}\n")),
    };
    let allow = if status.starts_with("405") {
        "Allow: GET\r\n"
    } else {
        ""
    };
    let len = body.len();
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len}\r\n\
         {allow}Connection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    stream.shutdown(Shutdown::Write)?;
    // Closing with unread input makes the kernel send a reset, which can destroy the
    // response before the client reads it: take (briefly, boundedly) what is left.
    stream.set_read_timeout(Some(Duration::from_millis(200)))?;
    let _ = io::copy(&mut (&stream).take(64 * 1024), &mut io::sink());
    Ok(())
}

/// Reads up to the blank line that ends the request head (CRLF or bare LF, which
/// RFC 9112 lets servers accept); the inner error is the status to answer with.
fn read_head(stream: &mut TcpStream) -> io::Result<Result<Vec<u8>, &'static str>> {
    let deadline = Instant::now() + DEADLINE;
    let (mut buf, mut chunk) = (Vec::with_capacity(1024), [0; 1024]);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        stream.set_read_timeout(Some(left))?;
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(Err("400 Bad Request"));
        }
        // The blank line may straddle reads: rescan the last 3 bytes read before.
        let from = buf.len().saturating_sub(3);
        buf.extend_from_slice(&chunk[..n]);
        let blank = |i: usize| buf[i..].starts_with(b"\n\n") || buf[i..].starts_with(b"\n\r\n");
        if let Some(end) = (from..buf.len()).find(|&i| blank(i)) {
            buf.truncate(end);
            return Ok(Ok(buf));
        }
        if buf.len() > MAX_HEAD {
            return Ok(Err("431 Request Header Fields Too Large"));
        }
    }
}

/// Whether the request line asks for the metrics, or the error status to answer.
fn route(head: &[u8]) -> Result<(), &'static str> {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = std::str::from_utf8(line).map_err(|_| "400 Bad Request")?;
    let parts: Vec<&str> = line.trim_end_matches('\r').split(' ').collect();
    let [method, target, version] = parts[..] else {
        return Err("400 Bad Request");
    };
    if method.is_empty() || !version.starts_with("HTTP/1.") {
        return Err("400 Bad Request");
    }
    match target.split_once('?').map_or(target, |(path, _query)| path) {
        "/metrics" | "/" if method == "GET" => Ok(()),
        "/metrics" | "/" => Err("405 Method Not Allowed"),
        _ => Err("404 Not Found"),
    }
}

#[cfg(test)]
mod tests;
