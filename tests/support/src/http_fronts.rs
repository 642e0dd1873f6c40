//! Small HTTP servers that tests put in front of a store, or instead of one: a proxy
//! that drops conditional headers (a store that ignores conditional writes), a server
//! that answers every request with one canned error, and what they share. One request
//! per connection, each on its own thread.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

/// The headers that carry a write's condition, on every cloud: S3's and Azure's
/// `If-Match` and `If-None-Match`, GCS's `x-goog-if-generation-match`.
pub const CONDITION_HEADERS: [&str; 3] =
    ["if-match", "if-none-match", "x-goog-if-generation-match"];

/// An HTTP request as a server in a test reads it: the head's lines and the body.
pub struct Request {
    /// The request line, then one `Name: value` per header.
    pub head: Vec<String>,
    pub body: Vec<u8>,
}

/// Reads one request from `stream`: up to the blank line, then `Content-Length` bytes.
pub fn read_request(stream: &TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream);
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end_matches(['\r', '\n']).to_owned();
        if line.is_empty() {
            break;
        }
        head.push(line);
    }
    let length = head
        .iter()
        .find_map(|h| {
            let (name, value) = h.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request { head, body })
}

/// Serves each connection on its own thread with `handle`, one request per
/// connection, until the process ends; returns the port.
pub fn serve(handle: impl Fn(Request, &mut TcpStream) + Send + Sync + 'static) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let port = listener.local_addr().expect("an address").port();
    let handle = std::sync::Arc::new(handle);
    thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let handle = handle.clone();
            thread::spawn(move || {
                if let Some(request) = read_request(&stream) {
                    handle(request, &mut stream);
                }
            });
        }
    });
    port
}

/// A proxy in front of `upstream_port` that drops every header of
/// [`CONDITION_HEADERS`]: a store that ignores conditional writes. Returns its port.
pub fn condition_stripping_proxy(upstream_port: u16) -> u16 {
    serve(move |request, client| {
        let mut head: Vec<String> = request
            .head
            .into_iter()
            .filter(|line| {
                let name = line.split(':').next().unwrap_or("").to_ascii_lowercase();
                name != "connection" && !CONDITION_HEADERS.contains(&name.as_str())
            })
            .collect();
        head.push("Connection: close".into());
        let Ok(mut upstream) = TcpStream::connect(("127.0.0.1", upstream_port)) else {
            return;
        };
        let mut answer = Vec::new();
        let forwarded = upstream
            .write_all(format!("{}\r\n\r\n", head.join("\r\n")).as_bytes())
            .and_then(|()| upstream.write_all(&request.body))
            .and_then(|()| upstream.read_to_end(&mut answer).map(drop));
        if forwarded.is_ok() {
            let _ = client.write_all(&closing(answer));
        }
    })
}

/// A server that answers every request with `status` and `body`, as a store that
/// refuses, fails or throttles would. Returns its port.
pub fn canned_server(status: u16, body: &'static str) -> u16 {
    serve(move |_request, client| {
        let answer = format!(
            "HTTP/1.1 {status} Canned\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let _ = client.write_all(&closing(answer.into_bytes()));
    })
}

/// `answer` with a `Connection: close` header after its status line, so that the
/// client does not reuse a connection this server will not read again.
pub fn closing(answer: Vec<u8>) -> Vec<u8> {
    let Some(line_end) = find(&answer, b"\r\n") else {
        return answer;
    };
    let mut out = answer[..line_end + 2].to_vec();
    out.extend_from_slice(b"Connection: close\r\n");
    out.extend_from_slice(&answer[line_end + 2..]);
    out
}

/// One HTTP/1.1 request to a server on loopback `port`, on a connection of its own
/// (`Connection: close`, a 10 s read timeout): its status, head and body; `None` where
/// it could not be sent or answered.
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<(u16, String, Vec<u8>)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).ok()?;
    stream.write_all(body).ok()?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).ok()?;
    let split = find(&answer, b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&answer[..split]).into_owned();
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, head, answer[split + 4..].to_vec()))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `%XX` escapes in a request's path decoded (bytes that are not UTF-8 replaced).
pub fn percent_decode(text: &str) -> String {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        let hex = tail
            .get(..2)
            .and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match (byte, hex) {
            (b'%', Some(decoded)) => {
                bytes.push(decoded);
                rest = &tail[2..];
            }
            _ => {
                bytes.push(byte);
                rest = tail;
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A proxy in front of `upstream_port` that answers the first `failures` requests with
/// 503 (as a store under load does) and forwards every later one as it came. Returns
/// its port.
pub fn flaky_proxy(upstream_port: u16, failures: usize) -> u16 {
    let answered = std::sync::atomic::AtomicUsize::new(0);
    serve(move |request, client| {
        if answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < failures {
            let body = "<Error><Code>SlowDown</Code><Message>flaky</Message></Error>";
            let answer = format!(
                "HTTP/1.1 503 Flaky\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = client.write_all(answer.as_bytes());
            return;
        }
        let mut head: Vec<String> = request
            .head
            .into_iter()
            .filter(|line| !line.to_ascii_lowercase().starts_with("connection:"))
            .collect();
        head.push("Connection: close".into());
        let mut answer = Vec::new();
        let forwarded =
            TcpStream::connect(("127.0.0.1", upstream_port)).and_then(|mut upstream| {
                upstream.write_all(format!("{}\r\n\r\n", head.join("\r\n")).as_bytes())?;
                upstream.write_all(&request.body)?;
                upstream.read_to_end(&mut answer)
            });
        if forwarded.is_ok() {
            let _ = client.write_all(&closing(answer));
        }
    })
}

/// [`serve`], but applying requests one at a time in the order their connections were
/// accepted (each read on its own thread first, for at most `read_within`, so that a
/// client frozen mid-request holds up the others no longer than that). A request sent
/// before a client was killed is then applied before any request that a test sends
/// after the kill, as a store whose writes land in order would; the test's read sees
/// the write the killed client had in flight. Returns the port.
pub fn serve_in_order(
    read_within: std::time::Duration,
    handle: impl Fn(Request, &mut TcpStream) + Send + Sync + 'static,
) -> u16 {
    use std::sync::{Arc, Condvar, Mutex};
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let port = listener.local_addr().expect("an address").port();
    let handle = Arc::new(handle);
    let turn = Arc::new((Mutex::new(0u64), Condvar::new()));
    thread::spawn(move || {
        for (ticket, mut stream) in (0u64..).zip(listener.incoming().flatten()) {
            let (handle, turn) = (handle.clone(), turn.clone());
            thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(read_within));
                let request = read_request(&stream);
                let (next, moved) = &*turn;
                let mut next = moved
                    .wait_while(next.lock().unwrap(), |next| *next != ticket)
                    .unwrap();
                if let Some(request) = request {
                    handle(request, &mut stream);
                }
                *next += 1;
                moved.notify_all();
            });
        }
    });
    port
}
