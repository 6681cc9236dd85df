//! What the connection reports to its caller.

use alloc::string::String;
use bytes::Bytes;

use crate::frame::{CloseCode, SharedFrame};

/// Something that happened on the connection, taken with
/// [`poll_event`](super::Connection::poll_event).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A whole message arrived (all its fragments, validated).
    Message(Message),
    /// The peer sent a ping. The pong is already queued; this is for information.
    Ping(Bytes),
    /// The peer sent a pong.
    Pong(Bytes),
    /// The connection is closed: the close handshake finished, timed out, or the transport
    /// ended. Nothing more will be received; flush what is queued, then close the transport.
    Closed(Closed),
}

/// A complete message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A text message, valid UTF-8.
    Text(String),
    /// A binary message.
    Binary(Bytes),
}

impl Message {
    /// The payload bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Text(text) => text.as_bytes(),
            Self::Binary(data) => data,
        }
    }
}

impl From<&Message> for SharedFrame {
    /// Encodes the message once, as a server frame of the same type, to send it on many
    /// connections.
    fn from(message: &Message) -> Self {
        match message {
            Message::Text(text) => Self::text(text),
            Message::Binary(data) => Self::binary(data),
        }
    }
}

/// Which side sent the first close frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Initiator {
    /// This side called [`close`](super::Connection::close).
    Local,
    /// The peer sent the first close frame, or the transport ended.
    Remote,
}

/// How a connection ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Closed {
    /// Who started the close.
    pub initiator: Initiator,
    /// The code from the peer's close frame; [`CloseCode::NO_STATUS`] (1005) when its frame had
    /// none, [`CloseCode::ABNORMAL`] (1006) when no close frame came (timeout or end of
    /// transport).
    pub code: CloseCode,
    /// The reason from the peer's close frame, empty when there was none.
    pub reason: String,
}

impl Closed {
    /// Whether both close frames were exchanged.
    pub fn is_clean(&self) -> bool {
        self.code != CloseCode::ABNORMAL
    }
}
