//! What a server or client session is configured with. Every limit has a default chosen for
//! an Internet-facing server; the core's limits are documented in the core's README.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use sockwright::conn::Config;
use sockwright::handshake::{HandshakeLimits, Rejection, Request, ServerConfig, TokenMode};

use crate::body::BodyHandler;

/// How long a peer may take to complete the upgrade handshake (TLS included) before the
/// connection is dropped. Ten seconds covers slow mobile links; a slowloris client holding
/// sockets open gets no longer.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What a server does with an upgrade request, decided by a [`RequestHook`].
#[derive(Clone, Debug)]
pub enum Route {
    /// Validate the request as a WebSocket upgrade and, if it is one, answer `101` with these
    /// extra response headers.
    Upgrade(Vec<(String, String)>),
    /// Refuse it with this HTTP response (e.g. `404` for an unknown path).
    Reject(Rejection),
    /// Answer it with these raw HTTP response bytes and close (e.g. a status page).
    Respond(Vec<u8>),
    /// Read the request's body, then answer with the raw HTTP response `respond` gives for
    /// the request and body, and close (e.g. a backend's `POST /publish`). The body's length
    /// comes from `Content-Length` and may be at most `limit` bytes; otherwise the request is
    /// refused as [`request_body_length`] says (`411` without a length or with
    /// `Transfer-Encoding`, `413` over `limit`, `400` for a bad length). The whole request,
    /// body included, must arrive within the handshake timeout. Bytes after the body are
    /// ignored: the connection closes after the response.
    ///
    /// [`request_body_length`]: sockwright::handshake::request_body_length
    Body {
        /// The most body bytes read; the buffer grows as they arrive, up to this.
        limit: usize,
        /// Gives the response.
        respond: BodyHandler,
    },
}

/// Decides, from the complete request head, what to do with a request before it is
/// validated as an upgrade: route by path, check a query parameter, serve a plain page.
pub type RequestHook = Arc<dyn Fn(&Request) -> Route + Send + Sync>;

/// A server session's configuration. Cheap to share: sessions hold it in an `Arc`.
#[derive(Clone)]
#[non_exhaustive]
pub struct ServerOptions {
    /// Upgrade validation: head limits, token-list mode, subprotocols, origin policy.
    pub handshake: ServerConfig,
    /// The connection's limits and timers (message size, outbound bytes, keepalive, close).
    pub connection: Config,
    /// See [`DEFAULT_HANDSHAKE_TIMEOUT`].
    pub handshake_timeout: Duration,
    /// Called with each complete request head; `None` upgrades every valid request.
    pub hook: Option<RequestHook>,
    /// Serve TLS (wss) with this rustls configuration; see [`crate::tls::server_config`].
    #[cfg(feature = "tls")]
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            handshake: ServerConfig::default(),
            connection: Config::default(),
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            hook: None,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

impl ServerOptions {
    /// Sets the [`RequestHook`].
    pub fn with_hook(mut self, hook: impl Fn(&Request) -> Route + Send + Sync + 'static) -> Self {
        self.hook = Some(Arc::new(hook));
        self
    }
}

impl fmt::Debug for ServerOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("ServerOptions");
        s.field("handshake", &self.handshake)
            .field("connection", &self.connection)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("hook", &self.hook.as_ref().map(|_| "Fn"));
        #[cfg(feature = "tls")]
        s.field("tls", &self.tls.is_some());
        s.finish()
    }
}

/// A client session's configuration.
#[derive(Clone)]
#[non_exhaustive]
pub struct ClientOptions {
    /// The connection's limits and timers.
    pub connection: Config,
    /// Limits on the server's response head.
    pub limits: HandshakeLimits,
    /// How strictly the response's token lists are read.
    pub token_mode: TokenMode,
    /// See [`DEFAULT_HANDSHAKE_TIMEOUT`]; for clients it also covers the TCP connect.
    pub handshake_timeout: Duration,
    /// Subprotocols to offer, in order of preference.
    pub subprotocols: Vec<String>,
    /// Extra request headers, e.g. `("Name", "alice")`.
    pub headers: Vec<(String, String)>,
    /// The rustls configuration for `wss://` URLs; `None` uses the system's roots
    /// ([`crate::tls::client_config`]).
    #[cfg(feature = "tls")]
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            connection: Config::default(),
            limits: HandshakeLimits::default(),
            token_mode: TokenMode::Tolerant,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            subprotocols: Vec::new(),
            headers: Vec::new(),
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

impl ClientOptions {
    /// Adds a request header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Offers a subprotocol.
    pub fn with_subprotocol(mut self, protocol: impl Into<String>) -> Self {
        self.subprotocols.push(protocol.into());
        self
    }
}

impl fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("ClientOptions");
        s.field("connection", &self.connection)
            .field("limits", &self.limits)
            .field("token_mode", &self.token_mode)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("subprotocols", &self.subprotocols)
            .field("headers", &self.headers);
        #[cfg(feature = "tls")]
        s.field("tls", &self.tls.is_some());
        s.finish()
    }
}
