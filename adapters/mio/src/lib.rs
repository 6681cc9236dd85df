//! `sockwright-mio`: WebSocket servers and clients on [mio] event loops, many connections per
//! thread.
//!
//! Each connection is a [`sockwright_driver::Session`] (TLS, upgrade handshake and the
//! sans-IO [`sockwright`] connection) fed by an edge-triggered mio socket: the loop reads
//! until `WouldBlock`, writes until `WouldBlock`, registers WRITABLE interest only while
//! output is pending, and keeps one timer heap for all its sessions' deadlines (handshake
//! timeout, keepalive, close timeout). It holds no protocol logic of its own.
//!
//! An application implements [`Handler`] and gets a [`Context`] in every callback to send to
//! any connection of the loop, close it, or open client connections; other threads use a
//! [`LoopHandle`]. A [`Server`] runs several loops, one per thread.
//!
//! ```no_run
//! use sockwright_mio::{ConnId, Context, Handler, Message, Server, ServerOptions};
//!
//! struct Echo;
//!
//! impl Handler for Echo {
//!     fn on_message(&mut self, ctx: &mut Context<'_>, id: ConnId, message: Message) {
//!         if message.is_data() {
//!             let _ = ctx.send(id, message);
//!         }
//!     }
//! }
//!
//! Server::bind("127.0.0.1:9001", ServerOptions::default())?
//!     .threads(2)
//!     .run(|| Echo)?;
//! # Ok::<(), sockwright_mio::Error>(())
//! ```
//!
//! # Backpressure
//!
//! A connection's outbound queue is bounded (`max_outbound_bytes` in the connection
//! config). A send that does not fit fails with [`Error::Send`]`(`[`SendError::OutboundFull`]`)`
//! and queues nothing; [`Handler::on_writable`] follows once the queue has been written to
//! the socket. [`Context::pause_reading`] stops reading from a peer meanwhile.
//!
//! # TLS
//!
//! With the `tls` feature, `ServerOptions::tls` serves `wss` and `wss://` URLs connect
//! over TLS; the session does the TLS, the loop only moves its bytes. The `tls` module
//! builds the configurations.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod client;
mod conn;
mod context;
mod event_loop;
mod handle;
mod handler;
mod reactor;
mod server;
mod timers;

pub use client::{connect, Client};
pub use context::Context;
pub use event_loop::EventLoop;
pub use handle::LoopHandle;
pub use handler::{ConnId, Handler};
pub use server::{Server, ServerHandle};

pub use sockwright_driver::sockwright;
pub use sockwright_driver::sockwright::conn::{Closed, Config, Initiator, SendError};
pub use sockwright_driver::sockwright::frame::{CloseCode, CloseFrame};
pub use sockwright_driver::sockwright::handshake::{Rejection, Request, Response, WsUrl};
#[cfg(feature = "tls")]
pub use sockwright_driver::tls;
pub use sockwright_driver::{
    ClientOptions, Error, Handshake, Message, RequestHook, Route, ServerOptions,
};
