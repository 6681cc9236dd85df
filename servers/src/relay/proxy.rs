//! One relayed connection with no I/O of its own: the client's socket (the *front*), the
//! upstream's socket (the *back*), and between them a [`Pipe`] each (plain or TLS), the
//! request head parser and router, and the core's [`Relay`] machine.
//!
//! A runner moves bytes between two sockets and a [`Proxy`], and opens the upstream's TCP
//! connection when [`Proxy::poll_connect`] asks. The drain invariant, after every input
//! (`handle_*`): write each side's output ([`Proxy::write_output`]), take
//! [`Proxy::poll_connect`], close the socket of a side that [`Proxy::is_done`] (and drop
//! both once [`Proxy::is_finished`]), read a side only while [`Proxy::wants_read`] holds
//! (that is the backpressure: a side whose peer is not draining the other is not read), and
//! re-arm the one timer from [`Proxy::poll_timeout`]. Writing is an input too: room in a
//! queue lets a held message move, and may make a side readable again.
//!
//! Logging is done here (lines in `log.rs`), so that every runtime writes the same lines:
//! one when a relay opens (or is refused, with the status and reason), one when it ends,
//! with how each side ended.

use std::io;
use std::mem;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sockwright::frame::{CloseCode, CloseFrame, SharedFrame};
use sockwright::handshake::{Parsed, Rejection, Request, RequestParser};
use sockwright::hub::{Delivery, HubConfig};
use sockwright::relay::{Relay, Side};
use sockwright_driver::pipe::{Pipe, Plaintext};
use sockwright_driver::{random_key, Error, MaskSource, Message, Route};
use tracing::{debug, info};

use super::log::Log;
use super::Service;
use crate::outbox::{Peer, Refusal, Undelivered};

/// How long the last bytes of a finished relay (close frames) may take to be written before
/// the sockets are dropped anyway: a peer that stopped reading gets no longer.
pub(crate) const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the runner should open the upstream TCP connection (TLS, if any, is the proxy's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Upstream {
    /// A DNS name or an IP address (IPv6 without brackets).
    pub(crate) host: String,
    /// The TCP port.
    pub(crate) port: u16,
    /// How long the relay waits for the upstream (its `upstream_timeout`): a runner whose
    /// connect blocks a thread bounds it by this; the others drop the connect when the
    /// back is done.
    pub(crate) timeout: Duration,
}

/// A relayed connection's way to hear about a shutdown from another thread: the outbox
/// delivers the close to it, and `wake` makes the runner call [`Proxy::handle_wake`].
///
/// `wake` is never called from inside a [`Proxy`] call (a close delivered while the proxy
/// registers itself is seen by the proxy right after), so a runner's `wake` may take the
/// lock its proxy lives under.
pub(crate) struct Signal {
    close: Mutex<Option<CloseFrame>>,
    /// Set while the proxy registers itself in the outbox.
    registering: AtomicBool,
    wake: Box<dyn Fn() + Send + Sync>,
}

impl Signal {
    fn take(&self) -> Option<CloseFrame> {
        self.close
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

impl Peer for Signal {
    /// Takes close frames (a shutdown); a relayed connection takes no messages from the
    /// outbox: they are refused as if it were gone.
    fn deliver(&self, message: Message) -> Result<(), Undelivered> {
        let Message::Close(frame) = message else {
            return Err(Undelivered {
                message,
                reason: Refusal::Gone,
            });
        };
        let frame = frame.unwrap_or(CloseFrame {
            code: CloseCode::NORMAL,
            reason: String::new(),
        });
        *self.close.lock().unwrap_or_else(PoisonError::into_inner) = Some(frame);
        if !self.registering.load(Ordering::SeqCst) {
            (self.wake)();
        }
        Ok(())
    }

    /// A relayed connection is not a hub session: hub frames are refused as if it were gone.
    fn deliver_shared(&self, _frame: &SharedFrame, _config: &Arc<HubConfig>) -> Delivery {
        Delivery::Gone
    }
}

enum Phase {
    /// Reading the request head (after the TLS handshake, when serving wss).
    Head {
        parser: RequestParser,
        deadline: Duration,
    },
    /// Writing a plain HTTP answer (a page, `pong`, a refusal); then the connection closes.
    Answer {
        response: Vec<u8>,
        pos: usize,
        deadline: Duration,
    },
    /// The relay machine, from the upstream handshake to the end.
    Relay(Box<Relay>),
    /// Nothing left to do: a deadline passed or the handshake failed.
    Over,
}

/// One relayed connection; see the [module docs](self).
pub(crate) struct Proxy {
    service: Arc<Service>,
    peer: SocketAddr,
    signal: Arc<Signal>,
    phase: Phase,
    front: Pipe,
    back: Pipe,
    /// Asked for by the relay, not yet taken by the runner.
    connect: Option<Upstream>,
    back_connected: bool,
    /// The side's transport ended (EOF, close_notify, a failed read or TLS).
    eof: [bool; 2],
    /// The side's transport failed to take a write: its output is dropped.
    lost: [bool; 2],
    /// Once the relay finished: when its last bytes must have been written.
    flush_deadline: Option<Duration>,
    log: Log,
}

impl Proxy {
    /// A connection just accepted from `peer`, at `now`; `wake` is called from any thread
    /// when [`Proxy::handle_wake`] has work (a shutdown).
    pub(crate) fn new(
        service: Arc<Service>,
        peer: SocketAddr,
        now: Duration,
        wake: Box<dyn Fn() + Send + Sync>,
    ) -> Proxy {
        let deadline = now + service.handshake_timeout;
        let mut phase = Phase::Head {
            parser: RequestParser::new(service.config.front.limits),
            deadline,
        };
        let front = match &service.front_tls {
            Some(config) => Pipe::tls_server(config.clone()).unwrap_or_else(|e| {
                debug!(peer = %peer, "TLS setup failed: {e}");
                phase = Phase::Over;
                Pipe::plain()
            }),
            None => Pipe::plain(),
        };
        Proxy {
            service,
            peer,
            signal: Arc::new(Signal {
                close: Mutex::new(None),
                registering: AtomicBool::new(false),
                wake,
            }),
            phase,
            front,
            back: Pipe::plain(),
            connect: None,
            back_connected: false,
            eof: [false; 2],
            lost: [false; 2],
            flush_deadline: None,
            log: Log {
                id: None,
                route: String::new(),
                front: None,
                back: None,
                ended: true,
            },
        }
    }

    // ----- inputs -----

    /// Bytes read from `side`'s socket.
    pub(crate) fn handle_input(&mut self, side: Side, now: Duration, bytes: &[u8]) {
        let mut pipe = mem::replace(self.pipe(side), Pipe::plain());
        let result = pipe.handle_input(bytes, |plain| self.handle_plaintext(side, now, plain));
        *self.pipe(side) = pipe;
        match result {
            Ok(false) => {}
            Ok(true) => self.handle_eof(side, now),
            Err(e) => {
                debug!(peer = %self.peer, "{} TLS failed: {e}", name(side));
                self.handle_eof(side, now);
            }
        }
        self.settle(now);
    }

    /// `side`'s socket ended its read side (EOF), or reading it failed.
    pub(crate) fn handle_eof(&mut self, side: Side, now: Duration) {
        if mem::replace(&mut self.eof[side as usize], true) {
            return;
        }
        match (&mut self.phase, side) {
            (Phase::Head { .. }, Side::Front) => {
                debug!(peer = %self.peer, "the client left before its request was complete");
                self.phase = Phase::Over;
            }
            (Phase::Relay(relay), Side::Front) => relay.handle_front_eof(now),
            (Phase::Relay(relay), Side::Back) => relay.handle_back_eof(now),
            _ => {}
        }
        self.settle(now);
    }

    /// Writing to `side`'s socket failed: its peer is gone and its output is dropped.
    pub(crate) fn handle_write_error(&mut self, side: Side, now: Duration, error: &io::Error) {
        debug!(peer = %self.peer, "writing to the {} failed: {error}", name(side));
        self.lost[side as usize] = true;
        self.handle_eof(side, now);
    }

    /// The TCP connection [`Proxy::poll_connect`] asked for is open.
    pub(crate) fn handle_back_connected(&mut self, now: Duration) {
        self.back_connected = true;
        self.settle(now);
    }

    /// The TCP connection [`Proxy::poll_connect`] asked for could not be opened; `detail`
    /// (e.g. the I/O error) goes into the client's `502`.
    pub(crate) fn handle_back_connect_failed(&mut self, now: Duration, detail: &str) {
        if let Phase::Relay(relay) = &mut self.phase {
            relay.handle_back_unreachable(now, detail);
        }
        self.settle(now);
    }

    /// The time from [`Proxy::poll_timeout`] has come (early calls do nothing).
    pub(crate) fn handle_timeout(&mut self, now: Duration) {
        match &mut self.phase {
            Phase::Head { deadline, .. } if now >= *deadline => {
                debug!(peer = %self.peer, "no complete request within the handshake timeout");
                self.phase = Phase::Over;
            }
            Phase::Answer { deadline, .. } if now >= *deadline => {
                debug!(peer = %self.peer, "the answer was not taken within the handshake timeout");
                self.phase = Phase::Over;
            }
            Phase::Relay(_) if self.flush_deadline.is_some_and(|at| now >= at) => {
                debug!(peer = %self.peer, "the relay's last bytes were not taken in time");
                self.phase = Phase::Over;
            }
            Phase::Relay(relay) => relay.handle_timeout(now),
            _ => {}
        }
        self.settle(now);
    }

    /// The `wake` given to [`Proxy::new`] was called: look at what another thread asked.
    pub(crate) fn handle_wake(&mut self, now: Duration) {
        self.settle(now);
    }

    // ----- outputs -----

    /// Writes what `side` has to send with `write` (a socket write) until nothing is left
    /// (`Ok(true)`), `write` would block (`Ok(false)`), or fails (the side is then lost, as
    /// [`Proxy::handle_write_error`]).
    pub(crate) fn write_output(
        &mut self,
        side: Side,
        now: Duration,
        mut write: impl FnMut(&[u8]) -> io::Result<usize>,
    ) -> io::Result<bool> {
        let result = loop {
            if self.lost[side as usize] || (side == Side::Back && !self.back_connected) {
                break Ok(true);
            }
            let close = self.closing(side);
            let (pipe, phase) = match side {
                Side::Front => (&mut self.front, &mut self.phase),
                Side::Back => (&mut self.back, &mut self.phase),
            };
            let mut source = Outgoing { phase, side };
            let out = pipe.pending_output(&mut source, close);
            if out.is_empty() {
                break Ok(true);
            }
            match write(out) {
                Ok(0) => break Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => pipe.advance_output(&mut source, n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(false),
                Err(e) => break Err(e),
            }
        };
        if let Err(e) = &result {
            self.handle_write_error(side, now, e);
        } else {
            self.settle(now);
        }
        result
    }

    /// The upstream TCP connection to open, once (then [`Proxy::handle_back_connected`] or
    /// [`Proxy::handle_back_connect_failed`]). Drop it unopened if the back is done first.
    pub(crate) fn poll_connect(&mut self) -> Option<Upstream> {
        self.connect.take()
    }

    /// When [`Proxy::handle_timeout`] should be called next, on the driver's clock.
    pub(crate) fn poll_timeout(&self) -> Option<Duration> {
        match &self.phase {
            Phase::Head { deadline, .. } | Phase::Answer { deadline, .. } => Some(*deadline),
            Phase::Relay(relay) => match (relay.poll_timeout(), self.flush_deadline) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            Phase::Over => None,
        }
    }

    // ----- observers -----

    /// Whether to read `side`'s socket now.
    pub(crate) fn wants_read(&self, side: Side) -> bool {
        if self.eof[side as usize] || self.lost[side as usize] {
            return false;
        }
        match (&self.phase, side) {
            (Phase::Head { .. }, Side::Front) => true,
            (Phase::Relay(relay), Side::Front) => relay.wants_front_read(),
            (Phase::Relay(relay), Side::Back) => self.back_connected && relay.wants_back_read(),
            _ => false,
        }
    }

    /// Whether `side` is over and everything for it written: end its socket (FIN) and stop
    /// using it. A back that was never connected is done once the relay no longer needs it.
    pub(crate) fn is_done(&mut self, side: Side) -> bool {
        if self.lost[side as usize] {
            return true;
        }
        let over = match (&self.phase, side) {
            (Phase::Head { .. }, Side::Front) => false,
            (Phase::Answer { response, pos, .. }, Side::Front) => *pos >= response.len(),
            (Phase::Relay(relay), Side::Front) => relay.is_front_finished(),
            (Phase::Relay(relay), Side::Back) => relay.is_back_finished(),
            (Phase::Over, _) | (_, Side::Back) => return true,
        };
        if !over {
            return false;
        }
        if side == Side::Back && !self.back_connected {
            return true;
        }
        // A TLS side is done once its close_notify is written too.
        let (pipe, phase) = match side {
            Side::Front => (&mut self.front, &mut self.phase),
            Side::Back => (&mut self.back, &mut self.phase),
        };
        pipe.pending_output(&mut Outgoing { phase, side }, true)
            .is_empty()
    }

    /// Whether both sides are done: close both sockets and drop the proxy.
    pub(crate) fn is_finished(&mut self) -> bool {
        self.is_done(Side::Front) && self.is_done(Side::Back)
    }

    /// The client's address.
    pub(crate) fn peer(&self) -> SocketAddr {
        self.peer
    }

    // ----- internals -----

    fn pipe(&mut self, side: Side) -> &mut Pipe {
        match side {
            Side::Front => &mut self.front,
            Side::Back => &mut self.back,
        }
    }

    /// Whether `side` will have nothing more to send once its queue is drained.
    fn closing(&self, side: Side) -> bool {
        match (&self.phase, side) {
            (Phase::Head { .. }, _) => false,
            (Phase::Answer { .. } | Phase::Over, _) => true,
            (Phase::Relay(relay), Side::Front) => relay.is_front_finished(),
            (Phase::Relay(relay), Side::Back) => relay.is_back_finished(),
        }
    }

    fn handle_plaintext(&mut self, side: Side, now: Duration, plain: &[u8]) {
        match (&mut self.phase, side) {
            (Phase::Head { parser, .. }, Side::Front) => match parser.feed(plain) {
                Ok(Parsed::Partial) => {}
                Ok(Parsed::Complete { head, trailing }) => self.route(now, head, &trailing),
                Err(rejection) => {
                    self.service
                        .shared
                        .not_upgraded(self.peer, &Error::Rejected(rejection.clone()));
                    self.answer(now, rejection.response());
                }
            },
            (Phase::Relay(relay), Side::Front) => relay.handle_front_read(now, plain),
            (Phase::Relay(relay), Side::Back) => relay.handle_back_read(now, plain),
            _ => {}
        }
    }

    /// A complete request head: a page, a refusal, or a relay.
    fn route(&mut self, now: Duration, request: Request, trailing: &[u8]) {
        match self.service.shared.route(&request) {
            Route::Respond(response) => self.answer(now, response),
            Route::Reject(rejection) => {
                let response = rejection.response();
                self.service
                    .shared
                    .not_upgraded(self.peer, &Error::Rejected(rejection));
                self.answer(now, response);
            }
            Route::Upgrade(_) => self.start(now, &request, trailing),
            // The relay's router never reads bodies; a router that asks is answered plainly.
            Route::Body { .. } => {
                let rejection = Rejection::new(501, "the relay does not read request bodies");
                self.answer(now, rejection.response());
            }
        }
    }

    fn answer(&mut self, now: Duration, response: Vec<u8>) {
        self.phase = Phase::Answer {
            response,
            pos: 0,
            deadline: now + self.service.handshake_timeout,
        };
    }

    /// Starts relaying `request`, whose path the router matched.
    fn start(&mut self, now: Duration, request: &Request, trailing: &[u8]) {
        let Some(upstream) = self.service.routes.upstream(request.path()) else {
            return self.answer(
                now,
                sockwright::handshake::Rejection::not_found(request.path()).response(),
            );
        };
        let client = self.peer.ip().to_string();
        let started = Relay::start(
            request,
            upstream,
            Some(&client),
            random_key(),
            MaskSource::new(),
            &self.service.config,
            now,
        );
        let mut relay = match started {
            Ok(relay) => relay,
            Err(rejection) => {
                let response = rejection.response();
                self.service
                    .shared
                    .not_upgraded(self.peer, &Error::Rejected(rejection));
                return self.answer(now, response);
            }
        };
        let outbox = &self.service.shared.outbox;
        let id = outbox.next_id();
        self.log = Log {
            id: Some(id),
            route: format!("{} -> {upstream}", request.path()),
            front: None,
            back: None,
            ended: false,
        };
        if upstream.is_secure() {
            match Pipe::tls_client(upstream.host(), self.service.upstream_tls.clone()) {
                Ok(pipe) => self.back = pipe,
                Err(e) => relay.handle_back_unreachable(now, &format!("TLS setup failed: {e}")),
            }
        }
        if !relay.is_back_finished() {
            self.connect = Some(Upstream {
                host: upstream.host().to_owned(),
                port: upstream.port(),
                timeout: self.service.config.upstream_timeout,
            });
        }
        if !trailing.is_empty() {
            relay.handle_front_read(now, trailing);
        }
        self.phase = Phase::Relay(Box::new(relay));
        // From here on a shutdown reaches it (at once, if one has begun: `settle` sees it).
        self.signal.registering.store(true, Ordering::SeqCst);
        outbox.register(id, self.signal.clone());
        self.signal.registering.store(false, Ordering::SeqCst);
    }

    /// After every input: a shutdown asked for, the relay's events, the end.
    fn settle(&mut self, now: Duration) {
        let Phase::Relay(relay) = &mut self.phase else {
            return;
        };
        if let Some(frame) = self.signal.take() {
            // 1001 is sendable; before the upstream answered, the client gets 503.
            let _ = relay.close(frame.code, &frame.reason);
        }
        while let Some(event) = relay.poll_event() {
            self.log.note(self.peer, event);
            if self.log.ended && self.flush_deadline.is_none() {
                self.flush_deadline = Some(now + FLUSH_TIMEOUT);
                if let Some(id) = self.log.id {
                    self.service.shared.outbox.unregister(id);
                }
            }
        }
    }
}

impl Drop for Proxy {
    /// Leaves the outbox, saying so if the relay had not ended, and lets a shutdown waiting
    /// for it go on.
    fn drop(&mut self) {
        let Some(id) = self.log.id else {
            return;
        };
        let outbox = &self.service.shared.outbox;
        if !self.log.ended {
            outbox.unregister(id);
            info!(conn = %id, peer = %self.peer, "relay {}: dropped before it ended", self.log.route);
        }
        outbox.release();
    }
}

fn name(side: Side) -> &'static str {
    match side {
        Side::Front => "client",
        Side::Back => "upstream",
    }
}

/// A side's plaintext on its way to its pipe: the plain answer, or the relay's bytes.
struct Outgoing<'a> {
    phase: &'a mut Phase,
    side: Side,
}

impl Plaintext for Outgoing<'_> {
    fn pending(&mut self) -> &[u8] {
        match (&mut *self.phase, self.side) {
            (Phase::Answer { response, pos, .. }, Side::Front) => {
                response.get(*pos..).unwrap_or_default()
            }
            (Phase::Relay(relay), Side::Front) => relay.pending_front_transmit(),
            (Phase::Relay(relay), Side::Back) => relay.pending_back_transmit(),
            _ => &[],
        }
    }

    fn advance(&mut self, n: usize) {
        match (&mut *self.phase, self.side) {
            (Phase::Answer { pos, .. }, Side::Front) => *pos += n,
            (Phase::Relay(relay), Side::Front) => relay.advance_front_transmit(n),
            (Phase::Relay(relay), Side::Back) => relay.advance_back_transmit(n),
            _ => {}
        }
    }
}
