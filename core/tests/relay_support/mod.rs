//! Test harness for the relay: three endpoints on a virtual clock — a client `Connection`, the
//! `Relay`, and an upstream server `Connection` — joined by in-memory wires that hold what a
//! side has not read yet, as sockets would.
#![allow(dead_code)]

use std::time::Duration;

use sockwright::conn::{Config, Connection, Event};
use sockwright::handshake::{
    validate_request, validate_response, ClientRequest, HandshakeLimits, Parsed, Request,
    RequestParser, ResponseParser, ServerConfig, TokenMode, WsUrl,
};
use sockwright::relay::{Relay, RelayConfig, RelayEvent};

pub const KEY: [u8; 16] = *b"the sample nonce";
pub const RELAY_KEY: [u8; 16] = *b"relay's own key!";
pub const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// Parses a complete request head.
pub fn request(bytes: &[u8]) -> Request {
    match RequestParser::new(HandshakeLimits::default()).feed(bytes) {
        Ok(Parsed::Complete { head, .. }) => head,
        other => panic!("not a complete request: {other:?}"),
    }
}

/// A browser-like upgrade request for `target` with extra header lines (`"Name: a\r\n"`).
pub fn front_request(target: &str, extra: &str) -> Request {
    let head = format!(
        "GET {target} HTTP/1.1\r\nHost: relay.example\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n{extra}\r\n"
    );
    request(head.as_bytes())
}

pub fn transmit(conn: &mut Connection) -> Vec<u8> {
    let mut out = Vec::new();
    conn.poll_transmit(&mut out);
    out
}

pub fn events(conn: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| conn.poll_event()).collect()
}

pub fn relay_events(relay: &mut Relay) -> Vec<RelayEvent> {
    std::iter::from_fn(|| relay.poll_event()).collect()
}

/// Bytes one side wrote that the other has not read yet.
#[derive(Default)]
pub struct Wire {
    pub bytes: Vec<u8>,
    pub eof: bool,
}

/// The three endpoints, after a real handshake through the relay.
pub struct Trio {
    pub client: Connection,
    pub relay: Relay,
    pub upstream: Connection,
    pub now: Duration,
    /// client -> relay, relay -> upstream, upstream -> relay, relay -> client
    pub c2r: Wire,
    pub r2u: Wire,
    pub u2r: Wire,
    pub r2c: Wire,
    /// Whether the client / upstream read their wire (false: a stalled peer).
    pub client_reads: bool,
    pub upstream_reads: bool,
    /// Most bytes the relay reads from a wire at once.
    pub read_chunk: usize,
    /// The relay writes to a wire only while it holds fewer bytes than this (a socket's
    /// send buffer).
    pub wire_limit: usize,
    pub client_events: Vec<Event>,
    pub upstream_events: Vec<Event>,
    pub relay_events: Vec<RelayEvent>,
    /// The largest number of bytes queued inside the relay's connections seen while driving.
    pub max_relay_queued: usize,
}

impl Trio {
    pub fn new(cfg: RelayConfig) -> Self {
        Self::with_configs(cfg, Config::default(), Config::default())
    }

    /// Client and upstream connections with their own configs.
    pub fn with_configs(cfg: RelayConfig, client_cfg: Config, upstream_cfg: Config) -> Self {
        let now = Duration::ZERO;
        let ask = ClientRequest::new("relay.example", "/chat", KEY)
            .and_then(|r| r.with_subprotocol("chat"))
            .and_then(|r| r.with_header("Name", "alice"))
            .expect("valid client request");
        let front = request(&ask.to_bytes());
        let url = WsUrl::parse("ws://upstream.internal:9001/ws").expect("valid url");
        let mut relay = Relay::start(
            &front,
            &url,
            Some("203.0.113.7"),
            RELAY_KEY,
            || MASK,
            &cfg,
            now,
        )
        .expect("relay starts");
        let mut out = Vec::new();
        relay.poll_back_transmit(&mut out);
        let up_req = request(&out);
        let server_cfg = ServerConfig {
            subprotocols: vec!["chat".into()],
            ..ServerConfig::default()
        };
        let accepted = validate_request(&up_req, &server_cfg).expect("upstream accepts");
        relay.handle_back_read(now, &accepted.response());
        let mut reply = Vec::new();
        relay.poll_front_transmit(&mut reply);
        let Ok(Parsed::Complete { head, trailing }) =
            ResponseParser::new(HandshakeLimits::default()).feed(&reply)
        else {
            panic!(
                "relay answers the client: {}",
                String::from_utf8_lossy(&reply)
            );
        };
        assert!(trailing.is_empty());
        let done = validate_response(&head, &ask, TokenMode::Tolerant).expect("valid 101");
        assert_eq!(done.subprotocol(), Some("chat"));
        let relay_events = relay_events(&mut relay);
        assert_eq!(
            relay_events,
            [RelayEvent::Opened {
                subprotocol: Some("chat".into())
            }]
        );
        Self {
            client: Connection::client(client_cfg, now, || MASK),
            relay,
            upstream: Connection::server(upstream_cfg, now),
            now,
            c2r: Wire::default(),
            r2u: Wire::default(),
            u2r: Wire::default(),
            r2c: Wire::default(),
            client_reads: true,
            upstream_reads: true,
            read_chunk: usize::MAX,
            wire_limit: usize::MAX,
            client_events: Vec::new(),
            upstream_events: Vec::new(),
            relay_events,
            max_relay_queued: 0,
        }
    }

    fn relay_queued(&self) -> usize {
        use sockwright::relay::Side;
        [Side::Front, Side::Back]
            .into_iter()
            .filter_map(|s| self.relay.connection(s))
            .map(|c| c.queued_bytes())
            .sum()
    }

    /// One round: every endpoint writes, then every endpoint reads what it wants. Returns
    /// whether any byte moved.
    pub fn step(&mut self) -> bool {
        let now = self.now;
        let mut moved = false;
        let out = transmit(&mut self.client);
        moved |= !out.is_empty();
        self.c2r.bytes.extend(out);
        let out = transmit(&mut self.upstream);
        moved |= !out.is_empty();
        self.u2r.bytes.extend(out);
        self.max_relay_queued = self.max_relay_queued.max(self.relay_queued());
        if self.r2c.bytes.len() < self.wire_limit {
            moved |= self.relay.poll_front_transmit(&mut self.r2c.bytes) > 0;
        }
        if self.r2u.bytes.len() < self.wire_limit {
            moved |= self.relay.poll_back_transmit(&mut self.r2u.bytes) > 0;
        }

        if self.client_reads && !self.r2c.bytes.is_empty() {
            let bytes = std::mem::take(&mut self.r2c.bytes);
            let _ = self.client.handle_read(now, &bytes);
            moved = true;
        }
        if self.upstream_reads && !self.r2u.bytes.is_empty() {
            let bytes = std::mem::take(&mut self.r2u.bytes);
            let _ = self.upstream.handle_read(now, &bytes);
            moved = true;
        }
        if self.relay.wants_front_read() && !self.c2r.bytes.is_empty() {
            let n = self.c2r.bytes.len().min(self.read_chunk);
            let chunk: Vec<u8> = self.c2r.bytes.drain(..n).collect();
            self.relay.handle_front_read(now, &chunk);
            moved = true;
        } else if self.c2r.eof && self.c2r.bytes.is_empty() && !self.relay.is_front_finished() {
            self.c2r.eof = false;
            self.relay.handle_front_eof(now);
            moved = true;
        }
        if self.relay.wants_back_read() && !self.u2r.bytes.is_empty() {
            let n = self.u2r.bytes.len().min(self.read_chunk);
            let chunk: Vec<u8> = self.u2r.bytes.drain(..n).collect();
            self.relay.handle_back_read(now, &chunk);
            moved = true;
        } else if self.u2r.eof && self.u2r.bytes.is_empty() && !self.relay.is_back_finished() {
            self.u2r.eof = false;
            self.relay.handle_back_eof(now);
            moved = true;
        }
        self.max_relay_queued = self.max_relay_queued.max(self.relay_queued());
        self.client_events.extend(events(&mut self.client));
        self.upstream_events.extend(events(&mut self.upstream));
        self.relay_events.extend(relay_events(&mut self.relay));
        moved
    }

    /// Steps until nothing moves.
    pub fn drive(&mut self) {
        for _ in 0..1_000_000 {
            if !self.step() {
                return;
            }
        }
        panic!("the trio never settled");
    }

    /// Advances the clock by `by`, firing every due timer and driving after each.
    pub fn advance(&mut self, by: Duration) {
        let end = self.now + by;
        loop {
            self.drive();
            let next = [
                self.client.poll_timeout(),
                self.upstream.poll_timeout(),
                self.relay.poll_timeout(),
            ]
            .into_iter()
            .flatten()
            .filter(|t| *t <= end)
            .min();
            let Some(next) = next else { break };
            self.now = self.now.max(next);
            let now = self.now;
            if self.client.poll_timeout().is_some_and(|t| t <= now) {
                let _ = self.client.handle_timeout(now);
            }
            if self.upstream.poll_timeout().is_some_and(|t| t <= now) {
                let _ = self.upstream.handle_timeout(now);
            }
            if self.relay.poll_timeout().is_some_and(|t| t <= now) {
                self.relay.handle_timeout(now);
            }
        }
        self.now = end;
        self.drive();
    }

    /// Messages each endpoint received, in order.
    pub fn messages(events: &[Event]) -> Vec<sockwright::conn::Message> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::Message(m) => Some(m.clone()),
                _ => None,
            })
            .collect()
    }

    pub fn closed(events: &[Event]) -> Option<sockwright::conn::Closed> {
        events.iter().find_map(|e| match e {
            Event::Closed(c) => Some(c.clone()),
            _ => None,
        })
    }
}
