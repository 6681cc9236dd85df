//! Target `relay`: the relay machine (`core/src/relay`) driven by a sequence of operations —
//! client and upstream bytes (frames built from the operation, raw bytes, or a genuine `101`
//! for the upstream handshake), EOFs on either side, an unreachable upstream, timer firings
//! and timeouts with time that stalls or goes backwards, transmit taken whole or in pieces,
//! and a shutdown close — in any order. Reads happen only when the relay wants them, as its
//! drain invariant asks (and from the client before the `101`, which the relay bounds).
//!
//! Oracles: events come in a legal order (`Opened` first and once; `Refused` or `Abandoned`
//! only before it; one end event per side; `Finished` exactly once and last); each side's
//! queue stays within its limit plus the control slack; once finished, the relay emits
//! nothing more; a refusal is a well-formed 400/502/503 and then nothing; the `101` the client
//! gets validates against its request; the upstream request validates and carries the
//! forwarded headers; both streams are well-formed for their role with nothing after a close
//! frame (the relay never forwards after close); the messages forwarded each way are a prefix
//! of what the reference reader reads from the other side, types kept; `Finished` counts
//! exactly the messages forwarded.

use core::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use sockwright::conn::{Config, Role};
use sockwright::frame::CloseCode;
use sockwright::handshake::{
    validate_request, validate_response, HandshakeLimits, Parsed, Request, RequestParser, Response,
    ResponseParser, ServerConfig, TokenMode, WsUrl,
};
use sockwright::relay::{Relay, RelayConfig, RelayEvent, RelayStats, Side};

use crate::conn::{FrameSpec, CONTROL_SLACK};
use crate::handshake::{assert_rejection, client_request};
use crate::input::{byte, bytes, choice, flag, text};
use crate::reference::{self, Item, Limits};
use crate::wire::{DataFrame, Written};

/// The relay's own handshake key towards the upstream.
const RELAY_KEY: [u8; 16] = *b"relay's own key!";

/// The relay's limits and the client's request.
#[derive(Debug)]
pub struct Setup {
    /// The relay configuration.
    pub config: RelayConfig,
    /// Whether the client offers `chat, superchat`.
    pub offer_subprotocols: bool,
}

impl<'a> Arbitrary<'a> for Setup {
    /// Flags (bit 0 the client offers subprotocols, bit 1 small outbound queues, bit 2
    /// keepalive on both sides, bit 3 upstream not named in 502s, bit 4 small messages), then
    /// upstream timeout, ping interval, pong timeout and close timeout in tens of ms (a byte
    /// each).
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let flags = byte(u);
        let mut config = RelayConfig::default();
        let tens_of_ms = |u: &mut Unstructured<'_>| Duration::from_millis(u64::from(byte(u)) * 10);
        config.upstream_timeout = tens_of_ms(u);
        let interval = tens_of_ms(u);
        let pong_timeout = tens_of_ms(u);
        let close_timeout = tens_of_ms(u);
        for (conn, outbound) in [(&mut config.front_conn, 512), (&mut config.back_conn, 2048)] {
            if flags & 2 != 0 {
                conn.max_outbound_bytes = outbound;
            }
            if flags & 16 != 0 {
                conn.max_frame_size = 1024;
                conn.max_message_size = 1024;
            }
            conn.ping_interval = (flags & 4 != 0).then_some(interval);
            conn.pong_timeout = pong_timeout;
            conn.close_timeout = close_timeout;
        }
        config.name_upstream = flags & 8 == 0;
        config.max_early_bytes = 4096;
        Ok(Self {
            config,
            offer_subprotocols: flags & 1 != 0,
        })
    }
}

/// One step.
#[derive(Debug)]
pub enum Op {
    /// The client sends a frame.
    FrontFrame(FrameSpec),
    /// The client sends raw bytes.
    FrontRaw(Vec<u8>),
    /// The upstream sends a frame.
    BackFrame(FrameSpec),
    /// The upstream sends raw bytes (before the `101`: its response head).
    BackRaw(Vec<u8>),
    /// The upstream answers the relay's request with a genuine `101`, choosing nothing (0),
    /// `chat` (1), `superchat` (2) or an unoffered `other` (3).
    Accept(usize),
    /// The client's transport ends.
    FrontEof,
    /// The upstream's transport ends.
    BackEof,
    /// The upstream cannot be reached.
    Unreachable,
    /// Move the clock (backwards when the flag is set) and `handle_timeout`.
    Timeout(bool, u64),
    /// Fire the timer at its deadline.
    FireTimer,
    /// Take transmit of the back side (flag) or the front: all (0) or up to this many bytes.
    Transmit(bool, usize),
    /// `Relay::close`.
    Close(u16, String),
    /// Move the clock only.
    Clock(bool, u64),
}

impl<'a> Arbitrary<'a> for Op {
    /// A tag byte (modulo 13), then the fields in order.
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(match choice(u, 12) {
            0 => Op::FrontFrame(FrameSpec::arbitrary(u)?),
            1 => Op::FrontRaw(bytes(u, 2048)),
            2 => Op::BackFrame(FrameSpec::arbitrary(u)?),
            3 => Op::BackRaw(bytes(u, 2048)),
            4 => Op::Accept(choice(u, 3)),
            5 => Op::FrontEof,
            6 => Op::BackEof,
            7 => Op::Unreachable,
            8 => Op::Timeout(flag(u), choice(u, 0xFFFF) as u64),
            9 => Op::FireTimer,
            10 => Op::Transmit(flag(u), choice(u, 0xFFFF)),
            11 => Op::Close(choice(u, 0xFFFF) as u16, text(u, 200)),
            _ => Op::Clock(flag(u), choice(u, 0xFFFF) as u64),
        })
    }
}

/// The client's upgrade request.
pub fn front_request(offer_subprotocols: bool) -> Vec<u8> {
    let protocols = if offer_subprotocols {
        "Sec-WebSocket-Protocol: chat, superchat\r\n"
    } else {
        ""
    };
    format!(
        "GET /chat?user_id=7 HTTP/1.1\r\nHost: relay.example\r\nUpgrade: websocket\r\n\
         Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\nName: ann\r\nTopic: news\r\n{protocols}\r\n"
    )
    .into_bytes()
}

/// One side's output: an HTTP head, then frames (or, after an error response, its body).
struct Output<H> {
    parse: fn(&mut H, &[u8]) -> Option<Vec<u8>>,
    parser: H,
    head_done: bool,
    head_bytes: usize,
    /// Bytes after an error response's head.
    body: Vec<u8>,
    written: Written,
}

impl<H: Head> Output<H> {
    fn new(parse: fn(&mut H, &[u8]) -> Option<Vec<u8>>, parser: H, role: Role) -> Self {
        Self {
            parse,
            parser,
            head_done: false,
            head_bytes: 0,
            body: Vec::new(),
            written: Written::new(role),
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        let rest = if self.head_done {
            bytes.to_vec()
        } else {
            self.head_bytes += bytes.len();
            let Some(trailing) = (self.parse)(&mut self.parser, bytes) else {
                return;
            };
            self.head_done = true;
            self.head_bytes -= trailing.len();
            trailing
        };
        if self.parser.upgrades() {
            self.written.push(&rest);
        } else {
            self.body.extend_from_slice(&rest);
        }
    }

    fn total(&self) -> usize {
        self.head_bytes + self.body.len() + self.written.total
    }
}

/// A parsed head: whether WebSocket frames follow it.
trait Head {
    fn upgrades(&self) -> bool;
}

impl Head for FrontHead {
    fn upgrades(&self) -> bool {
        self.head.as_ref().is_some_and(|h| h.status() == 101)
    }
}

impl Head for BackHead {
    fn upgrades(&self) -> bool {
        true
    }
}

/// The front's head: the client's `101` or error response.
struct FrontHead {
    parser: ResponseParser,
    head: Option<Response>,
}

/// The back's head: the relay's upgrade request.
struct BackHead {
    parser: RequestParser,
    head: Option<Request>,
}

fn parse_front(h: &mut FrontHead, bytes: &[u8]) -> Option<Vec<u8>> {
    match h.parser.feed(bytes) {
        Ok(Parsed::Partial) => None,
        Ok(Parsed::Complete { head, trailing }) => {
            h.head = Some(head);
            Some(trailing)
        }
        Err(e) => panic!("the relay wrote a response the client cannot read: {e}"),
    }
}

fn parse_back(h: &mut BackHead, bytes: &[u8]) -> Option<Vec<u8>> {
    match h.parser.feed(bytes) {
        Ok(Parsed::Partial) => None,
        Ok(Parsed::Complete { head, trailing }) => {
            h.head = Some(head);
            Some(trailing)
        }
        Err(e) => panic!("the relay wrote a request the upstream cannot read: {e}"),
    }
}

struct Harness {
    relay: Relay,
    config: RelayConfig,
    offer_subprotocols: bool,
    now: Duration,
    mask_counter: u32,
    front: Output<FrontHead>,
    back: Output<BackHead>,
    /// The upstream's response as the relay reads it, mirrored to find its trailing bytes.
    upstream_response: ResponseParser,
    /// Bytes for the front connection: early bytes, then reads while it is not finished.
    front_inbound: Vec<u8>,
    /// Bytes for the back connection: what followed the `101`, then reads.
    back_inbound: Vec<u8>,
    events: Vec<RelayEvent>,
    opened: Option<Option<String>>,
    refused: bool,
    front_ended: bool,
    back_ended: bool,
    stats: Option<RelayStats>,
    finished_total: Option<usize>,
    /// The reason of the first accepted `Relay::close`.
    close_reason: Option<String>,
}

/// Runs the operations of `data` against one relay.
pub fn run_relay(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(setup) = Setup::arbitrary(&mut u) else {
        return;
    };
    let mut h = Harness::new(setup);
    h.check();
    while !u.is_empty() {
        let Ok(op) = Op::arbitrary(&mut u) else { break };
        h.apply(op);
        h.check();
    }
    h.finish();
}

impl Harness {
    fn new(setup: Setup) -> Self {
        let request_bytes = front_request(setup.offer_subprotocols);
        let Ok(Parsed::Complete { head: request, .. }) =
            RequestParser::new(HandshakeLimits::default()).feed(&request_bytes)
        else {
            panic!("the client's request does not parse");
        };
        let url = WsUrl::parse("ws://upstream.example:9001/im?topic=news").expect("a valid URL");
        let mut n = 0u32;
        let mask_keys = move || {
            n = n.wrapping_add(0x0301_0203);
            n.to_be_bytes()
        };
        let relay = Relay::start(
            &request,
            &url,
            Some("192.0.2.7"),
            RELAY_KEY,
            mask_keys,
            &setup.config,
            Duration::ZERO,
        )
        .expect("the relay accepts a valid request");
        let limits = HandshakeLimits::default();
        Self {
            relay,
            config: setup.config,
            offer_subprotocols: setup.offer_subprotocols,
            now: Duration::ZERO,
            mask_counter: 0,
            front: Output::new(
                parse_front,
                FrontHead {
                    parser: ResponseParser::new(limits),
                    head: None,
                },
                Role::Server,
            ),
            back: Output::new(
                parse_back,
                BackHead {
                    parser: RequestParser::new(limits),
                    head: None,
                },
                Role::Client,
            ),
            upstream_response: ResponseParser::new(setup_limits()),
            front_inbound: Vec::new(),
            back_inbound: Vec::new(),
            events: Vec::new(),
            opened: None,
            refused: false,
            front_ended: false,
            back_ended: false,
            stats: None,
            finished_total: None,
            close_reason: None,
        }
    }

    fn connecting(&self) -> bool {
        self.opened.is_none() && !self.refused
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::FrontFrame(spec) => {
                let frame = spec.encode(Role::Server, self.next_key());
                self.front_read(&frame, spec.split);
            }
            Op::FrontRaw(raw) => self.front_read(&raw, false),
            Op::BackFrame(spec) => {
                let frame = spec.encode(Role::Client, self.next_key());
                self.back_read(&frame);
            }
            Op::BackRaw(raw) => self.back_read(&raw),
            Op::Accept(choice) => {
                if self.connecting() {
                    let response = self.genuine_response(choice);
                    self.back_read(&response);
                }
            }
            Op::FrontEof => self.relay.handle_front_eof(self.now),
            Op::BackEof => self.relay.handle_back_eof(self.now),
            Op::Unreachable => self
                .relay
                .handle_back_unreachable(self.now, "connection refused"),
            Op::Timeout(backwards, ms) => {
                self.move_clock(backwards, ms);
                self.relay.handle_timeout(self.now);
            }
            Op::FireTimer => {
                if let Some(deadline) = self.relay.poll_timeout() {
                    self.now = deadline;
                    self.relay.handle_timeout(deadline);
                }
            }
            Op::Transmit(back, limit) => {
                self.transmit(if back { Side::Back } else { Side::Front }, limit)
            }
            Op::Close(code, reason) => {
                let result = self.relay.close(CloseCode(code), &reason);
                if result.is_ok() && self.close_reason.is_none() {
                    self.close_reason = Some(reason.clone());
                }
                assert_eq!(
                    result.is_ok(),
                    CloseCode(code).is_sendable(),
                    "close({code}) gave {result:?}"
                );
            }
            Op::Clock(backwards, ms) => self.move_clock(backwards, ms),
        }
        self.take_events();
    }

    fn next_key(&mut self) -> [u8; 4] {
        self.mask_counter = self.mask_counter.wrapping_add(0x0102_0304);
        self.mask_counter.to_be_bytes()
    }

    fn move_clock(&mut self, backwards: bool, ms: u64) {
        let delta = Duration::from_millis(ms);
        self.now = if backwards {
            self.now.saturating_sub(delta)
        } else {
            self.now + delta
        };
    }

    fn front_read(&mut self, bytes: &[u8], split: bool) {
        if !(self.relay.wants_front_read() || self.connecting()) {
            return;
        }
        let front_open = self
            .relay
            .connection(Side::Front)
            .is_some_and(|c| !c.is_finished());
        if self.connecting() || front_open {
            self.front_inbound.extend_from_slice(bytes);
        }
        if split {
            let (a, b) = bytes.split_at(bytes.len() / 2);
            self.relay.handle_front_read(self.now, a);
            self.relay.handle_front_read(self.now, b);
        } else {
            self.relay.handle_front_read(self.now, bytes);
        }
    }

    fn back_read(&mut self, bytes: &[u8]) {
        if !self.relay.wants_back_read() {
            return;
        }
        if self.connecting() {
            if let Ok(Parsed::Complete { trailing, .. }) = self.upstream_response.feed(bytes) {
                self.back_inbound.extend_from_slice(&trailing);
            }
        } else if self
            .relay
            .connection(Side::Back)
            .is_some_and(|c| !c.is_finished())
        {
            self.back_inbound.extend_from_slice(bytes);
        }
        self.relay.handle_back_read(self.now, bytes);
    }

    /// The `101` a genuine upstream sends for the relay's request, once the request was taken.
    fn genuine_response(&mut self, choice: usize) -> Vec<u8> {
        let Some(request) = &self.back.parser.head else {
            return b"HTTP/1.1 101 Switching Protocols\r\n\r\n".to_vec();
        };
        let server = ServerConfig {
            subprotocols: match choice {
                1 => vec!["chat".into()],
                2 => vec!["superchat".into()],
                _ => Vec::new(),
            },
            ..ServerConfig::default()
        };
        let accepted = validate_request(request, &server).expect("the relay's request validates");
        let mut response = accepted.response();
        if choice == 3 {
            let end = response.len() - 2;
            response.splice(
                end..end,
                b"Sec-WebSocket-Protocol: other\r\n".iter().copied(),
            );
        }
        response
    }

    fn transmit(&mut self, side: Side, limit: usize) {
        let bytes = if limit == 0 {
            let mut out = Vec::new();
            let n = match side {
                Side::Front => self.relay.poll_front_transmit(&mut out),
                Side::Back => self.relay.poll_back_transmit(&mut out),
            };
            assert_eq!(n, out.len());
            out
        } else {
            let pending = match side {
                Side::Front => self.relay.pending_front_transmit(),
                Side::Back => self.relay.pending_back_transmit(),
            };
            let piece = pending[..pending.len().min(limit)].to_vec();
            match side {
                Side::Front => self.relay.advance_front_transmit(piece.len()),
                Side::Back => self.relay.advance_back_transmit(piece.len()),
            }
            piece
        };
        match side {
            Side::Front => self.front.push(&bytes),
            Side::Back => self.back.push(&bytes),
        }
        self.take_events();
    }

    fn take_events(&mut self) {
        while let Some(event) = self.relay.poll_event() {
            assert!(self.stats.is_none(), "event {event:?} after Finished");
            match &event {
                RelayEvent::Opened { subprotocol } => {
                    assert!(self.events.is_empty(), "Opened is not the first event");
                    self.opened = Some(subprotocol.clone());
                }
                RelayEvent::Refused(rejection) => {
                    assert!(self.events.is_empty(), "Refused after other events");
                    match rejection.status() {
                        400 | 502 => assert_rejection(rejection),
                        // Relay::close before the 101: the reason is the caller's own text.
                        503 => assert_eq!(Some(rejection.reason()), self.close_reason.as_deref()),
                        status => panic!("refused with {status}"),
                    }
                    self.refused = true;
                }
                RelayEvent::Abandoned => {
                    assert!(self.events.is_empty(), "Abandoned after other events");
                    self.refused = true;
                }
                RelayEvent::FrontClosed(_) | RelayEvent::FrontFailed(_) => {
                    assert!(
                        self.opened.is_some() && !self.front_ended,
                        "a second or early front end"
                    );
                    self.front_ended = true;
                }
                RelayEvent::BackClosed(_) | RelayEvent::BackFailed(_) => {
                    assert!(
                        self.opened.is_some() && !self.back_ended,
                        "a second or early back end"
                    );
                    self.back_ended = true;
                }
                RelayEvent::Finished(stats) => self.stats = Some(*stats),
            }
            self.events.push(event);
        }
    }

    fn check(&mut self) {
        for (side, config) in [
            (Side::Front, &self.config.front_conn),
            (Side::Back, &self.config.back_conn),
        ] {
            if let Some(conn) = self.relay.connection(side) {
                let bound = config.max_outbound_bytes + CONTROL_SLACK;
                assert!(
                    conn.queued_bytes() <= bound,
                    "{side:?} holds {} bytes",
                    conn.queued_bytes()
                );
            }
        }
        if self.relay.is_finished() {
            assert!(!self.relay.wants_front_read() && !self.relay.wants_back_read());
            let total = self.front.total() + self.back.total();
            let first = *self.finished_total.get_or_insert(total);
            assert_eq!(total, first, "a finished relay emitted more bytes");
        }
    }

    fn finish(mut self) {
        // Taking transmit lets held messages move; a few rounds drain everything.
        for _ in 0..4 {
            self.transmit(Side::Front, 0);
            self.transmit(Side::Back, 0);
        }
        self.front.written.assert_whole();
        self.back.written.assert_whole();
        self.check_heads();
        if let Some(stats) = self.stats {
            assert_eq!(
                stats.to_back,
                self.back.written.data.len() as u64,
                "to_back"
            );
            assert_eq!(
                stats.to_front,
                self.front.written.data.len() as u64,
                "to_front"
            );
        }
        let from_client = messages(&self.front_inbound, Role::Server, &self.config.front_conn);
        assert_prefix(&self.back.written.data, &from_client, "client -> upstream");
        let from_upstream = messages(&self.back_inbound, Role::Client, &self.config.back_conn);
        assert_prefix(
            &self.front.written.data,
            &from_upstream,
            "upstream -> client",
        );
    }

    fn check_heads(&self) {
        if let Some(request) = &self.back.parser.head {
            let accepted =
                validate_request(request, &ServerConfig::default()).expect("the upstream request");
            assert_eq!(accepted.target(), "/im?topic=news&user_id=7");
            assert_eq!(request.header("Name"), Some(&b"ann"[..]));
            assert_eq!(request.header("Topic"), Some(&b"news"[..]));
            assert_eq!(request.header("X-Forwarded-For"), Some(&b"192.0.2.7"[..]));
        }
        let Some(response) = &self.front.parser.head else {
            return;
        };
        match self.events.first() {
            Some(RelayEvent::Refused(rejection)) => {
                assert_eq!(response.status(), rejection.status());
                let response = rejection.response();
                assert_eq!(
                    self.front.head_bytes + self.front.body.len(),
                    response.len()
                );
                assert_eq!(self.front.written.total, 0, "frames after a refusal");
                assert!(
                    self.back.written.total == 0,
                    "the upstream got frames from a refused relay"
                );
            }
            Some(RelayEvent::Opened { subprotocol }) => {
                let mut request = client_request();
                if !self.offer_subprotocols {
                    request =
                        sockwright::handshake::ClientRequest::new("h", "/", *b"the sample nonce")
                            .expect("valid");
                }
                let accepted = validate_response(response, &request, TokenMode::Strict)
                    .expect("the client's 101");
                assert_eq!(accepted.subprotocol(), subprotocol.as_deref());
            }
            other => panic!("a response head without Opened or Refused: {other:?}"),
        }
    }
}

fn setup_limits() -> HandshakeLimits {
    RelayConfig::default().upstream_limits
}

/// The data messages the reference reader reads from a side's inbound bytes.
fn messages(inbound: &[u8], role: Role, config: &Config) -> Vec<DataFrame> {
    reference::read(inbound, role, Limits::from(config))
        .items
        .into_iter()
        .filter_map(|item| match item {
            Item::Message(m) => Some(DataFrame {
                text: matches!(m, sockwright::conn::Message::Text(_)),
                payload: m.as_bytes().to_vec(),
            }),
            _ => None,
        })
        .collect()
}

fn assert_prefix(forwarded: &[DataFrame], sent: &[DataFrame], direction: &str) {
    assert!(
        forwarded.len() <= sent.len(),
        "{direction}: more messages forwarded than sent"
    );
    assert_eq!(
        forwarded,
        &sent[..forwarded.len()],
        "{direction}: forwarded messages differ"
    );
}
