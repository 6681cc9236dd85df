//! # sockwright
//!
//! A sans-IO WebSocket ([RFC 6455]) state machine. This crate does no I/O: bytes go in, events
//! and bytes come out, and time is an input. Adapters (`sockwright-std`, `-mio`, `-smol`,
//! `-tokio`) drive it over a runtime; fuzzers and tests drive it directly.
//!
//! - [`handshake`]: the HTTP/1.1 upgrade, server side (parse and validate a request, answer it
//!   or reject it with an HTTP status and a reason) and client side (build a request, validate
//!   the `101` response).
//! - [`frame`]: the frame header codec, masking, close payloads and incremental UTF-8
//!   validation.
//! - [`conn`]: the connection state machine: messages, fragmentation, control frames, the close
//!   handshake, keepalive and close timers.
//! - [`hub`]: broadcast routing: sessions by user and topic, publish to a topic, a user or
//!   everyone with the frame encoded once, bounded per-connection queues and an explicit
//!   slow-consumer policy.
//! - [`relay`]: a WebSocket proxy as a pure machine: the upstream request built from the
//!   client's, the upstream's answer mapped back (or a `502`), then messages and closes
//!   forwarded between a front (server role) and a back (client role) connection.
//!
//! The crate is `no_std` + `alloc`; the default `std` feature only adds `std::error::Error`
//! implementations.
//!
//! [RFC 6455]: https://www.rfc-editor.org/rfc/rfc6455
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod conn;
pub mod frame;
pub mod handshake;
pub mod hub;
pub mod relay;
