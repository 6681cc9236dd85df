//! The HTTP/1.1 upgrade handshake of RFC 6455, both sides, as plain functions over bytes.
//!
//! Server side:
//! 1. feed bytes into a [`RequestParser`] until it returns [`Parsed::Complete`] with the
//!    [`Request`] and the bytes that followed the head (hand those to the connection);
//! 2. route on [`Request::path`], then [`validate_request`] against a [`ServerConfig`];
//! 3. send [`Accepted::response`] (`101`) or [`Rejection::response`] (4xx, then close).
//!
//! Client side: build a [`ClientRequest`] (the caller supplies the 16 key bytes: the core has
//! no randomness), send [`ClientRequest::to_bytes`], feed the reply into a [`ResponseParser`],
//! then [`validate_response`].
//!
//! Header lists (`Connection`, `Upgrade`, `Sec-WebSocket-Protocol`) are read per RFC 9110, see
//! [`list_elements`] and [`TokenMode`]. Heads are parsed incrementally under
//! [`HandshakeLimits`]; nothing beyond a limit is ever buffered.
//!
//! ```
//! use sockwright::handshake::{validate_request, Parsed, RequestParser, ServerConfig};
//!
//! let cfg = ServerConfig::default();
//! let mut parser = RequestParser::new(cfg.limits);
//! let bytes = b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
//!     Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
//!     Sec-WebSocket-Version: 13\r\n\r\n\x81\x80";
//! let Ok(Parsed::Complete { head, trailing }) = parser.feed(bytes) else { panic!() };
//! assert_eq!(trailing, b"\x81\x80"); // the first frame, not lost
//! let accepted = validate_request(&head, &cfg).unwrap();
//! assert!(accepted.response().starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
//! ```

mod accept_key;
mod body;
mod client;
mod fields;
mod head;
mod reject;
mod server;
mod tokens;
mod url;

use alloc::vec::Vec;

pub use accept_key::accept_key;
pub use body::request_body_length;
pub use client::{
    validate_response, ClientAccepted, ClientHandshakeError, ClientRequest, Response,
    ResponseParser,
};
pub use fields::InvalidHeader;
pub(crate) use fields::{check_header, is_token, quoted};
pub use head::{HandshakeLimits, HeaderValues};
pub use reject::{reason_phrase, Rejection};
pub use server::{
    split_target, validate_request, Accepted, OriginPolicy, Request, RequestParser, ServerConfig,
};
pub use tokens::{list_contains, list_elements, ListElements, TokenListError, TokenMode};
pub use url::{UrlError, WsUrl};

/// The result of feeding bytes to a head parser that did not fail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed<T> {
    /// The head has not ended yet: feed more bytes.
    Partial,
    /// The head is complete.
    Complete {
        /// The parsed head.
        head: T,
        /// The bytes that followed the head in the fed input (e.g. the peer's first frames).
        /// They belong to the WebSocket connection.
        trailing: Vec<u8>,
    },
}
