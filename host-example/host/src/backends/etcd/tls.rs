//! The TLS configuration of an `etcds://` client: the CA that signs the members'
//! certificates, and the client's own certificate, read from PEM files at open.

use std::path::Path;

use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig};

use super::url::EtcdTls;
use crate::{Cause, StorageError};

/// The TLS configuration `tls` describes; a missing or malformed file is an error
/// that names it.
pub(super) fn config(tls: &EtcdTls) -> Result<TlsConfig, StorageError> {
    let mut config = TlsConfig::builder();
    if let Some(ca) = &tls.ca {
        let certificates = certificates(ca, "ca")?;
        config = config.root_certs(RootCerts::new_with_certs(&certificates));
    }
    if let Some((cert, key)) = &tls.client {
        let chain = certificates(cert, "cert")?;
        let key = private_key(key)?;
        config = config.client_cert(Some(ClientCert::new_with_certs(&chain, key)));
    }
    Ok(config.build())
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
fn certificates(path: &Path, what: &str) -> Result<Vec<Certificate<'static>>, StorageError> {
    let pem = read(path, what)?;
    let mut found = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(PemItem::Certificate(c)) => found.push(c),
            Ok(_) => {}
            Err(e) => return Err(malformed(path, what, format!("is not valid PEM: {e}"))),
        }
    }
    if found.is_empty() {
        return Err(malformed(path, what, "holds no PEM certificate".into()));
    }
    Ok(found)
}

/// The private key in the PEM file at `path`.
fn private_key(path: &Path) -> Result<PrivateKey<'static>, StorageError> {
    let pem = read(path, "key")?;
    PrivateKey::from_pem(&pem)
        .map_err(|e| malformed(path, "key", format!("holds no usable private key: {e}")))
}
