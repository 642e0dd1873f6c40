//! The TLS settings of an `etcds://` client: the CA that signs the members'
//! certificates, and the client's own certificate, read from PEM files at open.

use std::path::Path;

use reqwest::{Certificate, ClientBuilder, Identity};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::url::EtcdTls;
use crate::{Cause, StorageError};

/// What an `etcds://` URL's files hold, checked.
pub(super) struct Settings {
    /// Trusted instead of the system's roots: the members' CA(s).
    roots: Option<Vec<Certificate>>,
    identity: Option<Identity>,
}

impl Settings {
    /// Reads the files `tls` names; a missing or malformed file is an error that names
    /// it.
    pub(super) fn read(tls: &EtcdTls) -> Result<Self, StorageError> {
        let roots = match &tls.ca {
            Some(ca) => Some(
                certificates(ca, "ca")?
                    .into_iter()
                    .map(|der| Certificate::from_der(&der))
                    .collect::<Result<_, _>>()
                    .map_err(|e| malformed(ca, "ca", format!("holds a bad certificate: {e}")))?,
            ),
            None => None,
        };
        let identity = match &tls.client {
            Some((cert, key)) => Some(identity(cert, key)?),
            None => None,
        };
        Ok(Self { roots, identity })
    }

    /// `builder`, trusting only the CA given (else the system's roots, as rustls's
    /// platform verifier finds them), and presenting the client certificate if any.
    pub(super) fn apply(self, builder: ClientBuilder) -> ClientBuilder {
        let builder = match self.roots {
            Some(roots) => builder.tls_certs_only(roots),
            None => builder,
        };
        match self.identity {
            Some(identity) => builder.identity(identity),
            None => builder,
        }
    }
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, StorageError> {
    std::fs::read(path).map_err(|e| StorageError::io(&format!("read the {what}= file"), path, e))
}

fn malformed(path: &Path, what: &str, why: String) -> StorageError {
    StorageError::InvalidData(Cause::new(format!(
        "the {what}= file {} {why}",
        path.display()
    )))
}

/// Every certificate in the PEM file at `path`: at least one.
fn certificates(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, StorageError> {
    certificates_in(&read(path, what)?, path, what)
}

fn certificates_in(
    pem: &[u8],
    path: &Path,
    what: &str,
) -> Result<Vec<CertificateDer<'static>>, StorageError> {
    let found = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| malformed(path, what, format!("is not valid PEM: {e}")))?;
    if found.is_empty() {
        return Err(malformed(path, what, "holds no PEM certificate".into()));
    }
    Ok(found)
}

/// The client certificate chain at `cert` with its private key at `key`.
fn identity(cert: &Path, key: &Path) -> Result<Identity, StorageError> {
    let mut pem = read(cert, "cert")?;
    certificates_in(&pem, cert, "cert")?;
    let key_pem = read(key, "key")?;
    PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| malformed(key, "key", format!("holds no usable private key: {e}")))?;
    // reqwest takes the chain and the key as one PEM text.
    pem.push(b'\n');
    pem.extend_from_slice(&key_pem);
    Identity::from_pem(&pem).map_err(|e| {
        StorageError::InvalidData(Cause::with_source(
            format!(
                "the cert= file {} and the key= file {} make no client certificate",
                cert.display(),
                key.display()
            ),
            e,
        ))
    })
}
