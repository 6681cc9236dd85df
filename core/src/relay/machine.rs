//! The relay machine: the upstream handshake, then the splice. See the [module docs](super).

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use super::splice::Splice;
use super::{
    bad_gateway, map_response, plan_upstream, RelayConfig, RelayEvent, RelayStats, Side,
    UpstreamFailure,
};
use crate::conn::{Config, Connection, MaskKeys, Role, SendError};
use crate::frame::CloseCode;
use crate::handshake::{
    validate_request, validate_response, Accepted, ClientRequest, Parsed, Rejection, Request,
    ResponseParser, TokenMode, WsUrl,
};

/// [`Relay::from_connections`] was given a front that is not a server or a back that is not
/// a client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoleMismatch;

impl fmt::Display for RoleMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a relay's front connection must be a server and its back a client")
    }
}

#[cfg(feature = "std")]
impl std::error::Error for RoleMismatch {}

/// Waiting for the upstream's `101`.
struct Connecting {
    front_request: Request,
    accepted: Accepted,
    request: ClientRequest,
    parser: ResponseParser,
    deadline: Duration,
    timeout: Duration,
    mode: TokenMode,
    mask_keys: Box<dyn MaskKeys + Send>,
    front_conn: Config,
    back_conn: Config,
    /// What the client sent after its request, replayed to the front connection once open.
    early: Vec<u8>,
    max_early_bytes: usize,
}

enum Phase {
    Connecting(Box<Connecting>),
    Open(Box<Splice>),
    /// Refused or abandoned: at most the client's error response is left to send.
    Ended,
}

/// A WebSocket relay between one client and one upstream. See the [module docs](super) for
/// the rules and the drain invariant.
pub struct Relay {
    phase: Phase,
    /// Bytes for the client before the front connection's: the `101` or the error response.
    front_head: Vec<u8>,
    /// Bytes for the upstream before the back connection's: the upgrade request.
    back_head: Vec<u8>,
    events: VecDeque<RelayEvent>,
    /// The upstream, for `502` reasons (when [`RelayConfig::name_upstream`] is on).
    upstream: Option<WsUrl>,
    subprotocol: Option<String>,
}

impl fmt::Debug for Relay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let phase = match &self.phase {
            Phase::Connecting(_) => "connecting",
            Phase::Open(_) => "open",
            Phase::Ended => "ended",
        };
        f.debug_struct("Relay")
            .field("phase", &phase)
            .field("upstream", &self.upstream)
            .field("pending_events", &self.events.len())
            .finish_non_exhaustive()
    }
}

impl Relay {
    /// Starts relaying the client request `front` (already routed) to `upstream`, at `now`.
    ///
    /// Validates `front` against [`RelayConfig::front`] and builds the upstream request
    /// ([`plan_upstream`]); either failing returns the rejection to send to the client.
    /// `client_addr` is the client's IP address for `X-Forwarded-For`; `key` 16 fresh random
    /// bytes for the upstream handshake; `mask_keys` the masking keys of the upstream
    /// connection. The request is then waiting in [`Relay::poll_back_transmit`], and the
    /// upstream has [`RelayConfig::upstream_timeout`] to answer.
    pub fn start(
        front: &Request,
        upstream: &WsUrl,
        client_addr: Option<&str>,
        key: [u8; 16],
        mask_keys: impl MaskKeys + Send + 'static,
        cfg: &RelayConfig,
        now: Duration,
    ) -> Result<Self, Rejection> {
        let accepted = validate_request(front, &cfg.front)?;
        let request = plan_upstream(front, upstream, client_addr, key, cfg)?;
        let back_head = request.to_bytes();
        let connecting = Connecting {
            front_request: front.clone(),
            accepted,
            request,
            parser: ResponseParser::new(cfg.upstream_limits),
            deadline: now.saturating_add(cfg.upstream_timeout),
            timeout: cfg.upstream_timeout,
            mode: cfg.front.token_mode,
            mask_keys: Box::new(mask_keys),
            front_conn: cfg.front_conn.clone(),
            back_conn: cfg.back_conn.clone(),
            early: Vec::new(),
            max_early_bytes: cfg.max_early_bytes,
        };
        Ok(Self {
            phase: Phase::Connecting(Box::new(connecting)),
            front_head: Vec::new(),
            back_head,
            events: VecDeque::new(),
            upstream: cfg.name_upstream.then(|| upstream.clone()),
            subprotocol: None,
        })
    }

    /// A relay over two connections whose handshakes are done (by the caller): `front` must
    /// be a server, `back` a client.
    pub fn from_connections(front: Connection, back: Connection) -> Result<Self, RoleMismatch> {
        if front.role() != Role::Server || back.role() != Role::Client {
            return Err(RoleMismatch);
        }
        let mut relay = Self {
            phase: Phase::Open(Box::new(Splice::new(front, back))),
            front_head: Vec::new(),
            back_head: Vec::new(),
            events: VecDeque::new(),
            upstream: None,
            subprotocol: None,
        };
        relay.pump();
        Ok(relay)
    }

    // ----- inputs -----

    /// Feeds bytes read from the client's transport.
    ///
    /// Before the upstream answered, they are kept (up to [`RelayConfig::max_early_bytes`])
    /// and replayed once it has.
    pub fn handle_front_read(&mut self, now: Duration, bytes: &[u8]) {
        match &mut self.phase {
            Phase::Connecting(c) => {
                if c.early.len().saturating_add(bytes.len()) > c.max_early_bytes {
                    let reason = format!(
                        "the client sent more than {} bytes before its handshake was answered \
                         (max_early_bytes); wait for the 101 response before sending",
                        c.max_early_bytes
                    );
                    self.refuse(Rejection::new(400, reason));
                } else {
                    c.early.extend_from_slice(bytes);
                }
            }
            Phase::Open(splice) => {
                // A failure is passed on by `pump` through `Connection::error`.
                let _ = splice.front.conn.handle_read(now, bytes);
                self.pump();
            }
            Phase::Ended => {}
        }
    }

    /// Feeds bytes read from the upstream's transport: the handshake response, then frames.
    pub fn handle_back_read(&mut self, now: Duration, bytes: &[u8]) {
        match &mut self.phase {
            Phase::Connecting(c) => match c.parser.feed(bytes) {
                Ok(Parsed::Partial) => {}
                Ok(Parsed::Complete { head, trailing }) => {
                    let accepted = validate_response(&head, &c.request, c.mode)
                        .map_err(UpstreamFailure::Handshake)
                        .and_then(|a| map_response(&c.front_request, &a, c.mode));
                    match accepted {
                        Ok(mapped) => {
                            self.front_head = mapped.response(&c.accepted);
                            let subprotocol = mapped.subprotocol;
                            self.open(now, &trailing, subprotocol);
                        }
                        Err(failure) => self.fail_upstream(failure),
                    }
                }
                Err(error) => self.fail_upstream(UpstreamFailure::Handshake(error)),
            },
            Phase::Open(splice) => {
                let _ = splice.back.conn.handle_read(now, bytes);
                self.pump();
            }
            Phase::Ended => {}
        }
    }

    /// The client's transport ended (EOF or reset).
    pub fn handle_front_eof(&mut self, now: Duration) {
        match &mut self.phase {
            Phase::Connecting(_) => {
                self.phase = Phase::Ended;
                self.back_head.clear();
                self.events.push_back(RelayEvent::Abandoned);
                self.events
                    .push_back(RelayEvent::Finished(RelayStats::default()));
            }
            Phase::Open(splice) => {
                splice.front.conn.handle_eof(now);
                self.pump();
            }
            Phase::Ended => {}
        }
    }

    /// The upstream's transport ended (EOF or reset).
    pub fn handle_back_eof(&mut self, now: Duration) {
        match &mut self.phase {
            Phase::Connecting(_) => self.fail_upstream(UpstreamFailure::ClosedEarly),
            Phase::Open(splice) => {
                splice.back.conn.handle_eof(now);
                self.pump();
            }
            Phase::Ended => {}
        }
    }

    /// The upstream could not be connected to (name resolution, refused, TLS…); `detail`
    /// says why and goes into the client's `502`. After the handshake this is an EOF.
    pub fn handle_back_unreachable(&mut self, now: Duration, detail: &str) {
        match self.phase {
            Phase::Connecting(_) => {
                self.fail_upstream(UpstreamFailure::Unreachable(detail.into()));
            }
            _ => self.handle_back_eof(now),
        }
    }

    /// The timer from [`Relay::poll_timeout`] fired.
    pub fn handle_timeout(&mut self, now: Duration) {
        match &mut self.phase {
            Phase::Connecting(c) if now >= c.deadline => {
                let failure = UpstreamFailure::TimedOut(c.timeout);
                self.fail_upstream(failure);
            }
            Phase::Open(splice) => splice.handle_timeout(now, &mut self.events),
            _ => {}
        }
    }

    // ----- commands -----

    /// Closes both sides with `code` and `reason` (e.g. 1001 when the server shuts down).
    /// Before the upstream answered, the client gets `503 Service Unavailable` with `reason`
    /// instead. Idempotent, like [`Connection::close`].
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), SendError> {
        if !code.is_sendable() {
            return Err(SendError::InvalidCloseCode(code.0));
        }
        match &mut self.phase {
            Phase::Connecting(_) => self.refuse(Rejection::new(503, reason)),
            Phase::Open(splice) => {
                splice.close(code, reason)?;
                self.pump();
            }
            Phase::Ended => {}
        }
        Ok(())
    }

    // ----- outputs -----

    /// Appends every byte queued for the client to `buf`; returns how many.
    pub fn poll_front_transmit(&mut self, buf: &mut Vec<u8>) -> usize {
        self.poll_transmit(Side::Front, buf)
    }

    /// Appends every byte queued for the upstream to `buf`; returns how many.
    pub fn poll_back_transmit(&mut self, buf: &mut Vec<u8>) -> usize {
        self.poll_transmit(Side::Back, buf)
    }

    /// The bytes queued for the client, to write in place; then
    /// [`advance_front_transmit`](Self::advance_front_transmit). May be only a first part:
    /// call again after advancing.
    pub fn pending_front_transmit(&mut self) -> &[u8] {
        self.pending_transmit(Side::Front)
    }

    /// The bytes queued for the upstream, to write in place; then
    /// [`advance_back_transmit`](Self::advance_back_transmit).
    pub fn pending_back_transmit(&mut self) -> &[u8] {
        self.pending_transmit(Side::Back)
    }

    /// Drops the first `written` bytes of [`pending_front_transmit`](Self::pending_front_transmit).
    pub fn advance_front_transmit(&mut self, written: usize) {
        self.advance_transmit(Side::Front, written);
    }

    /// Drops the first `written` bytes of [`pending_back_transmit`](Self::pending_back_transmit).
    pub fn advance_back_transmit(&mut self, written: usize) {
        self.advance_transmit(Side::Back, written);
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<RelayEvent> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called, or `None`.
    pub fn poll_timeout(&self) -> Option<Duration> {
        match &self.phase {
            Phase::Connecting(c) => Some(c.deadline),
            Phase::Open(splice) => splice.poll_timeout(),
            Phase::Ended => None,
        }
    }

    // ----- observers -----

    /// Whether to read the client's transport now. False while the upstream has not answered
    /// (the client must wait for the `101`), while the upstream's outbound queue holds back a
    /// message from the client, and once the client connection is finished.
    pub fn wants_front_read(&self) -> bool {
        match &self.phase {
            Phase::Open(splice) => splice.wants_read(Side::Front),
            _ => false,
        }
    }

    /// Whether to read the upstream's transport now. False while the client's outbound queue
    /// holds back a message from the upstream, and once the upstream connection is finished.
    pub fn wants_back_read(&self) -> bool {
        match &self.phase {
            Phase::Connecting(_) => true,
            Phase::Open(splice) => splice.wants_read(Side::Back),
            Phase::Ended => false,
        }
    }

    /// Whether the client's transport can be closed: its connection is finished and every
    /// byte for it was taken.
    pub fn is_front_finished(&self) -> bool {
        self.side_finished(Side::Front)
    }

    /// Whether the upstream's transport can be closed.
    pub fn is_back_finished(&self) -> bool {
        self.side_finished(Side::Back)
    }

    /// Whether both transports can be closed.
    pub fn is_finished(&self) -> bool {
        self.is_front_finished() && self.is_back_finished()
    }

    /// The subprotocol agreed on, once open.
    pub fn subprotocol(&self) -> Option<&str> {
        self.subprotocol.as_deref()
    }

    /// A side's connection, once open (for its state and queued bytes).
    pub fn connection(&self, side: Side) -> Option<&Connection> {
        match &self.phase {
            Phase::Open(splice) => Some(&splice.leg(side).conn),
            _ => None,
        }
    }

    // ----- internals -----

    fn pump(&mut self) {
        if let Phase::Open(splice) = &mut self.phase {
            splice.pump(&mut self.events);
        }
    }

    fn open(&mut self, now: Duration, trailing: &[u8], subprotocol: Option<String>) {
        let Phase::Connecting(c) = core::mem::replace(&mut self.phase, Phase::Ended) else {
            return;
        };
        let Connecting {
            mut mask_keys,
            front_conn,
            back_conn,
            early,
            ..
        } = *c;
        let front = Connection::server(front_conn, now);
        let back = Connection::client(back_conn, now, move || mask_keys.next_mask_key());
        let mut splice = Box::new(Splice::new(front, back));
        self.subprotocol.clone_from(&subprotocol);
        self.events.push_back(RelayEvent::Opened { subprotocol });
        if !early.is_empty() {
            let _ = splice.front.conn.handle_read(now, &early);
        }
        if !trailing.is_empty() {
            let _ = splice.back.conn.handle_read(now, trailing);
        }
        self.phase = Phase::Open(splice);
        self.pump();
    }

    fn fail_upstream(&mut self, failure: UpstreamFailure) {
        self.refuse(bad_gateway(self.upstream.as_ref(), &failure));
    }

    /// Ends the relay before it opened: the client gets `rejection`.
    fn refuse(&mut self, rejection: Rejection) {
        self.phase = Phase::Ended;
        self.back_head.clear();
        self.front_head = rejection.response();
        self.events.push_back(RelayEvent::Refused(rejection));
        self.events
            .push_back(RelayEvent::Finished(RelayStats::default()));
    }

    fn head(&mut self, side: Side) -> &mut Vec<u8> {
        match side {
            Side::Front => &mut self.front_head,
            Side::Back => &mut self.back_head,
        }
    }

    fn poll_transmit(&mut self, side: Side, buf: &mut Vec<u8>) -> usize {
        let head = self.head(side);
        let mut n = head.len();
        buf.append(head);
        if let Phase::Open(splice) = &mut self.phase {
            n += splice.leg_mut(side).conn.poll_transmit(buf);
            splice.pump(&mut self.events);
        }
        n
    }

    fn pending_transmit(&mut self, side: Side) -> &[u8] {
        let head = match side {
            Side::Front => &self.front_head,
            Side::Back => &self.back_head,
        };
        match &mut self.phase {
            Phase::Open(splice) if head.is_empty() => splice.leg_mut(side).conn.pending_transmit(),
            _ => head,
        }
    }

    fn advance_transmit(&mut self, side: Side, written: usize) {
        let head = self.head(side);
        if !head.is_empty() {
            head.drain(..written.min(head.len()));
            return;
        }
        if let Phase::Open(splice) = &mut self.phase {
            splice.leg_mut(side).conn.advance_transmit(written);
            splice.pump(&mut self.events);
        }
    }

    fn side_finished(&self, side: Side) -> bool {
        let head_empty = match side {
            Side::Front => self.front_head.is_empty(),
            Side::Back => self.back_head.is_empty(),
        };
        match &self.phase {
            Phase::Connecting(_) => false,
            Phase::Open(splice) => {
                let conn = &splice.leg(side).conn;
                head_empty && conn.is_finished() && conn.queued_bytes() == 0
            }
            Phase::Ended => side == Side::Back || head_empty,
        }
    }
}
