//! The messages an application reads and writes through an adapter.

use bytes::Bytes;
use sockwright::conn::{self, Closed};
use sockwright::frame::{CloseCode, CloseFrame};

/// A WebSocket message as adapters hand it to applications and take it from them.
///
/// Reading yields `Text` and `Binary` messages, `Ping`/`Pong` as they arrive (pings are
/// answered by the core on its own), and one `Close` last. Writing any variant sends it;
/// `Close(None)` closes normally (1000).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A text message: valid UTF-8, checked by the core.
    Text(String),
    /// A binary message.
    Binary(Bytes),
    /// A ping with its payload (at most 125 bytes).
    Ping(Bytes),
    /// A pong with its payload (at most 125 bytes).
    Pong(Bytes),
    /// The close handshake. Read: the code and reason the connection ended with (`None` when
    /// the peer's close frame had no code; code 1006 when the transport ended without a close
    /// frame). Written: the close to send.
    Close(Option<CloseFrame>),
}

impl Message {
    /// The payload bytes (for `Close`, the reason).
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Message::Text(text) => text.as_bytes(),
            Message::Binary(data) | Message::Ping(data) | Message::Pong(data) => data,
            Message::Close(frame) => frame.as_ref().map_or(&[], |f| f.reason.as_bytes()),
        }
    }

    /// Whether this is a `Text` or `Binary` message.
    pub fn is_data(&self) -> bool {
        matches!(self, Message::Text(_) | Message::Binary(_))
    }
}

impl From<conn::Message> for Message {
    fn from(message: conn::Message) -> Self {
        match message {
            conn::Message::Text(text) => Message::Text(text),
            conn::Message::Binary(data) => Message::Binary(data),
        }
    }
}

/// How a connection ended, as the final message an adapter yields: the peer's code and
/// reason; `None` when its close frame had no code; 1006 when no close frame came.
impl From<Closed> for Message {
    fn from(closed: Closed) -> Self {
        match closed.code {
            CloseCode::NO_STATUS => Message::Close(None),
            code => Message::Close(Some(CloseFrame {
                code,
                reason: closed.reason,
            })),
        }
    }
}

impl From<String> for Message {
    fn from(text: String) -> Self {
        Message::Text(text)
    }
}

impl From<&str> for Message {
    fn from(text: &str) -> Self {
        Message::Text(text.to_owned())
    }
}

impl From<Vec<u8>> for Message {
    fn from(data: Vec<u8>) -> Self {
        Message::Binary(data.into())
    }
}

impl From<Bytes> for Message {
    fn from(data: Bytes) -> Self {
        Message::Binary(data)
    }
}
