//! What can end or refuse a session, split by whose fault it is.

use std::fmt;
use std::io;

use sockwright::conn::{self, SendError};
use sockwright::frame::ProtocolError;
use sockwright::handshake::{ClientHandshakeError, Rejection, UrlError};

/// Why a session failed, or why a command was refused.
///
/// The peer's faults: [`Error::Rejected`] (its upgrade request was refused; the response
/// was sent), [`Error::Handshake`] (the server's reply was refused), [`Error::Protocol`] (a
/// close frame with the matching code was sent), [`Error::KeepaliveTimeout`],
/// [`Error::HandshakeTimeout`]. The transport's: [`Error::Io`], [`Error::Tls`]. The
/// caller's: [`Error::Send`], [`Error::NotOpen`], [`Error::Closed`], [`Error::Url`],
/// [`Error::Config`]; and [`Error::Answered`], which is the server's own choice rather than a
/// failure.
/// A session's fatal error is reported once, after every event that came before it.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The socket failed, or ended in the middle of the handshake.
    Io(io::Error),
    /// The TLS layer failed (bad certificate, bad record, handshake failure). An alert was
    /// queued for the peer.
    #[cfg(feature = "tls")]
    Tls(rustls::Error),
    /// The peer's upgrade request was refused with this HTTP response, which was sent.
    Rejected(Rejection),
    /// The server refused our upgrade request or answered it wrongly.
    Handshake(ClientHandshakeError),
    /// The handshake did not complete within the configured time.
    HandshakeTimeout,
    /// The peer broke the protocol; a close frame with [`ProtocolError::close_code`] was sent.
    Protocol(ProtocolError),
    /// The peer did not answer a keepalive ping in time.
    KeepaliveTimeout,
    /// A send was refused (closed connection, outbound limit, oversize, bad control frame).
    Send(SendError),
    /// A command was given before the handshake completed.
    NotOpen,
    /// The connection is over and its end was already reported (a `Close` message or the
    /// error that ended it), or the request was answered without an upgrade: nothing more
    /// will be received.
    Closed,
    /// The server's request hook answered the request with a plain HTTP response
    /// ([`Route::Respond`](crate::Route::Respond)), which was sent: there is no WebSocket
    /// connection, and nothing went wrong.
    Answered,
    /// The URL to connect to is not a WebSocket URL.
    Url(UrlError),
    /// The configuration is unusable (e.g. a PEM file without a key); the text says why.
    Config(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "i/o error: {e}"),
            #[cfg(feature = "tls")]
            Error::Tls(e) => write!(f, "tls error: {e}"),
            Error::Rejected(r) => {
                write!(
                    f,
                    "upgrade request refused with {}: {}",
                    r.status(),
                    r.reason()
                )
            }
            Error::Handshake(e) => write!(f, "handshake failed: {e}"),
            Error::HandshakeTimeout => f.write_str("the handshake timed out"),
            Error::Protocol(e) => write!(f, "the peer broke the protocol: {e}"),
            Error::KeepaliveTimeout => f.write_str("the peer did not answer a keepalive ping"),
            Error::Send(e) => write!(f, "send refused: {e}"),
            Error::NotOpen => f.write_str("the connection is not open yet"),
            Error::Closed => f.write_str("the connection is closed"),
            Error::Answered => {
                f.write_str("the request was answered with a plain HTTP response, not upgraded")
            }
            Error::Url(e) => write!(f, "bad url: {e}"),
            Error::Config(why) => write!(f, "bad configuration: {why}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            #[cfg(feature = "tls")]
            Error::Tls(e) => Some(e),
            Error::Handshake(e) => Some(e),
            Error::Protocol(e) => Some(e),
            Error::Send(e) => Some(e),
            Error::Url(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<SendError> for Error {
    fn from(e: SendError) -> Self {
        Error::Send(e)
    }
}

impl From<UrlError> for Error {
    fn from(e: UrlError) -> Self {
        Error::Url(e)
    }
}

impl From<conn::Error> for Error {
    fn from(e: conn::Error) -> Self {
        match e {
            conn::Error::Protocol(e) => Error::Protocol(e),
            conn::Error::KeepaliveTimeout => Error::KeepaliveTimeout,
            // The core's error list may grow; until this crate learns a new kind, it is
            // reported with the core's own text.
            other => Error::Io(io::Error::other(other.to_string())),
        }
    }
}

#[cfg(feature = "tls")]
impl From<rustls::Error> for Error {
    fn from(e: rustls::Error) -> Self {
        Error::Tls(e)
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Io(e) => e,
            other => io::Error::other(other),
        }
    }
}
