//! The connection state machine: one WebSocket connection after the handshake, either role.
//!
//! Inputs are [`Connection::handle_read`] (bytes from the transport),
//! [`Connection::handle_timeout`] (the timer fired), [`Connection::handle_eof`] (the transport
//! ended) and the commands [`send_text`](Connection::send_text),
//! [`send_binary`](Connection::send_binary), [`send_shared`](Connection::send_shared),
//! [`send_ping`](Connection::send_ping),
//! [`send_pong`](Connection::send_pong) and [`close`](Connection::close). Outputs are
//! [`poll_transmit`](Connection::poll_transmit) (bytes for the transport),
//! [`poll_event`](Connection::poll_event) and [`poll_timeout`](Connection::poll_timeout).
//!
//! # The drain invariant
//!
//! After every input or command: take all bytes with `poll_transmit` and write them, take
//! every event with `poll_event`, then re-arm the timer from `poll_timeout` (it may have moved
//! or gone). A driver that keeps this invariant never misses a pong, a close reply or a timer.
//!
//! Time is a [`Duration`] since an origin the caller picks (its connection start, its process
//! start…), from a monotonic clock. Time that goes backwards is treated as standing still.
//!
//! # Example
//!
//! ```
//! use core::time::Duration;
//! use sockwright::conn::{Config, Connection, Event, Message};
//!
//! let mut server = Connection::server(Config::default(), Duration::ZERO);
//! // A masked text frame "Hello" from a client (RFC 6455 §5.7).
//! server.handle_read(Duration::ZERO, &[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]).unwrap();
//! assert_eq!(server.poll_event(), Some(Event::Message(Message::Text("Hello".into()))));
//! server.send_text("Hello").unwrap();
//! let mut out = Vec::new();
//! server.poll_transmit(&mut out);
//! assert_eq!(out, [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
//! ```

mod config;
mod error;
mod event;
mod outbound;
mod reader;

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

pub use config::{Config, Role};
pub use error::{Error, SendError};
pub use event::{Closed, Event, Initiator, Message};

use crate::frame::{CloseCode, CloseFrame, OpCode, SharedFrame, MAX_CONTROL_PAYLOAD};
use outbound::Outbound;
use reader::{Reader, Received};

/// A source of masking keys for a client connection (RFC 6455 §5.3 asks for strong entropy;
/// the core has none of its own). Any `FnMut() -> [u8; 4]` is one.
pub trait MaskKeys {
    /// The key for the next frame.
    fn next_mask_key(&mut self) -> [u8; 4];
}

impl<F: FnMut() -> [u8; 4]> MaskKeys for F {
    fn next_mask_key(&mut self) -> [u8; 4] {
        self()
    }
}

/// Where the connection is in its life.
#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    Open,
    /// We sent a close frame and wait for the peer's, until the deadline.
    CloseSent {
        deadline: Duration,
    },
    /// The close handshake is over (or abandoned); nothing more is read or sent.
    Closed,
    /// A fatal error; returned again by every `handle_*`.
    Failed(Error),
}

/// The reaction to a close frame or a violation that arrived after messages in the same read.
/// It waits until those messages are taken with `poll_event`, so the caller can still answer
/// them (RFC 6455 §5.5.1 lets an endpoint finish its current message before it replies to a
/// close); the reader stops at once.
#[derive(Clone, Debug)]
enum Deferred {
    /// The peer's close frame, to be answered.
    Close(Option<CloseFrame>),
    /// A protocol violation: the close frame to send, then failure.
    Fail(Error, CloseCode, String),
}

/// Keepalive bookkeeping: when we last heard from the peer and whether a ping is out.
#[derive(Clone, Copy, Debug)]
struct Keepalive {
    last_heard: Duration,
    ping_sent_at: Option<Duration>,
}

/// One WebSocket connection, after the handshake. See the [module docs](self).
pub struct Connection {
    role: Role,
    config: Config,
    state: State,
    /// Boxed: rare, and 56 bytes inline in every connection.
    deferred: Option<Box<Deferred>>,
    reader: Reader,
    events: VecDeque<Event>,
    outbound: Outbound,
    keepalive: Keepalive,
    now: Duration,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("role", &self.role)
            .field("state", &self.state)
            .field("queued_bytes", &self.queued_bytes())
            .field("pending_events", &self.events.len())
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// The server end of a connection whose handshake finished at `now`.
    pub fn server(config: Config, now: Duration) -> Self {
        Self::new(Role::Server, config, now, None)
    }

    /// The client end of a connection whose handshake finished at `now`; `mask_keys` supplies
    /// a fresh masking key for every frame it sends.
    pub fn client(
        config: Config,
        now: Duration,
        mask_keys: impl MaskKeys + Send + 'static,
    ) -> Self {
        Self::new(Role::Client, config, now, Some(Box::new(mask_keys)))
    }

    fn new(
        role: Role,
        config: Config,
        now: Duration,
        mask_keys: Option<Box<dyn MaskKeys + Send>>,
    ) -> Self {
        let outbound = Outbound::new(config.max_outbound_bytes, mask_keys);
        Self {
            role,
            config,
            state: State::Open,
            deferred: None,
            reader: Reader::default(),
            events: VecDeque::new(),
            outbound,
            keepalive: Keepalive {
                last_heard: now,
                ping_sent_at: None,
            },
            now,
        }
    }

    /// Which end this is.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The limits and timers in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    // ----- inputs -----

    /// Feeds bytes read from the transport. Complete messages and control frames become
    /// events; pongs and close replies are queued for `poll_transmit`.
    ///
    /// Bytes that arrive after the close handshake are ignored. On a protocol violation the
    /// error is returned, now and on every later call, and a close frame with the matching
    /// code is queued. Keep draining as usual after an error: messages that arrived before the
    /// violation are still delivered, and may still be answered, before that close frame is
    /// queued (when `poll_event` returns `None`).
    pub fn handle_read(&mut self, now: Duration, mut bytes: &[u8]) -> Result<(), Error> {
        self.advance_clock(now);
        if let Some(e) = self.error() {
            return Err(e.clone());
        }
        if !bytes.is_empty() {
            self.keepalive = Keepalive {
                last_heard: self.now,
                ping_sent_at: None,
            };
        }
        while self.is_reading() {
            match self.reader.read(&mut bytes, self.role, &self.config) {
                Ok(Some(received)) => self.handle_received(received)?,
                Ok(None) => break,
                Err(violation) => return Err(self.violation(violation)),
            }
        }
        Ok(())
    }

    /// Tells the connection its timer (from `poll_timeout`) fired. Sends a keepalive ping,
    /// fails a silent peer, or gives up on a close reply.
    pub fn handle_timeout(&mut self, now: Duration) -> Result<(), Error> {
        self.advance_clock(now);
        if let Some(e) = self.error() {
            return Err(e.clone());
        }
        if self.deferred.is_some() {
            return Ok(());
        }
        match &self.state {
            State::Failed(e) => return Err(e.clone()),
            State::CloseSent { deadline } if self.now >= *deadline => {
                self.finish(Initiator::Local, CloseCode::ABNORMAL, String::new());
                return Ok(());
            }
            State::Open => {}
            _ => return Ok(()),
        }
        let Some(interval) = self.config.ping_interval else {
            return Ok(());
        };
        match self.keepalive.ping_sent_at {
            Some(sent) if self.now >= sent + self.config.pong_timeout => {
                let reason = "keepalive timeout";
                return Err(self.fail(Error::KeepaliveTimeout, CloseCode::INTERNAL_ERROR, reason));
            }
            None if self.now >= self.keepalive.last_heard + interval => {
                // Only with room: a peer that lets the queue fill is not reading it, and a ping
                // queued past the limit every interval (the peer answering each, unread) would
                // grow the queue without bound. The pong timeout runs either way.
                self.outbound.push_keepalive_ping();
                self.keepalive.ping_sent_at = Some(self.now);
            }
            _ => {}
        }
        Ok(())
    }

    /// Tells the connection the transport ended (EOF or reset). Unless the close handshake was
    /// already over, this reports a [`Closed`] event with code 1006.
    pub fn handle_eof(&mut self, now: Duration) {
        self.advance_clock(now);
        if self.deferred.is_some() {
            return; // the peer's close or violation is already known and will be reported
        }
        match self.state {
            State::Open => self.finish(Initiator::Remote, CloseCode::ABNORMAL, String::new()),
            State::CloseSent { .. } => {
                self.finish(Initiator::Local, CloseCode::ABNORMAL, String::new())
            }
            State::Closed | State::Failed(_) => {}
        }
    }

    // ----- commands -----

    /// Queues a text message as one frame.
    pub fn send_text(&mut self, text: &str) -> Result<(), SendError> {
        self.send_data(OpCode::Text, text.as_bytes())
    }

    /// Queues a binary message as one frame.
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), SendError> {
        self.send_data(OpCode::Binary, data)
    }

    /// Queues a message encoded once for many connections, a broadcast, without encoding it
    /// again. A frame of 1 KiB or more is queued by reference, so every connection it is sent
    /// on shares the same bytes; a shorter one is copied into this connection's buffer (cheaper
    /// than keeping track of a reference). It counts against
    /// [`Config::max_outbound_bytes`] like any message.
    ///
    /// Servers only: a client masks every frame with a key of its own, so it returns
    /// [`SendError::SharedFrameFromClient`].
    pub fn send_shared(&mut self, frame: &SharedFrame) -> Result<(), SendError> {
        if self.role != Role::Server {
            return Err(SendError::SharedFrameFromClient);
        }
        if self.state != State::Open {
            return Err(SendError::Closed);
        }
        self.outbound.push_shared(frame)
    }

    /// Queues a ping (payload at most 125 bytes). It counts against the outbound limit.
    pub fn send_ping(&mut self, payload: &[u8]) -> Result<(), SendError> {
        self.check_control_payload(payload)?;
        self.send_data(OpCode::Ping, payload)
    }

    /// Queues an unsolicited pong, a one-way heartbeat (payload at most 125 bytes). Pongs that
    /// answer pings are sent automatically.
    pub fn send_pong(&mut self, payload: &[u8]) -> Result<(), SendError> {
        self.check_control_payload(payload)?;
        self.send_data(OpCode::Pong, payload)
    }

    /// Starts the close handshake: queues a close frame with `code` and `reason` (cut to 123
    /// bytes at a character boundary) and waits up to the close timeout for the peer's reply.
    ///
    /// Idempotent: once the handshake has started, or the connection has ended, this does
    /// nothing and returns `Ok`.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), SendError> {
        if !code.is_sendable() {
            return Err(SendError::InvalidCloseCode(code.0));
        }
        if self.state != State::Open {
            return Ok(());
        }
        let payload = CloseFrame {
            code,
            reason: reason.into(),
        }
        .payload();
        self.outbound.push_control(OpCode::Close, &payload);
        self.state = State::CloseSent {
            deadline: self.now + self.config.close_timeout,
        };
        Ok(())
    }

    // ----- outputs -----

    /// Appends every queued byte to `buf` and returns how many. Write them all to the
    /// transport, in order.
    pub fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> usize {
        self.outbound.take_into(buf)
    }

    /// The next queued bytes, for a driver that writes straight from the connection's buffer;
    /// tell it how many were written with [`advance_transmit`](Self::advance_transmit), and
    /// call again until it is empty. It is every queued byte unless shared frames
    /// ([`send_shared`](Self::send_shared)) are queued: those are handed out in place, one
    /// contiguous piece at a time, instead of copied together.
    pub fn pending_transmit(&mut self) -> &[u8] {
        self.outbound.pending()
    }

    /// Drops the first `written` queued bytes (as returned by
    /// [`pending_transmit`](Self::pending_transmit)).
    pub fn advance_transmit(&mut self, written: usize) {
        self.outbound.advance(written);
    }

    /// The next event, if any. Once the events are all taken, a close reply or failure that
    /// was waiting behind them takes effect (see [`handle_read`](Self::handle_read)).
    pub fn poll_event(&mut self) -> Option<Event> {
        if let Some(event) = self.events.pop_front() {
            return Some(event);
        }
        match *self.deferred.take()? {
            Deferred::Close(frame) => self.handle_close(frame),
            Deferred::Fail(error, code, reason) => {
                self.fail(error, code, &reason);
            }
        }
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called, on the caller's
    /// clock, or `None` when no timer is needed.
    pub fn poll_timeout(&self) -> Option<Duration> {
        if self.deferred.is_some() {
            return None;
        }
        match &self.state {
            State::CloseSent { deadline } => Some(*deadline),
            State::Open => {
                let interval = self.config.ping_interval?;
                Some(match self.keepalive.ping_sent_at {
                    Some(sent) => sent + self.config.pong_timeout,
                    None => self.keepalive.last_heard + interval,
                })
            }
            State::Closed | State::Failed(_) => None,
        }
    }

    // ----- observers -----

    /// Bytes queued for the transport; compare with [`Config::max_outbound_bytes`] to see
    /// backpressure coming.
    pub fn queued_bytes(&self) -> usize {
        self.outbound.queued()
    }

    /// Whether messages may still be sent (no close frame has been queued, no failure).
    pub fn is_open(&self) -> bool {
        self.state == State::Open
    }

    /// Whether the connection has ended, cleanly or not. Once this is true and the queued
    /// bytes are written, the transport can be closed.
    pub fn is_finished(&self) -> bool {
        matches!(self.state, State::Closed | State::Failed(_))
    }

    /// The fatal error, if the connection failed.
    pub fn error(&self) -> Option<&Error> {
        match (&self.state, self.deferred.as_deref()) {
            (State::Failed(e), _) | (_, Some(Deferred::Fail(e, ..))) => Some(e),
            _ => None,
        }
    }

    // ----- internals -----

    fn advance_clock(&mut self, now: Duration) {
        self.now = self.now.max(now);
    }

    fn is_reading(&self) -> bool {
        self.deferred.is_none() && matches!(self.state, State::Open | State::CloseSent { .. })
    }

    /// The peer broke the protocol: fail now, or once the events before the violation are
    /// taken.
    fn violation(&mut self, violation: crate::frame::ProtocolError) -> Error {
        let code = violation.close_code();
        let reason = violation.to_string();
        let error = Error::Protocol(violation);
        if self.state == State::Open && !self.events.is_empty() {
            self.deferred = Some(Box::new(Deferred::Fail(error.clone(), code, reason)));
            error
        } else {
            self.fail(error, code, &reason)
        }
    }

    fn handle_received(&mut self, received: Received) -> Result<(), Error> {
        match received {
            Received::Message(message) => self.push_event(Event::Message(message)),
            Received::Ping(payload) => {
                if self.state == State::Open {
                    self.outbound.push_pong(&payload);
                }
                self.push_event(Event::Ping(payload));
            }
            Received::Pong(payload) => self.push_event(Event::Pong(payload)),
            Received::Close(payload) => match CloseFrame::parse(&payload) {
                Ok(frame) if self.state == State::Open && !self.events.is_empty() => {
                    self.deferred = Some(Box::new(Deferred::Close(frame)));
                }
                Ok(frame) => self.handle_close(frame),
                Err(violation) => return Err(self.violation(violation)),
            },
        }
        Ok(())
    }

    /// Queues `event` for `poll_event`. The queue's first allocation holds one event, not
    /// the four a `VecDeque` starts with: a driver takes events after each read, so most
    /// connections never hold more than one, and an idle connection keeps that allocation.
    /// With more waiting it grows as usual.
    fn push_event(&mut self, event: Event) {
        if self.events.capacity() == 0 {
            self.events.reserve_exact(1);
        }
        self.events.push_back(event);
    }

    /// The peer's close frame: answer it (echoing its code) unless it answers ours.
    fn handle_close(&mut self, frame: Option<CloseFrame>) {
        let initiator = match self.state {
            State::Open => {
                let reply = frame.as_ref().map(|f| {
                    CloseFrame {
                        code: f.code,
                        reason: String::new(),
                    }
                    .payload()
                });
                self.outbound
                    .push_control(OpCode::Close, reply.as_deref().unwrap_or_default());
                Initiator::Remote
            }
            _ => Initiator::Local,
        };
        let (code, reason) = match frame {
            Some(frame) => (frame.code, frame.reason),
            None => (CloseCode::NO_STATUS, String::new()),
        };
        self.finish(initiator, code, reason);
    }

    fn finish(&mut self, initiator: Initiator, code: CloseCode, reason: String) {
        self.state = State::Closed;
        self.outbound.forget_owed_pong();
        self.push_event(Event::Closed(Closed {
            initiator,
            code,
            reason,
        }));
    }

    /// Fails the connection: a close frame for the peer, and the error, sticky.
    fn fail(&mut self, error: Error, code: CloseCode, reason: &str) -> Error {
        if self.state == State::Open {
            let payload = CloseFrame {
                code,
                reason: reason.into(),
            }
            .payload();
            self.outbound.push_control(OpCode::Close, &payload);
        }
        self.outbound.forget_owed_pong();
        self.state = State::Failed(error.clone());
        error
    }

    fn send_data(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), SendError> {
        if self.state != State::Open {
            return Err(SendError::Closed);
        }
        self.outbound.push_data(opcode, payload)
    }

    fn check_control_payload(&self, payload: &[u8]) -> Result<(), SendError> {
        if payload.len() > MAX_CONTROL_PAYLOAD {
            return Err(SendError::ControlPayloadTooLong(payload.len()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every open connection holds one of these on the heap, so rare state (a deferred close
    /// or failure, an owed pong, a control frame in progress) sits behind a box or in an
    /// empty `Vec`, and an idle connection pays only for what every connection needs.
    #[cfg(target_pointer_width = "64")]
    #[test]
    fn a_connection_stays_small() {
        use core::mem::size_of;
        assert!(
            size_of::<Connection>() <= 416,
            "{} bytes",
            size_of::<Connection>()
        );
    }
}
