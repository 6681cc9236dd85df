//! The transport layer of one connection on its own, with no I/O: bytes pass through
//! unchanged, or through rustls (server or client side).
//!
//! A [`Session`](crate::Session) joins this layer to a handshake and a connection. Code that
//! owns the bytes above the transport itself — a relay holding two connections in one core
//! machine — uses a [`Pipe`] per socket instead: socket bytes in
//! ([`Pipe::handle_input`], plaintext out to a callback), plaintext in from a
//! [`Plaintext`] source ([`Pipe::pending_output`] / [`Pipe::advance_output`], socket bytes
//! out). A plain pipe copies nothing: its output *is* the source's pending bytes.

use crate::Error;

/// Plaintext waiting to go out through a [`Pipe`], e.g. a connection's queued frames.
pub trait Plaintext {
    /// The bytes to send next (empty when there are none). May be only a first part: the
    /// rest comes after [`Plaintext::advance`].
    fn pending(&mut self) -> &[u8];

    /// Marks the first `n` bytes of [`Plaintext::pending`] as taken.
    fn advance(&mut self, n: usize);
}

/// One socket's transport layer: plain, or TLS. See the [module docs](self).
pub struct Pipe {
    #[cfg(feature = "tls")]
    tls: Option<crate::tls::TlsLayer>,
}

impl Pipe {
    /// A pipe that passes bytes through unchanged (`ws://`, plain HTTP).
    pub fn plain() -> Pipe {
        Pipe {
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// The server side of TLS with `config` (see [`crate::tls::server_config`]).
    #[cfg(feature = "tls")]
    pub fn tls_server(config: std::sync::Arc<rustls::ServerConfig>) -> Result<Pipe, Error> {
        Ok(Pipe {
            tls: Some(crate::tls::TlsLayer::server(config)?),
        })
    }

    /// The client side of TLS to `server_name` (a DNS name or an IP address, checked against
    /// the server's certificate), trusting `config`'s roots, or the system's when `None`.
    #[cfg(feature = "tls")]
    pub fn tls_client(
        server_name: &str,
        config: Option<std::sync::Arc<rustls::ClientConfig>>,
    ) -> Result<Pipe, Error> {
        Ok(Pipe {
            tls: Some(crate::tls::TlsLayer::client(server_name, config)?),
        })
    }

    /// Whether bytes go through TLS.
    pub fn is_tls(&self) -> bool {
        #[cfg(feature = "tls")]
        return self.tls.is_some();
        #[cfg(not(feature = "tls"))]
        false
    }

    /// Bytes read from the socket: each piece of plaintext they hold goes to `on_plain`.
    /// Returns whether the peer ended its stream inside TLS (close_notify; for the
    /// socket's own end, the caller sees EOF). A TLS failure is an error: the connection
    /// is unusable (the alert for the peer, if any, is in [`Pipe::pending_output`]).
    pub fn handle_input(
        &mut self,
        bytes: &[u8],
        mut on_plain: impl FnMut(&[u8]),
    ) -> Result<bool, Error> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &mut self.tls {
            return tls.read(bytes, on_plain);
        }
        if !bytes.is_empty() {
            on_plain(bytes);
        }
        Ok(false)
    }

    /// The bytes to write to the socket next, taken from `source` (encrypted, for TLS: up to
    /// [`crate::tls::PLAINTEXT_CHUNK`] of plaintext once the previous records are written).
    /// With `close` (`source` will have nothing more once drained), a TLS pipe ends its
    /// stream (close_notify) when `source` is drained. Then call [`Pipe::advance_output`]
    /// with what the socket took, and call again: an empty answer means nothing is left.
    pub fn pending_output<'a, P: Plaintext + ?Sized>(
        &'a mut self,
        source: &'a mut P,
        close: bool,
    ) -> &'a [u8] {
        #[cfg(feature = "tls")]
        if let Some(tls) = &mut self.tls {
            return tls.pending_output(source, close);
        }
        let _ = close;
        source.pending()
    }

    /// Marks `n` bytes of [`Pipe::pending_output`] as written; `source` must be the one
    /// given there.
    pub fn advance_output<P: Plaintext + ?Sized>(&mut self, source: &mut P, n: usize) {
        #[cfg(feature = "tls")]
        if let Some(tls) = &mut self.tls {
            return tls.advance(n);
        }
        source.advance(n);
    }

    /// Encrypted bytes waiting in the pipe (always 0 for a plain pipe).
    pub fn queued_bytes(&self) -> usize {
        #[cfg(feature = "tls")]
        return self.tls.as_ref().map_or(0, |tls| tls.queued());
        #[cfg(not(feature = "tls"))]
        0
    }
}

impl std::fmt::Debug for Pipe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipe")
            .field("tls", &self.is_tls())
            .field("queued_bytes", &self.queued_bytes())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plaintext source over a byte vector.
    struct Bytes(Vec<u8>);

    impl Plaintext for Bytes {
        fn pending(&mut self) -> &[u8] {
            &self.0
        }

        fn advance(&mut self, n: usize) {
            self.0.drain(..n);
        }
    }

    #[test]
    fn a_plain_pipe_passes_bytes_through() {
        let mut pipe = Pipe::plain();
        let mut seen = Vec::new();
        assert!(!pipe
            .handle_input(b"abc", |p| seen.extend_from_slice(p))
            .unwrap());
        assert_eq!(seen, b"abc");
        let mut source = Bytes(b"hello".to_vec());
        assert_eq!(pipe.pending_output(&mut source, true), b"hello");
        pipe.advance_output(&mut source, 2);
        assert_eq!(pipe.pending_output(&mut source, true), b"llo");
        pipe.advance_output(&mut source, 3);
        assert!(pipe.pending_output(&mut source, true).is_empty());
        assert!(!pipe.is_tls());
    }

    /// One end of a TLS pair: its pipe, what it sends, what it received, whether the peer
    /// ended the stream.
    #[cfg(feature = "tls")]
    struct End {
        pipe: Pipe,
        out: Bytes,
        got: Vec<u8>,
        ended: bool,
    }

    #[cfg(feature = "tls")]
    impl End {
        /// Hands `bytes` from the peer to the pipe; returns what it has for the peer.
        fn step(&mut self, bytes: &[u8], close: bool) -> Vec<u8> {
            let got = &mut self.got;
            self.ended |= self
                .pipe
                .handle_input(bytes, |p| got.extend_from_slice(p))
                .unwrap();
            let out = self.pipe.pending_output(&mut self.out, close).to_vec();
            self.pipe.advance_output(&mut self.out, out.len());
            out
        }
    }

    /// Moves every byte one end has for the other, both ways, until neither has any.
    #[cfg(feature = "tls")]
    fn exchange(a: &mut End, b: &mut End, close: bool) {
        let mut to_b = a.step(&[], close);
        loop {
            let to_a = b.step(&to_b, close);
            to_b = a.step(&to_a, close);
            if to_a.is_empty() && to_b.is_empty() {
                return;
            }
        }
    }

    #[cfg(feature = "tls")]
    #[test]
    fn tls_pipes_talk_and_close() {
        let certs = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/certs/");
        let read = |name: &str| std::fs::read(format!("{certs}{name}")).unwrap();
        let server_config =
            crate::tls::server_config_from_pem(&read("server.pem"), &read("server.key")).unwrap();
        let client_config = crate::tls::client_config_with_roots(&read("ca.pem")).unwrap();
        // 200 KiB from the client: more than one plaintext chunk.
        let big: Vec<u8> = (0..200 * 1024).map(|i| (i % 251) as u8).collect();
        let end = |pipe: Pipe, out: &[u8]| End {
            pipe,
            out: Bytes(out.to_vec()),
            got: Vec::new(),
            ended: false,
        };
        let mut server = end(Pipe::tls_server(server_config).unwrap(), b"from the server");
        let mut client = end(
            Pipe::tls_client("localhost", Some(client_config)).unwrap(),
            &big,
        );
        assert!(server.pipe.is_tls() && client.pipe.is_tls());

        exchange(&mut client, &mut server, false);
        assert!(!client.ended && !server.ended);
        assert_eq!(server.got, big);
        assert_eq!(client.got, b"from the server");

        // Closing once drained: each side sees the other's close_notify.
        exchange(&mut client, &mut server, true);
        assert!(client.ended && server.ended);
        assert_eq!(client.pipe.queued_bytes(), 0);
    }

    #[cfg(feature = "tls")]
    #[test]
    fn a_bad_server_name_is_a_configuration_error() {
        let ca = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/certs/ca.pem"
        ));
        let config = crate::tls::client_config_with_roots(&ca.unwrap()).unwrap();
        let error = Pipe::tls_client("not a host!", Some(config)).unwrap_err();
        assert!(matches!(error, Error::Config(_)), "{error:?}");
    }
}
