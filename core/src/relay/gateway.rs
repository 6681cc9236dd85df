//! Upstream failures during the handshake, and the `502 Bad Gateway` the client gets for them.

use alloc::format;
use alloc::string::String;
use core::fmt;
use core::time::Duration;

use crate::handshake::{quoted, reason_phrase, ClientHandshakeError, Rejection, WsUrl};

/// Why the upstream handshake failed. Each becomes a `502 Bad Gateway` for the client
/// ([`bad_gateway`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UpstreamFailure {
    /// The upstream could not be reached: no address, connection refused, TLS failed… The
    /// detail comes from the caller (e.g. the I/O error's text).
    Unreachable(String),
    /// The upstream did not complete the handshake within
    /// [`RelayConfig::upstream_timeout`](super::RelayConfig::upstream_timeout).
    TimedOut(Duration),
    /// The upstream closed the connection before its response head ended.
    ClosedEarly,
    /// The upstream's response was not a valid `101` for our request; a status other than
    /// `101` is [`ClientHandshakeError::Status`], the upstream refusing.
    Handshake(ClientHandshakeError),
    /// The upstream chose a subprotocol the client did not offer.
    UnofferedSubprotocol(String),
}

impl fmt::Display for UpstreamFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreachable(detail) => write!(f, "could not be reached: {detail}"),
            Self::TimedOut(limit) => write!(
                f,
                "did not answer the WebSocket handshake within {} ms (upstream_timeout)",
                limit.as_millis()
            ),
            Self::ClosedEarly => {
                f.write_str("closed the connection before answering the WebSocket handshake")
            }
            Self::Handshake(ClientHandshakeError::Status { code, reason }) => write!(
                f,
                "refused the WebSocket handshake with {code} {}",
                if reason.is_empty() {
                    quoted(reason_phrase(*code).unwrap_or("").as_bytes())
                } else {
                    quoted(reason.as_bytes())
                }
            ),
            Self::Handshake(error) => write!(f, "sent an invalid handshake response: {error}"),
            Self::UnofferedSubprotocol(chosen) => write!(
                f,
                "chose subprotocol {}, which the client did not offer",
                quoted(chosen.as_bytes())
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for UpstreamFailure {}

impl From<ClientHandshakeError> for UpstreamFailure {
    fn from(error: ClientHandshakeError) -> Self {
        Self::Handshake(error)
    }
}

/// The `502 Bad Gateway` for the client when the upstream failed, its reason naming the
/// upstream (when `upstream` is given) and the failure, e.g. `upstream ws://10.0.0.5:9001/im
/// refused the WebSocket handshake with 403 "Forbidden"`. Pass `None` to keep the upstream's
/// address from clients (see [`RelayConfig::name_upstream`](super::RelayConfig::name_upstream)).
pub fn bad_gateway(upstream: Option<&WsUrl>, failure: &UpstreamFailure) -> Rejection {
    let reason = match upstream {
        Some(url) => format!("upstream {url} {failure}"),
        None => format!("upstream {failure}"),
    };
    Rejection::new(502, reason)
}
