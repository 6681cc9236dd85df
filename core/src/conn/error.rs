//! Errors, split by whose fault they are: the peer's ([`Error`]) or the caller's
//! ([`SendError`]).

use core::fmt;

use crate::frame::ProtocolError;

/// The connection failed. Fatal and sticky: every later `handle_*` call returns the same error.
/// Flush what is queued (it may hold a close frame for the peer), then close the transport.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The peer broke the protocol or a limit; a close frame with
    /// [`ProtocolError::close_code`] is queued for it.
    Protocol(ProtocolError),
    /// The peer sent nothing within the pong timeout after a keepalive ping; a 1011 close frame
    /// is queued in case it is only slow.
    KeepaliveTimeout,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Protocol(e) => write!(f, "peer protocol violation: {e}"),
            Self::KeepaliveTimeout => f.write_str("keepalive timeout: peer silent after ping"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}

impl From<ProtocolError> for Error {
    fn from(e: ProtocolError) -> Self {
        Self::Protocol(e)
    }
}

/// A command was refused. The connection is unchanged and nothing was queued.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// The close handshake has started or the connection has failed: nothing more may be sent.
    Closed,
    /// Queuing this would pass [`Config::max_outbound_bytes`](super::Config); drain with
    /// `poll_transmit` and try again.
    OutboundFull {
        /// Bytes already queued.
        queued: usize,
        /// Bytes this send needs.
        needed: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The encoded message is larger than `max_outbound_bytes`, so it can never be queued.
    TooLarge {
        /// Bytes the encoded message needs.
        needed: usize,
        /// The configured limit.
        limit: usize,
    },
    /// A ping, pong or close payload over 125 bytes.
    ControlPayloadTooLong(usize),
    /// A close code that may not be sent (for example 1005, 1006, 1015 or below 1000).
    InvalidCloseCode(u16),
    /// A [`SharedFrame`](crate::frame::SharedFrame) was given to a client connection. It is
    /// unmasked, and a client must mask every frame with a fresh key: use `send_text` or
    /// `send_binary` instead.
    SharedFrameFromClient,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Closed => f.write_str("connection is closing or closed"),
            Self::OutboundFull {
                queued,
                needed,
                limit,
            } => {
                write!(
                    f,
                    "outbound queue full: {queued} queued + {needed} needed > limit {limit}"
                )
            }
            Self::TooLarge { needed, limit } => {
                write!(
                    f,
                    "message needs {needed} bytes, more than the outbound limit {limit}"
                )
            }
            Self::ControlPayloadTooLong(len) => {
                write!(f, "control payload of {len} bytes (max 125)")
            }
            Self::InvalidCloseCode(code) => write!(f, "close code {code} may not be sent"),
            Self::SharedFrameFromClient => f.write_str(
                "a shared (unmasked) frame cannot be sent by a client, which masks every frame",
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for SendError {}
