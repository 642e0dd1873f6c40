//! The metrics' text and their endpoint.

use super::*;

const MS: Duration = Duration::from_millis(1);

fn has_line(out: &str, line: &str) {
    assert!(out.lines().any(|l| l == line), "missing {line:?} in\n{out}");
}

#[test]
fn render_counts_checkpoints_and_failures_by_kind_per_tenant() {
    let m = Metrics::new();
    m.checkpoint_written("b", MS, 10);
    m.checkpoint_written("a", MS, 5);
    m.checkpoint_written("a", MS, 7);
    m.checkpoint_failed("a", FailureKind::Fenced, MS);
    m.checkpoint_failed("b", FailureKind::Corrupt, MS);
    m.checkpoint_failed("b", FailureKind::Corrupt, MS);
    let out = m.render();
    for line in [
        "pipeline_checkpoint_checkpoints_written_total{tenant=\"a\"} 2",
        "pipeline_checkpoint_checkpoints_written_total{tenant=\"b\"} 1",
        "pipeline_checkpoint_failures_total{tenant=\"a\",kind=\"fenced\"} 1",
        "pipeline_checkpoint_failures_total{tenant=\"b\",kind=\"corrupt\"} 2",
        "pipeline_checkpoint_durable_offset{tenant=\"a\"} 7",
        "pipeline_checkpoint_latency_seconds_count{tenant=\"b\"} 3",
    ] {
        has_line(&out, line);
    }
    for (i, kind) in FailureKind::ALL.into_iter().enumerate() {
        assert_eq!(kind as usize, i, "ALL is in declaration order");
        for tenant in ["a", "b"] {
            let line = format!("{{tenant=\"{tenant}\",kind=\"{}\"}} ", kind.label());
            assert_eq!(out.matches(&line).count(), 1, "{line:?} once, 0 if none");
        }
    }
    // Tenants in order, whatever order they came in; unknown gauges left out.
    let (a, b) = (out.find("{tenant=\"a\"}"), out.find("{tenant=\"b\"}"));
    assert!(a.unwrap() < b.unwrap());
    assert!(!out.contains("pipeline_checkpoint_lag_messages{"));
}

#[test]
fn single_pipeline_omits_the_tenant_label_and_output_is_well_formed() {
    let m = Metrics::new();
    let empty = m.render();
    m.position("", 3, 40);
    m.checkpoint_written("", MS, 8);
    let out = m.render();
    for line in [
        "pipeline_checkpoint_checkpoints_written_total 1",
        "pipeline_checkpoint_failures_total{kind=\"other\"} 0",
        "pipeline_checkpoint_latency_seconds_bucket{le=\"+Inf\"} 1",
        "pipeline_checkpoint_durable_offset 8",
        "pipeline_checkpoint_lag_messages 40",
    ] {
        has_line(&out, line);
    }
    assert!(!out.contains("tenant"));
    // Before any observation: every family declared, no sample.
    for (name, kind, _) in FAMILIES {
        let declared = [format!("# HELP {name} "), format!("# TYPE {name} {kind}\n")];
        assert!(declared.iter().all(|d| empty.contains(d)), "{name}");
    }
    assert!(empty.lines().all(|l| l.starts_with("# ")), "{empty}");
    // Every sample in the family its `# TYPE` declared, with a numeric value.
    let mut family = "";
    for line in out.lines().filter(|l| !l.starts_with("# HELP ")) {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            family = rest.split(' ').next().unwrap();
            continue;
        }
        let value = line.rsplit(' ').next().unwrap();
        assert!(!family.is_empty() && line.starts_with(family), "{line:?}");
        assert!(value.parse::<f64>().is_ok(), "{line:?}");
    }
}

#[test]
fn histogram_buckets_are_cumulative_and_count_matches() {
    let m = Metrics::new();
    m.checkpoint_written("", Duration::from_micros(300), 1);
    m.checkpoint_written("", MS, 2); // exactly on a bound: `le` is inclusive
    m.checkpoint_failed("", FailureKind::WriteFailed, 3 * MS);
    m.checkpoint_written("", Duration::from_secs(20), 3);
    let out = m.render();
    let buckets: Vec<f64> = (out.lines())
        .filter(|l| l.starts_with("pipeline_checkpoint_latency_seconds_bucket{"))
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(buckets.len(), BUCKETS_US.len() + 1);
    assert_eq!(buckets[..5], [1.0, 2.0, 2.0, 3.0, 3.0]); // 0.0005, 0.001 … 0.01
    assert_eq!(buckets[BUCKETS_US.len() - 1..], [3.0, 4.0]); // 10, +Inf
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
    for line in [
        "pipeline_checkpoint_latency_seconds_bucket{le=\"0.0025\"} 2",
        "pipeline_checkpoint_latency_seconds_bucket{le=\"1\"} 3",
        "pipeline_checkpoint_latency_seconds_count 4",
    ] {
        has_line(&out, line);
    }
    let sum = out
        .lines()
        .find_map(|l| l.strip_prefix(LATENCY)?.strip_prefix("_sum "));
    assert!((sum.unwrap().parse::<f64>().unwrap() - 20.0043).abs() < 1e-9);
}

#[test]
fn label_values_are_escaped() {
    let m = Metrics::new();
    m.checkpoint_written("a\"b\\c\nd", MS, 1);
    let out = m.render();
    has_line(
        &out,
        r#"pipeline_checkpoint_durable_offset{tenant="a\"b\\c\nd"} 1"#,
    );
    // An unescaped newline would have started a line of its own.
    assert!(out.lines().all(|l| l.starts_with(['#', 'p'])), "{out}");
}

/// Sends `request`, ends the write side, and returns the whole response.
fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    // A safety net against a hung test, not a timing assertion.
    let timeout = Some(Duration::from_secs(30));
    stream.set_read_timeout(timeout).unwrap();
    stream.write_all(request).unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    String::from_utf8_lossy(&response).into_owned()
}

fn answers(addr: SocketAddr, request: &[u8], status: &str) {
    let response = exchange(addr, request);
    let line = format!("HTTP/1.1 {status}\r\n");
    assert!(response.starts_with(&line), "{request:?}: {response}");
}

#[test]
fn serve_answers_metrics_and_404_and_survives_garbage() {
    let m = Metrics::new();
    let addr = m.serve("127.0.0.1:0".parse().unwrap()).unwrap();
    assert_ne!(addr.port(), 0);
    let scrape = |path: &str, written: &str| {
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        let response = exchange(addr, request.as_bytes());
        let (head, body) = response.split_once("\r\n\r\n").expect("a response head");
        let length = format!("Content-Length: {}", body.len());
        let content_type = format!("content-type: {EXPOSITION}");
        let has_header = |h: &str| head.lines().any(|l| l.eq_ignore_ascii_case(h));
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert!(has_header(&content_type) && has_header(&length), "{head}");
        has_line(body, &format!("{WRITTEN}{{tenant=\"t\"}} {written}"));
    };
    m.checkpoint_written("t", MS, 9);
    scrape("/metrics", "1");
    answers(addr, b"\xff\xfe\0junk\r\n\r\n", "400 Bad Request");
    answers(addr, b"no blank line", "400 Bad Request");
    answers(addr, b"", "400 Bad Request");
    answers(addr, b"GET /\n\n", "400 Bad Request");
    answers(addr, b"GET /nope HTTP/1.1\r\n\r\n", "404 Not Found");
    m.checkpoint_written("t", MS, 10);
    scrape("/", "2");
    scrape("/metrics?name[]=x", "2");
}

#[test]
fn serve_refuses_other_methods_and_oversized_requests_and_reports_bind_errors() {
    let m = Metrics::new();
    let addr = m.serve("127.0.0.1:0".parse().unwrap()).unwrap();
    answers(
        addr,
        b"POST /metrics HTTP/1.0\n\n",
        "405 Method Not Allowed",
    );
    let post = exchange(addr, b"DELETE / HTTP/1.1\r\n\r\n");
    assert!(post.contains("\r\nAllow: GET\r\n"), "{post}");
    let mut huge = b"GET /metrics HTTP/1.1\r\nX-Pad: ".to_vec();
    huge.resize(huge.len() + 2 * MAX_HEAD, b'a');
    answers(addr, &huge, "431 Request Header Fields Too Large");
    answers(addr, b"GET /metrics HTTP/1.1\r\n\r\n", "200 OK");
    let err = m.serve(addr).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}
