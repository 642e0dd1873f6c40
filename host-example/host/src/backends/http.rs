//! The HTTP client of the S3 backend.

use std::time::Duration;

/// An agent whose every request, connecting included, takes at most `timeout`.
///
/// Error statuses are answers, not errors: S3 names what went wrong in the body,
/// which the backend reads. No proxy from the environment is used: the
/// server is the one the storage URL names, and an `HTTPS_PROXY` meant for other
/// traffic must not quietly route checkpoints elsewhere.
///
/// `tls` replaces the default (the web PKI's roots, no client certificate) where the
/// backend was given its own CA or certificate.
pub(crate) fn agent(timeout: Duration, tls: Option<ureq::tls::TlsConfig>) -> ureq::Agent {
    let builder = ureq::Agent::config_builder();
    let builder = match tls {
        Some(tls) => builder.tls_config(tls),
        None => builder,
    };
    builder
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .proxy(None)
        .build()
        .into()
}
