//! What a failed call to one member means: whether it may have been applied, whether
//! another member may be asked, and which storage error it is.

use std::io;

use serde::Deserialize;

use crate::{Cause, StorageError};

/// Why one request to one member brought no answer to use.
#[derive(Debug)]
pub(super) enum Failure {
    /// The request did not reach etcd, or etcd refused it before proposing it:
    /// nothing was applied, and another member may be asked.
    Unapplied(StorageError),
    /// The request may have reached etcd and been applied (a timeout or a dropped
    /// connection after it was sent, an election that cut it short).
    MaybeApplied(StorageError),
    /// etcd no longer accepts the auth token (expired, or its member restarted).
    TokenRejected(StorageError),
    /// An answer every member would give (no space, access denied, TLS refused, a
    /// malformed request): asking another is pointless.
    Final(StorageError),
}

/// The failure for an etcd error answer: `{"error", "message", "code"}`, with `code`
/// a gRPC status code.
pub(super) fn answer_error(member: &str, status: u16, body: &str) -> Failure {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct ErrorBody {
        message: String,
        code: u32,
    }
    let parsed: ErrorBody = serde_json::from_str(body).unwrap_or_default();
    let message = if parsed.message.is_empty() {
        body.trim().to_owned()
    } else {
        parsed.message
    };
    if message.contains("sent an HTTP request to an HTTPS server") {
        return Failure::Final(StorageError::Io(Cause::new(format!(
            "etcd at {member} speaks TLS: use etcds:// (with ca= for a private CA)"
        ))));
    }
    let why = format!("etcd at {member} answered HTTP {status}: {message}");
    // Refused before any proposal: the leader is unknown, or the member is too far
    // behind to take more. Another member may be asked, even for a write.
    const UNPROPOSED: &[&str] = &[
        "etcdserver: no leader",
        "etcdserver: too many requests",
        "raft proposal dropped",
        "etcdserver: not capable",
    ];
    match parsed.code {
        16 if message.contains("invalid auth token") => {
            Failure::TokenRejected(StorageError::AccessDenied(why.into()))
        }
        // UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED (leader changes), CANCELLED.
        14 | 4 | 10 | 1 if UNPROPOSED.iter().any(|m| message.contains(m)) => {
            Failure::Unapplied(StorageError::Unavailable(why.into()))
        }
        14 | 4 | 10 | 1 => Failure::MaybeApplied(StorageError::Unavailable(why.into())),
        // RESOURCE_EXHAUSTED: "mvcc: database space exceeded", or a quota.
        8 => Failure::Final(StorageError::NoSpace(why.into())),
        // PERMISSION_DENIED, UNAUTHENTICATED.
        7 | 16 => Failure::Final(StorageError::AccessDenied(why.into())),
        // INVALID_ARGUMENT when a cluster with auth enabled gets no token.
        3 if message.contains("user name is empty") => {
            Failure::Final(StorageError::AccessDenied(Cause::new(format!(
                "{why} (the cluster requires authentication: etcd://USER@…, with the \
                 password in {} or password_file=)",
                super::PASSWORD_ENV
            ))))
        }
        _ if status == 503 || status == 504 => {
            Failure::MaybeApplied(StorageError::Unavailable(why.into()))
        }
        _ => Failure::Final(StorageError::Io(why.into())),
    }
}

/// The failure for a request that got no HTTP answer.
pub(super) fn transport_error(member: &str, error: ureq::Error) -> Failure {
    let unavailable = |e: ureq::Error| {
        StorageError::Unavailable(Cause::with_source(format!("etcd at {member}"), e))
    };
    match error {
        // Nothing was sent: no connection, or the request never went out whole (a
        // member does not act on a partial request).
        ureq::Error::ConnectionFailed
        | ureq::Error::HostNotFound
        | ureq::Error::Timeout(
            ureq::Timeout::Resolve
            | ureq::Timeout::Connect
            | ureq::Timeout::SendRequest
            | ureq::Timeout::SendBody,
        ) => Failure::Unapplied(unavailable(error)),
        ureq::Error::Io(ref e) if refused(e) => Failure::Unapplied(unavailable(error)),
        // rustls reports a failed handshake as invalid data: a certificate the CA did
        // not sign, a client certificate the member refused, or a member that does
        // not speak TLS at all. Every member would say the same.
        ureq::Error::Io(ref e) if e.kind() == io::ErrorKind::InvalidData => {
            Failure::Final(tls_failure(member, e))
        }
        ureq::Error::Rustls(_) | ureq::Error::Tls(_) | ureq::Error::Pem(_) => {
            Failure::Final(StorageError::AccessDenied(Cause::with_source(
                format!("etcd at {member}: TLS failed"),
                error,
            )))
        }
        // `http://` to a member that speaks TLS gets garbage back, or nothing.
        ureq::Error::Protocol(_) => Failure::Final(StorageError::Io(Cause::with_source(
            format!("etcd at {member} did not answer in HTTP; if it speaks TLS, use etcds://"),
            error,
        ))),
        // A member that speaks TLS hangs up on a plain-text request without a word.
        ureq::Error::Io(ref e) if hung_up(e) && member.starts_with("http://") => {
            Failure::MaybeApplied(StorageError::Unavailable(Cause::with_source(
                format!(
                    "etcd at {member} closed the connection without answering (if it \
                     speaks TLS, use etcds://)"
                ),
                error,
            )))
        }
        _ => Failure::MaybeApplied(unavailable(error)),
    }
}

fn hung_up(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset
    ) || e.to_string().contains("Peer disconnected")
}

fn refused(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::AddrNotAvailable
            | io::ErrorKind::NetworkUnreachable
            | io::ErrorKind::HostUnreachable
    )
}

fn tls_failure(member: &str, e: &io::Error) -> StorageError {
    let text = e.to_string();
    if text.contains("InvalidContentType") || text.contains("corrupt message") {
        return StorageError::Io(Cause::new(format!(
            "etcd at {member} does not speak TLS ({text}): use etcd:// for a plain-text member"
        )));
    }
    StorageError::AccessDenied(Cause::new(format!(
        "etcd at {member}: TLS handshake failed: {text} (is ca= the CA that signed the \
         members' certificates, and cert=/key= a certificate they trust?)"
    )))
}
