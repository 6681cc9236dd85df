//! `sockwright-driver`: the part of every sockwright adapter that does not depend on the
//! runtime.
//!
//! A [`Session`] is one WebSocket connection as a byte pipe with no I/O of its own: socket
//! bytes in ([`Session::handle_input`]), socket bytes out ([`Session::pending_output`]),
//! events out ([`Session::poll_event`]), one timer ([`Session::poll_timeout`]). Inside it
//! are, in order, an optional rustls layer (feature `tls`), the HTTP/1.1 upgrade handshake
//! and the [`sockwright::conn::Connection`]. Every protocol decision is the core's; the
//! session only joins the stages, so each adapter (std, mio, smol, tokio) is left with moving
//! bytes between a socket and a session and arming one timer.
//!
//! [`Pipe`] is the transport layer alone (plain, or TLS with the feature `tls`), for code that
//! owns the bytes above it itself, such as a relay joining two connections.
//!
//! With the feature `async`, `asynch` holds the async driving loop for every runtime
//! (`Stream`/`Sink` connection, handshakes, split halves), written once over a small runtime
//! trait that each async adapter implements.
//!
//! Application code normally uses an adapter crate, which re-exports what it needs from here.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "async")]
pub mod asynch;
mod body;
pub mod clock;
mod error;
mod message;
mod options;
pub mod pipe;
mod random;
mod session;
#[cfg(feature = "tls")]
pub mod tls;

pub use body::BodyHandler;
pub use error::Error;
pub use message::Message;
pub use options::{ClientOptions, RequestHook, Route, ServerOptions, DEFAULT_HANDSHAKE_TIMEOUT};
pub use pipe::Pipe;
pub use random::{random_key, MaskSource};
pub use session::{Handshake, Session, SessionEvent};

/// The core crate, re-exported so that adapters and their users name one version of it.
pub use sockwright;
