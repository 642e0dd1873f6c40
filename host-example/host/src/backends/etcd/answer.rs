//! What a failed call to one member means: whether it may have been applied, whether
//! another member may be asked, and which storage error it is.

use std::error::Error;
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

/// The failure for a request that got no HTTP answer, or whose answer broke off.
pub(super) fn transport_error(member: &str, error: reqwest::Error) -> Failure {
    let error = error.without_url();
    // A handshake that failed: a certificate the CA did not sign, a client certificate
    // the member refused (which TLS 1.3 says only once the client has sent its
    // request: the member reads no request before it accepts the certificate), or a
    // member that does not speak TLS at all. Every member would say the same.
    if let Some(tls) = tls_error_in(&error).filter(|e| error.is_connect() || refused_us(e)) {
        return Failure::Final(tls_failure(member, tls));
    }
    if error.is_connect() {
        // A member that does not speak TLS hangs up on the handshake; so does one
        // that is going away, which is why another member is asked all the same.
        if member.starts_with("https://") && hung_up(&error) {
            return Failure::Unapplied(StorageError::Unavailable(Cause::with_source(
                format!(
                    "etcd at {member} closed the connection during the TLS handshake \
                     (going away, or it speaks plain text: then use etcd://)"
                ),
                Chain(error),
            )));
        }
        // Nothing was sent: no connection (refused, unreachable, or not made within
        // the client's connect timeout).
        return Failure::Unapplied(unavailable(member, error));
    }
    // A member that speaks TLS hangs up on a plain-text request without a word; so
    // does one that is going away.
    if member.starts_with("http://") && hung_up(&error) {
        return Failure::MaybeApplied(StorageError::Unavailable(Cause::with_source(
            format!(
                "etcd at {member} closed the connection without answering (going away, \
                 or it speaks TLS: then use etcds://)"
            ),
            Chain(error),
        )));
    }
    // Sent, or perhaps sent: a timeout, a connection lost before the whole answer came.
    Failure::MaybeApplied(unavailable(member, error))
}

fn unavailable(member: &str, error: reqwest::Error) -> StorageError {
    StorageError::Unavailable(Cause::with_source(
        format!("etcd at {member}"),
        Chain(error),
    ))
}

/// The TLS error among `error`'s sources, if TLS failed.
fn tls_error_in<'a>(error: &'a (dyn Error + 'static)) -> Option<&'a rustls::Error> {
    causes(error).find_map(|e| e.downcast_ref::<rustls::Error>())
}

/// Whether the member closed the connection before any answer.
fn hung_up(error: &(dyn Error + 'static)) -> bool {
    causes(error).any(|e| {
        e.downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_incomplete_message)
            || e.downcast_ref::<io::Error>().is_some_and(|e| {
                matches!(
                    e.kind(),
                    io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset
                )
            })
    })
}

/// `error`'s sources, nearest first, and what each wraps if it is an `io::Error`,
/// which hides the error it wraps from `source()` (the TLS stack wraps one
/// `io::Error` in another).
fn causes<'a>(error: &'a (dyn Error + 'static)) -> impl Iterator<Item = &'a (dyn Error + 'static)> {
    let sources =
        std::iter::successors(error.source(), |&e: &&'a (dyn Error + 'static)| e.source());
    sources.flat_map(|source| {
        std::iter::successors(Some(source), |&e: &&'a (dyn Error + 'static)| {
            let inner: &'a (dyn Error + Send + Sync + 'static) =
                e.downcast_ref::<io::Error>()?.get_ref()?;
            Some(inner as &'a (dyn Error + 'static))
        })
    })
}

/// Whether the member ended the handshake for want of a client certificate it trusts:
/// an alert that no request before it was read.
fn refused_us(e: &rustls::Error) -> bool {
    use rustls::AlertDescription as Alert;
    matches!(
        e,
        rustls::Error::AlertReceived(
            Alert::CertificateRequired
                | Alert::BadCertificate
                | Alert::UnsupportedCertificate
                | Alert::CertificateRevoked
                | Alert::CertificateExpired
                | Alert::CertificateUnknown
                | Alert::UnknownCA
                | Alert::AccessDenied
                | Alert::HandshakeFailure
        )
    )
}

/// An HTTP client's error shown with every one of its causes (reqwest's own text is
/// only "error sending request"; the socket's or TLS's reason is in its sources).
#[derive(Debug)]
pub(super) struct Chain(pub(super) reqwest::Error);

impl std::fmt::Display for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut shown: Vec<String> = vec![self.0.to_string()];
        let mut next = std::error::Error::source(&self.0);
        while let Some(source) = next {
            let text = source.to_string();
            // Wrappers often repeat their source's text.
            if !shown.iter().any(|s| s.contains(&text)) {
                shown.push(text);
            }
            next = source.source();
        }
        f.write_str(&shown.join(": "))
    }
}

/// Its causes are in its text: the chain ends here, so that a printer of sources
/// does not repeat them.
impl std::error::Error for Chain {}

fn tls_failure(member: &str, e: &rustls::Error) -> StorageError {
    if matches!(
        e,
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. }
    ) {
        return StorageError::Io(Cause::new(format!(
            "etcd at {member} does not speak TLS ({e}): use etcd:// for a plain-text member"
        )));
    }
    StorageError::AccessDenied(Cause::new(format!(
        "etcd at {member}: TLS handshake failed: {e} (is ca= the CA that signed the \
         members' certificates, and cert=/key= a certificate they trust?)"
    )))
}
