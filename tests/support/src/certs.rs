//! Certificates a TLS test makes for itself with the `openssl` command: a CA, a server
//! certificate for 127.0.0.1 signed by it, a client certificate signed by it, and a
//! second, unrelated CA for the tests of a wrong one. Nothing is checked in, so
//! nothing expires in the repository.

use std::path::{Path, PathBuf};
use std::process::Command;

/// PEM files under a directory the caller owns.
#[derive(Clone, Debug)]
pub struct Certificates {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// A CA that signed none of the above.
    pub other_ca: PathBuf,
}

impl Certificates {
    /// Makes them in `dir`, or returns `None` after printing why `test` is skipped
    /// (no `openssl`, and CI does not require it).
    pub fn make(test: &str, dir: &Path) -> Option<Self> {
        let installed = crate::server::installed_or_skip(
            test,
            Path::new("openssl"),
            "openssl command",
            "etcd",
            "install Debian's openssl",
        );
        if !installed {
            return None;
        }
        let path = |name: &str| dir.join(name);
        let certs = Certificates {
            ca: path("ca.pem"),
            server_cert: path("server.pem"),
            server_key: path("server-key.pem"),
            client_cert: path("client.pem"),
            client_key: path("client-key.pem"),
            other_ca: path("other-ca.pem"),
        };
        let ca_key = path("ca-key.pem");
        self_signed(&ca_key, &certs.ca, "pipeline-checkpoint test CA");
        self_signed(&path("other-ca-key.pem"), &certs.other_ca, "unrelated CA");
        let extensions = path("server.ext");
        std::fs::write(
            &extensions,
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n",
        )
        .unwrap();
        signed(
            &certs,
            &ca_key,
            &certs.server_key,
            &certs.server_cert,
            "127.0.0.1",
            &extensions,
        );
        let client_ext = path("client.ext");
        std::fs::write(&client_ext, "extendedKeyUsage=clientAuth\n").unwrap();
        signed(
            &certs,
            &ca_key,
            &certs.client_key,
            &certs.client_cert,
            "pipeline",
            &client_ext,
        );
        Some(certs)
    }
}

fn openssl(args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn text(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 temporary path")
}

/// `openssl req` with a new P-256 key written to `key`, for the subject `name`, writing
/// `out`: a certificate request, or with `extra` (`-x509 …`) a self-signed certificate.
fn new_key(key: &Path, out: &Path, name: &str, extra: &[&str]) {
    let subject = format!("/CN={name}");
    let mut args = vec![
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        text(key),
        "-out",
        text(out),
        "-subj",
        &subject,
    ];
    args.extend_from_slice(extra);
    openssl(&args);
}

fn self_signed(key: &Path, cert: &Path, name: &str) {
    new_key(
        key,
        cert,
        name,
        &[
            "-x509",
            "-days",
            "2",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}

fn signed(certs: &Certificates, ca_key: &Path, key: &Path, cert: &Path, name: &str, ext: &Path) {
    let request = cert.with_extension("csr");
    new_key(key, &request, name, &[]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        text(&request),
        "-CA",
        text(&certs.ca),
        "-CAkey",
        text(ca_key),
        "-CAcreateserial",
        "-out",
        text(cert),
        "-days",
        "2",
        "-extfile",
        text(ext),
    ]);
}
