//! wss: a rustls layer under the session, and the configurations it runs with.
//!
//! rustls is itself sans-IO, so the layer is a pair of byte shuffles: socket bytes in through
//! `read_tls`, plaintext out to the handshake and connection; plaintext in through the
//! writer, records out through `write_tls`. Every adapter gets TLS from the same code.
//!
//! The crypto provider is *ring*, named explicitly so that no process-wide default is needed.

use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::pipe::Plaintext;
use crate::Error;

/// How much plaintext is encrypted before the records are handed out: large enough for few,
/// full 16 KiB records per write, small enough to bound the ciphertext buffered per session.
pub const PLAINTEXT_CHUNK: usize = 64 * 1024;

/// A server configuration from a PEM certificate chain (leaf first) and a PEM private key
/// (PKCS#8, PKCS#1 or SEC1), read from files. Offers ALPN `http/1.1`, so that browsers do not
/// pick HTTP/2, which has no `Upgrade`.
pub fn server_config(
    cert_chain_pem: impl AsRef<Path>,
    key_pem: impl AsRef<Path>,
) -> Result<Arc<ServerConfig>, Error> {
    let read = |path: &Path| {
        std::fs::read(path)
            .map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))
    };
    server_config_from_pem(&read(cert_chain_pem.as_ref())?, &read(key_pem.as_ref())?)
}

/// [`server_config`] from PEM text in memory.
pub fn server_config_from_pem(
    cert_chain_pem: &[u8],
    key_pem: &[u8],
) -> Result<Arc<ServerConfig>, Error> {
    let certs = certificates(cert_chain_pem)?;
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| Error::Config(format!("no usable private key in the key PEM: {e}")))?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A client configuration trusting the system's root certificates (loaded once per process).
pub fn client_config() -> Result<Arc<ClientConfig>, Error> {
    static SYSTEM: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
    SYSTEM
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            let mut roots = RootCertStore::empty();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err("no system root certificates were found; give roots with \
                            client_config_with_roots"
                    .to_owned());
            }
            client_config_from(roots).map_err(|e| e.to_string())
        })
        .clone()
        .map_err(Error::Config)
}

/// A client configuration trusting only the certificates in `roots_pem` (e.g. a private CA).
pub fn client_config_with_roots(roots_pem: &[u8]) -> Result<Arc<ClientConfig>, Error> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(roots_pem)? {
        roots.add(cert)?;
    }
    client_config_from(roots)
}

fn client_config_from(roots: RootCertStore) -> Result<Arc<ClientConfig>, Error> {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Config(format!("bad certificate PEM: {e}")))?;
    if certs.is_empty() {
        return Err(Error::Config(
            "no CERTIFICATE block in the certificate PEM".into(),
        ));
    }
    Ok(certs)
}

fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// The TLS stage of a session.
pub(crate) struct TlsLayer {
    conn: rustls::Connection,
    /// Decrypted bytes on their way to the handshake or connection.
    plain: Box<[u8]>,
    /// Records on their way to the socket.
    out: Vec<u8>,
    out_pos: usize,
    close_notify_sent: bool,
}

impl TlsLayer {
    pub(crate) fn server(config: Arc<ServerConfig>) -> Result<Self, Error> {
        Ok(Self::new(ServerConnection::new(config)?.into()))
    }

    pub(crate) fn client(host: &str, config: Option<Arc<ClientConfig>>) -> Result<Self, Error> {
        let config = match config {
            Some(config) => config,
            None => client_config()?,
        };
        let name = ServerName::try_from(host.to_owned())
            .map_err(|_| Error::Config(format!("{host:?} is not a DNS name or an IP address")))?;
        Ok(Self::new(ClientConnection::new(config, name)?.into()))
    }

    fn new(conn: rustls::Connection) -> Self {
        TlsLayer {
            conn,
            plain: vec![0; 16 * 1024].into_boxed_slice(),
            out: Vec::new(),
            out_pos: 0,
            close_notify_sent: false,
        }
    }

    /// Decrypts `bytes`, handing each piece of plaintext to `on_plain`. Returns whether the
    /// peer ended the TLS stream (close_notify).
    pub(crate) fn read(
        &mut self,
        mut bytes: &[u8],
        mut on_plain: impl FnMut(&[u8]),
    ) -> Result<bool, Error> {
        let mut ended = false;
        while !bytes.is_empty() && !ended {
            self.conn.read_tls(&mut bytes)?;
            let state = self.conn.process_new_packets()?;
            loop {
                match self.conn.reader().read(&mut self.plain) {
                    Ok(0) => {
                        ended = true;
                        break;
                    }
                    Ok(n) => on_plain(&self.plain[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e.into()),
                }
            }
            ended |= state.peer_has_closed();
        }
        Ok(ended)
    }

    /// Hands plaintext to rustls; returns how much it took (it buffers a bounded amount
    /// until its own handshake is done).
    pub(crate) fn write_plaintext(&mut self, plain: &[u8]) -> usize {
        if plain.is_empty() || self.close_notify_sent {
            return 0;
        }
        self.conn.writer().write(plain).unwrap_or(0)
    }

    /// Moves every pending record into the output; with `close`, ends the stream first.
    pub(crate) fn flush(&mut self, close: bool) {
        if close && !self.close_notify_sent {
            self.conn.send_close_notify();
            self.close_notify_sent = true;
        }
        while self.conn.wants_write() {
            // Writing into a Vec cannot fail.
            if self.conn.write_tls(&mut self.out).is_err() {
                break;
            }
        }
    }

    /// Once the previous records are written, encrypts up to [`PLAINTEXT_CHUNK`] bytes of
    /// `source`'s plaintext; with `close`, ends the stream (close_notify) once `source` is
    /// drained. Returns the records to write ([`TlsLayer::advance`] with what was written).
    pub(crate) fn pending_output<P: Plaintext + ?Sized>(
        &mut self,
        source: &mut P,
        close: bool,
    ) -> &[u8] {
        if !self.has_output() {
            let mut budget = PLAINTEXT_CHUNK;
            while budget > 0 {
                let pending = source.pending();
                let written = self.write_plaintext(&pending[..pending.len().min(budget)]);
                if written == 0 {
                    break;
                }
                source.advance(written);
                budget -= written;
            }
            let drained = source.pending().is_empty();
            self.flush(close && drained);
        }
        self.output()
    }

    pub(crate) fn has_output(&self) -> bool {
        self.out_pos < self.out.len()
    }

    pub(crate) fn output(&self) -> &[u8] {
        &self.out[self.out_pos..]
    }

    pub(crate) fn advance(&mut self, n: usize) {
        self.out_pos = (self.out_pos + n).min(self.out.len());
        if self.out_pos == self.out.len() {
            self.out.clear();
            self.out_pos = 0;
        }
    }

    pub(crate) fn queued(&self) -> usize {
        self.out.len() - self.out_pos
    }
}
