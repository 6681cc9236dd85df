//! A self-signed certificate made at test time (rcgen), for `--tls-cert`/`--tls-key`, nginx's
//! `ssl_certificate`, and rustls clients that trust exactly it.

use std::fs;
use std::net::SocketAddr;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::peers::TempDir;
use super::{tcp, Tcp};

/// A fresh certificate for `localhost` and `127.0.0.1` and its key, as PEM files in a
/// temporary directory.
pub struct SelfSigned {
    /// The certificate, PEM.
    pub cert: String,
    /// Its private key (PKCS#8), PEM.
    pub key: String,
    cert_pem: Vec<u8>,
    _dir: TempDir,
}

impl SelfSigned {
    /// Makes a new key pair and certificate.
    pub fn new() -> SelfSigned {
        let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        let made = rcgen::generate_simple_self_signed(names).expect("make a certificate");
        let cert_pem = pem("CERTIFICATE", made.cert.der());
        let key_pem = pem("PRIVATE KEY", &made.signing_key.serialize_der());
        let dir = TempDir::new("cert");
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        fs::write(&cert, &cert_pem).expect("write the certificate");
        fs::write(&key, key_pem).expect("write the key");
        SelfSigned {
            cert,
            key,
            cert_pem: cert_pem.into_bytes(),
            _dir: dir,
        }
    }

    /// `--tls-cert CERT --tls-key KEY`.
    pub fn args(&self) -> [&str; 4] {
        ["--tls-cert", &self.cert, "--tls-key", &self.key]
    }

    /// A TLS client stream to `addr` for `localhost` that trusts this certificate and no
    /// other.
    pub fn client(&self, addr: SocketAddr) -> rustls::StreamOwned<rustls::ClientConnection, Tcp> {
        let config = sockwright_driver::tls::client_config_with_roots(&self.cert_pem)
            .expect("a client configuration trusting the certificate");
        let name = "localhost".try_into().expect("a server name");
        let conn = rustls::ClientConnection::new(config, name).expect("a TLS client");
        rustls::StreamOwned::new(conn, tcp(addr))
    }
}

/// DER as PEM with `label`, 64 columns.
fn pem(label: &str, der: &[u8]) -> String {
    let base64 = STANDARD.encode(der);
    let mut text = format!("-----BEGIN {label}-----\n");
    for line in base64.as_bytes().chunks(64) {
        text.push_str(std::str::from_utf8(line).unwrap_or_default());
        text.push('\n');
    }
    text.push_str(&format!("-----END {label}-----\n"));
    text
}
