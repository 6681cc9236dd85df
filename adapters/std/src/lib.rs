//! `sockwright-std`: WebSocket (RFC 6455) over blocking `std::net`, a thread per connection.
//!
//! Every protocol decision is the core's ([`sockwright`]), joined with TLS and the upgrade
//! handshake in a [`sockwright_driver::Session`]; this crate only moves bytes between a
//! `TcpStream` and that session and arms the one timer it asks for. It pulls in no async
//! runtime, and no TLS library unless the `tls` feature is on.
//!
//! ```no_run
//! use sockwright_std::{connect, ClientOptions, Message, Server, ServerOptions};
//!
//! // An echo server: one thread per connection.
//! let server = Server::bind("127.0.0.1:9001", ServerOptions::default())?;
//! let _handle = server.spawn(|mut ws| {
//!     while let Ok(message) = ws.read() {
//!         if message.is_data() {
//!             let _ = ws.send(message);
//!         }
//!     }
//! })?;
//!
//! // A client.
//! let mut ws = connect("ws://127.0.0.1:9001/chat", ClientOptions::default())?;
//! ws.send("hello")?;
//! assert_eq!(ws.read()?, Message::Text("hello".into()));
//! ws.close(sockwright_std::CloseCode::NORMAL, "bye")?;
//! # Ok::<(), sockwright_std::Error>(())
//! ```
//!
//! # Reading, sending and backpressure
//!
//! [`WebSocket::read`] blocks until the next message: text, binary, ping or pong (pings are
//! answered by the core on its own), then one final [`Message::Close`] with the code the
//! connection ended with, then [`Error::Closed`]. A fatal error (a protocol violation, a
//! keepalive timeout) is returned in place of the `Close`.
//!
//! Sends block until the message is written to the socket: that is this adapter's
//! backpressure. A peer that stops reading makes senders wait, never the reader: what the
//! reader must write itself (pongs, close replies) goes out as far as the socket takes it,
//! and while the rest waits the reader waits for room to write as well as for input, so it
//! keeps taking input (the core bounds what piles up: pongs owed collapse to the latest once
//! the outbound queue is full). That needs `poll(2)` and non-blocking sends, used on Linux
//! and Android; elsewhere the reader, too, blocks once the socket buffers are full.
//! [`WebSocket::sender`] gives a cloneable [`Sender`] for other threads; concurrent sends are
//! safe and whole messages never interleave, and a sender blocked in a socket write never
//! stops the reader from taking input.
//!
//! # Timers
//!
//! Keepalive pings, the pong timeout and the close timeout come from the session's timer
//! only: the reader sets the socket's read timeout to the session's next deadline, so they
//! run while some thread is in [`WebSocket::read`], and (on Linux and Android) while a send
//! waits for room to write. So a send to a peer that stopped reading is released: the
//! unanswered keepalive ping fails the connection, and a finished connection's last bytes
//! get the close timeout, after which the send fails and the transport is cut. A [`Sender`] in another
//! thread can move that deadline (a `close` arms the close timeout) while the reader is
//! blocked, so while other handles exist the reader wakes at least every
//! [`MAX_READ_WAIT`] to look at the deadline again.
//!
//! # Ending
//!
//! When the session finishes (the close handshake is over, the close timeout passed, or the
//! connection failed), its last bytes are written and the socket's write side is shut down.
//! The socket closes when the [`WebSocket`] and every [`Sender`] are dropped. Dropping them
//! without a close sends no close frame: the peer sees the transport end (1006).
//! [`WebSocket::abort`] cuts the transport at once, which frees a sender blocked writing to a
//! peer that no longer reads.
//!
//! # Broadcasting
//!
//! [`Sender::queue`] and [`Sender::deliver_shared`] (a hub's frame, with its slow-consumer
//! policy) queue without writing and never wait; [`Sender::flush`] writes, from a thread
//! that may block.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod handshake;
mod ready;
mod server;
mod shared;
mod websocket;

pub use handshake::{accept, connect, connect_stream};
pub use server::{Server, ServerHandle};
pub use websocket::{Sender, WebSocket, MAX_READ_WAIT};

pub use sockwright_driver::{
    clock, ClientOptions, Error, Handshake, Message, RequestHook, Route, ServerOptions,
};

/// The core crate, so that applications name one version of it.
pub use sockwright_driver::sockwright;

/// Close codes and close frames, for [`WebSocket::close`] and [`Message::Close`].
pub use sockwright_driver::sockwright::frame::{CloseCode, CloseFrame};

/// The handshake's request and response heads, for [`WebSocket::handshake`], and the
/// rejection a [`RequestHook`] can answer with.
pub use sockwright_driver::sockwright::handshake::{Rejection, Request, Response};

/// wss: rustls configurations from PEM files or the system's roots, for
/// [`ServerOptions::tls`] and [`ClientOptions::tls`].
#[cfg(feature = "tls")]
pub use sockwright_driver::tls;
