//! Target `connection`: `conn::Connection` driven by a sequence of operations — bytes in (frames
//! built from the operation, or raw), sends of each kind (shared frames too), pings, pongs,
//! closes, timer firings and timeouts with time that moves on, stalls or goes backwards, EOF,
//! and transmit taken whole or in pieces.
//!
//! Input layout ([`Setup`], then [`Op`]s until the input ends): see [`crate::seeds`] for
//! written-out examples.
//!
//! Oracles, after every operation: the outbound queue stays within `max_outbound_bytes` plus
//! [`CONTROL_SLACK`]; errors are sticky and only the documented ones; each refused command
//! says why truthfully and changes nothing; once finished, the connection emits nothing more
//! and reports no event after `Closed`; a timer fired at its deadline moves or goes. At the
//! end: the output is well-formed for the role with nothing after its close frame; it carries
//! exactly the data frames that were accepted, in order; pings and pongs are the ones asked
//! for or owed; a close the caller started carries its code and reason; and what the
//! connection reported of the input agrees with the [reference reader](crate::reference).

use core::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use sockwright::conn::{Config, Connection, Error, Event, Initiator, Role, SendError};
use sockwright::frame::{CloseCode, CloseFrame, SharedFrame};

use crate::frames::new_connection;
use crate::input::{byte, bytes, choice, flag, text};
use crate::reference::{self, close_reply, reported_code, violation_close, Item, Limits};
use crate::wire::{self, DataFrame, Written};

/// The longest control frame: 2 header bytes, 4 of mask, 125 of payload.
const MAX_CONTROL_FRAME: usize = 131;

/// What may be queued past `max_outbound_bytes` (`Config` docs): the close frame and one pong
/// owed for the latest ping.
pub const CONTROL_SLACK: usize = 2 * MAX_CONTROL_FRAME;

/// The connection and its limits.
#[derive(Debug)]
pub struct Setup {
    /// Which end.
    pub role: Role,
    /// Limits and timers.
    pub config: Config,
    /// Bytes read before the first operation.
    pub preload: Vec<u8>,
}

impl<'a> Arbitrary<'a> for Setup {
    /// Flags (bit 0 client, bit 1 keepalive on, bit 2 RSV1 allowed), an outbound-limit preset
    /// and a size preset (0–3 each), ping interval, pong timeout and close timeout in tens of
    /// milliseconds (one byte each), then the preload (a length of two bytes, big-endian).
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let flags = byte(u);
        let mut config = Config::default();
        config.max_outbound_bytes = [128, 1024, 16 << 10, config.max_outbound_bytes][choice(u, 3)];
        let (frame, message) =
            [(16 << 20, 16 << 20), (1024, 4096), (100, 150), (0, 0)][choice(u, 3)];
        config.max_frame_size = frame;
        config.max_message_size = message;
        let tens_of_ms = |u: &mut Unstructured<'_>| Duration::from_millis(u64::from(byte(u)) * 10);
        let interval = tens_of_ms(u);
        config.ping_interval = (flags & 2 != 0).then_some(interval);
        config.pong_timeout = tens_of_ms(u);
        config.close_timeout = tens_of_ms(u);
        config.allowed_rsv_bits = if flags & 4 != 0 { 0b100 } else { 0 };
        let role = if flags & 1 != 0 {
            Role::Client
        } else {
            Role::Server
        };
        Ok(Self {
            role,
            config,
            preload: bytes(u, 4095),
        })
    }
}

/// A frame for the connection to read, built from its parts.
#[derive(Debug)]
pub struct FrameSpec {
    /// FIN.
    pub fin: bool,
    /// RSV bits.
    pub rsv: u8,
    /// Any 4-bit opcode, reserved ones too.
    pub opcode: u8,
    /// Masked as the peer must (else the other way).
    pub right_mask: bool,
    /// Fed in two reads, split in the middle.
    pub split: bool,
    /// The payload.
    pub payload: Vec<u8>,
}

impl<'a> Arbitrary<'a> for FrameSpec {
    /// One flags byte (bit 0 FIN, bits 1–3 RSV, bit 4 masked wrongly, bit 5 split), one opcode
    /// byte (low 4 bits), the payload (two length bytes).
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let flags = byte(u);
        Ok(Self {
            fin: flags & 1 != 0,
            rsv: (flags >> 1) & 7,
            right_mask: flags & 0x10 == 0,
            split: flags & 0x20 != 0,
            opcode: byte(u) & 0x0F,
            payload: bytes(u, 2048),
        })
    }
}

impl FrameSpec {
    /// The frame's bytes, as a peer of `reader` sends it (masked when `right_mask` says so).
    pub fn encode(&self, reader: Role, key: [u8; 4]) -> Vec<u8> {
        let masked = (reader == Role::Server) == self.right_mask;
        wire::encode(
            self.fin,
            self.rsv,
            self.opcode,
            &self.payload,
            masked.then_some(key),
        )
    }
}

/// One step.
#[derive(Debug)]
pub enum Op {
    /// Read a frame built from parts.
    Frame(FrameSpec),
    /// Read raw bytes.
    Raw(Vec<u8>),
    /// `send_text`.
    Text(String),
    /// `send_binary` of this many bytes.
    Binary(usize),
    /// `send_shared` of a text (true) or binary frame of this many bytes.
    Shared(bool, usize),
    /// `send_ping`.
    Ping(Vec<u8>),
    /// `send_pong`.
    Pong(Vec<u8>),
    /// `close`.
    Close(u16, String),
    /// Move the clock by this many milliseconds (backwards when the flag is set), then
    /// `handle_timeout`.
    Timeout(bool, u64),
    /// Fire the timer at its deadline, as a driver does.
    FireTimer,
    /// Take transmit: all of it (0) or up to this many bytes of `pending_transmit`.
    Transmit(usize),
    /// `handle_eof`.
    Eof,
    /// Take this many events (0: all).
    Events(usize),
    /// Move the clock without telling the connection.
    Clock(bool, u64),
}

impl<'a> Arbitrary<'a> for Op {
    /// A tag byte (modulo 14) and the fields, in the order of the variant's fields.
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(match choice(u, 13) {
            0 => Op::Frame(FrameSpec::arbitrary(u)?),
            1 => Op::Raw(bytes(u, 2048)),
            2 => Op::Text(text(u, 2048)),
            3 => Op::Binary(choice(u, 40_000)),
            4 => Op::Shared(flag(u), choice(u, 5000)),
            5 => Op::Ping(bytes(u, 130)),
            6 => Op::Pong(bytes(u, 130)),
            7 => Op::Close(choice(u, 0xFFFF) as u16, text(u, 200)),
            8 => Op::Timeout(flag(u), choice(u, 0xFFFF) as u64),
            9 => Op::FireTimer,
            10 => Op::Transmit(choice(u, 0xFFFF)),
            11 => Op::Eof,
            12 => Op::Events(choice(u, 8)),
            _ => Op::Clock(flag(u), choice(u, 0xFFFF) as u64),
        })
    }
}

/// The connection under test and everything the oracles remember.
struct Harness {
    conn: Connection,
    role: Role,
    config: Config,
    now: Duration,
    mask_counter: u32,
    written: Written,
    events: Vec<Event>,
    closed_seen: bool,
    /// Bytes offered while the connection was not finished.
    inbound: Vec<u8>,
    /// Data frames the connection accepted, in order.
    sent: Vec<DataFrame>,
    /// Non-empty ping payloads the caller sent, in order.
    user_pings: Vec<Vec<u8>>,
    /// Pong payloads the caller sent.
    user_pongs: Vec<Vec<u8>>,
    /// The close payload of a close the caller started on an open connection.
    local_close: Option<Vec<u8>>,
    error: Option<Error>,
    /// Bytes emitted (taken + queued) when the connection was first seen finished.
    finished_total: Option<usize>,
}

/// Runs the operations of `data` against one connection.
pub fn run_connection(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(setup) = Setup::arbitrary(&mut u) else {
        return;
    };
    let mut h = Harness::new(setup.role, setup.config);
    h.read(&setup.preload);
    h.check();
    while !u.is_empty() {
        let Ok(op) = Op::arbitrary(&mut u) else { break };
        h.apply(op);
        h.check();
    }
    h.finish();
}

impl Harness {
    fn new(role: Role, config: Config) -> Self {
        Self {
            conn: new_connection(role, config.clone()),
            role,
            config,
            now: Duration::ZERO,
            mask_counter: 0,
            written: Written::new(role),
            events: Vec::new(),
            closed_seen: false,
            inbound: Vec::new(),
            sent: Vec::new(),
            user_pings: Vec::new(),
            user_pongs: Vec::new(),
            local_close: None,
            error: None,
            finished_total: None,
        }
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::Frame(spec) => {
                self.mask_counter = self.mask_counter.wrapping_add(0x0102_0304);
                let frame = spec.encode(self.role, self.mask_counter.to_be_bytes());
                if spec.split {
                    let (a, b) = frame.split_at(frame.len() / 2);
                    self.read(a);
                    self.read(b);
                } else {
                    self.read(&frame);
                }
            }
            Op::Raw(raw) => self.read(&raw),
            Op::Text(text) => {
                let result = self.conn.send_text(&text);
                self.sent_data(result, true, text.into_bytes(), false);
            }
            Op::Binary(len) => {
                let data = vec![0xB7; len];
                let result = self.conn.send_binary(&data);
                self.sent_data(result, false, data, false);
            }
            Op::Shared(is_text, len) => {
                let frame = if is_text {
                    SharedFrame::text(&"é".repeat(len / 2))
                } else {
                    SharedFrame::binary(&vec![0x5A; len])
                };
                let result = self.conn.send_shared(&frame);
                if self.role == Role::Client {
                    assert_eq!(result, Err(SendError::SharedFrameFromClient));
                }
                self.sent_data(result, is_text, frame.payload().to_vec(), true);
            }
            Op::Ping(payload) => {
                let result = self.conn.send_ping(&payload);
                if result.is_ok() && !payload.is_empty() {
                    self.user_pings.push(payload.clone());
                }
                self.sent_control(result, &payload);
            }
            Op::Pong(payload) => {
                let result = self.conn.send_pong(&payload);
                if result.is_ok() {
                    self.user_pongs.push(payload.clone());
                }
                self.sent_control(result, &payload);
            }
            Op::Close(code, reason) => self.close(code, &reason),
            Op::Timeout(backwards, ms) => {
                self.move_clock(backwards, ms);
                let result = self.conn.handle_timeout(self.now);
                self.handled(result);
            }
            Op::FireTimer => self.fire_timer(),
            Op::Transmit(limit) => self.transmit(limit),
            Op::Eof => {
                self.conn.handle_eof(self.now);
                self.take_events(0);
                if self.conn.error().is_none() {
                    assert!(
                        self.conn.is_finished(),
                        "still open after EOF and its events"
                    );
                }
            }
            Op::Events(n) => self.take_events(n),
            Op::Clock(backwards, ms) => self.move_clock(backwards, ms),
        }
    }

    fn move_clock(&mut self, backwards: bool, ms: u64) {
        let delta = Duration::from_millis(ms);
        self.now = if backwards {
            self.now.saturating_sub(delta)
        } else {
            self.now + delta
        };
    }

    fn read(&mut self, bytes: &[u8]) {
        if !self.conn.is_finished() {
            self.inbound.extend_from_slice(bytes);
        }
        let result = self.conn.handle_read(self.now, bytes);
        if let Err(Error::Protocol(_)) = &result {
            assert!(self.error.is_some() || self.conn.error().is_some());
        }
        self.handled(result);
    }

    /// The result of a `handle_*`: errors are sticky and only the documented kinds.
    fn handled(&mut self, result: Result<(), Error>) {
        match (&self.error, result) {
            (Some(first), result) => assert_eq!(result.as_ref(), Err(first), "error not sticky"),
            (None, Ok(())) => {}
            (None, Err(e)) => {
                match &e {
                    Error::Protocol(_) => {}
                    Error::KeepaliveTimeout => {
                        assert!(
                            self.config.ping_interval.is_some(),
                            "keepalive failure without keepalive"
                        )
                    }
                    other => panic!("undocumented error {other:?}"),
                }
                self.error = Some(e);
            }
        }
    }

    /// A data send's result tells the truth and a refused one changes nothing.
    fn sent_data(
        &mut self,
        result: Result<(), SendError>,
        text: bool,
        payload: Vec<u8>,
        shared: bool,
    ) {
        let needed = frame_len(self.role, payload.len());
        self.judge_send(result.clone(), needed);
        if result.is_ok() {
            assert!(!shared || self.role == Role::Server);
            self.sent.push(DataFrame { text, payload });
        }
    }

    fn sent_control(&mut self, result: Result<(), SendError>, payload: &[u8]) {
        if payload.len() > 125 {
            assert_eq!(result, Err(SendError::ControlPayloadTooLong(payload.len())));
            return;
        }
        self.judge_send(result, frame_len(self.role, payload.len()));
    }

    /// Called after the send: the queue is compared with what it was before.
    fn judge_send(&mut self, result: Result<(), SendError>, needed: usize) {
        let limit = self.config.max_outbound_bytes;
        let queued = self.conn.queued_bytes();
        match result {
            Ok(()) => {
                assert!(
                    queued <= limit,
                    "a send queued past the limit: {queued} > {limit}"
                )
            }
            Err(SendError::Closed) => assert!(!self.conn.is_open()),
            Err(SendError::TooLarge {
                needed: n,
                limit: l,
            }) => {
                assert_eq!((n, l), (needed, limit));
                assert!(needed > limit);
            }
            Err(SendError::OutboundFull {
                queued: q,
                needed: n,
                limit: l,
            }) => {
                assert_eq!(
                    (q, n, l),
                    (queued, needed, limit),
                    "OutboundFull misreports"
                );
                assert!(q + n > l && n <= l);
            }
            Err(SendError::SharedFrameFromClient) => assert_eq!(self.role, Role::Client),
            Err(other) => panic!("undocumented send error {other:?}"),
        }
    }

    fn close(&mut self, code: u16, reason: &str) {
        let was_open = self.conn.is_open();
        let result = self.conn.close(CloseCode(code), reason);
        if !CloseCode(code).is_sendable() {
            assert_eq!(result, Err(SendError::InvalidCloseCode(code)));
            return;
        }
        assert_eq!(result, Ok(()), "close is idempotent");
        assert!(!self.conn.is_open());
        if was_open {
            self.local_close = Some(
                CloseFrame {
                    code: CloseCode(code),
                    reason: reason.into(),
                }
                .payload(),
            );
        }
    }

    /// Fires the timer at its deadline, as a driver does; firing must make progress: within
    /// two firings at the same time the deadline moves later or goes.
    fn fire_timer(&mut self) {
        for _ in 0..2 {
            let Some(deadline) = self.conn.poll_timeout() else {
                return;
            };
            self.now = deadline; // may be earlier than the clock: time going backwards
            let result = self.conn.handle_timeout(deadline);
            self.handled(result);
            self.take_events(0);
            match self.conn.poll_timeout() {
                Some(next) if next <= deadline => {}
                _ => return,
            }
        }
        let next = self.conn.poll_timeout();
        panic!(
            "the timer is stuck at {next:?} after firing twice ({:?})",
            self.conn
        );
    }

    fn transmit(&mut self, limit: usize) {
        if limit == 0 {
            let mut out = Vec::new();
            let n = self.conn.poll_transmit(&mut out);
            assert_eq!(n, out.len());
            self.written.push(&out);
            assert_eq!(
                self.conn.queued_bytes(),
                0,
                "bytes left after poll_transmit"
            );
        } else {
            let pending = self.conn.pending_transmit();
            let n = pending.len().min(limit);
            let piece = pending[..n].to_vec();
            assert!(
                n > 0 || self.conn.queued_bytes() == 0,
                "pending is empty with bytes queued"
            );
            self.conn.advance_transmit(n);
            self.written.push(&piece);
        }
    }

    fn take_events(&mut self, n: usize) {
        let mut taken = 0;
        while n == 0 || taken < n {
            let Some(event) = self.conn.poll_event() else {
                break;
            };
            assert!(!self.closed_seen, "event {event:?} after Closed");
            if matches!(event, Event::Closed(_)) {
                self.closed_seen = true;
            }
            self.events.push(event);
            taken += 1;
        }
    }

    /// The invariants that hold after every operation.
    fn check(&mut self) {
        let queued = self.conn.queued_bytes();
        let bound = self.config.max_outbound_bytes + CONTROL_SLACK;
        assert!(queued <= bound, "{queued} bytes queued, more than {bound}");
        if let Some(error) = &self.error {
            assert_eq!(self.conn.error(), Some(error), "the error was forgotten");
        }
        if self.conn.is_finished() {
            let total = self.written.total + queued;
            let first = *self.finished_total.get_or_insert(total);
            assert_eq!(total, first, "a finished connection emitted more bytes");
        }
    }

    fn finish(mut self) {
        self.take_events(0);
        self.transmit(0);
        self.written.assert_whole();
        assert_eq!(
            self.written.data, self.sent,
            "the data frames sent are not the ones accepted"
        );
        let wire_pings: Vec<&Vec<u8>> = self
            .written
            .pings
            .iter()
            .filter(|p| !p.is_empty())
            .collect();
        assert_eq!(
            wire_pings,
            self.user_pings.iter().collect::<Vec<_>>(),
            "pings"
        );
        let received_pings: Vec<Vec<u8>> = self
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Ping(p) => Some(p.to_vec()),
                _ => None,
            })
            .collect();
        for pong in &self.written.pongs {
            let owed = received_pings.contains(pong) || self.user_pongs.contains(pong);
            assert!(owed, "a pong nobody asked for: {pong:?}");
        }
        if let Some(local) = &self.local_close {
            assert_eq!(
                self.written.close.as_ref(),
                Some(local),
                "the caller's close frame"
            );
        }
        self.compare_with_reference();
    }

    /// What the connection reported of its input is what the reference reader reads there.
    fn compare_with_reference(&self) {
        let reading = reference::read(&self.inbound, self.role, Limits::from(&self.config));
        let expected: Vec<Event> = reading
            .items
            .iter()
            .filter_map(|item| match item {
                Item::Message(m) => Some(Event::Message(m.clone())),
                Item::Ping(p) => Some(Event::Ping(p.clone().into())),
                Item::Pong(p) => Some(Event::Pong(p.clone().into())),
                Item::Close(_) => None,
            })
            .collect();
        let got: Vec<Event> = self
            .events
            .iter()
            .filter(|e| !matches!(e, Event::Closed(_)))
            .cloned()
            .collect();
        assert!(
            got.len() <= expected.len(),
            "more was read than the input holds"
        );
        assert_eq!(
            got,
            expected[..got.len()],
            "what was read differs from the reference"
        );
        let peer_close = reading.items.last().and_then(|item| match item {
            Item::Close(frame) => Some(frame),
            _ => None,
        });
        let closed = self.events.iter().find_map(|e| match e {
            Event::Closed(closed) => Some(closed),
            _ => None,
        });
        match (&self.error, closed) {
            (Some(Error::Protocol(violation)), _) => {
                assert_eq!(
                    reading.violation.as_ref(),
                    Some(violation),
                    "a different violation"
                );
                assert_eq!(got, expected, "messages before the violation were lost");
                if self.local_close.is_none() {
                    assert_eq!(self.written.close, Some(violation_close(violation)));
                }
            }
            (_, Some(closed)) if closed.code != CloseCode::ABNORMAL => {
                let frame = peer_close.expect("a close code without the peer's close frame");
                assert_eq!(closed.code, reported_code(frame));
                assert_eq!(
                    closed.reason,
                    frame.as_ref().map(|f| f.reason.clone()).unwrap_or_default()
                );
                assert_eq!(got, expected, "messages before the peer's close were lost");
                if closed.initiator == Initiator::Remote && self.local_close.is_none() {
                    assert_eq!(
                        self.written.close,
                        Some(close_reply(frame)),
                        "the close reply"
                    );
                }
            }
            (None, None) if !self.conn.is_finished() => {
                assert_eq!(
                    got, expected,
                    "an open connection did not read all it was given"
                );
                assert_eq!(reading.violation, None, "a violation went unnoticed");
                assert!(peer_close.is_none(), "the peer's close went unnoticed");
            }
            _ => {}
        }
    }
}

/// The encoded size of a frame with `payload_len` bytes of payload from `role`.
fn frame_len(role: Role, payload_len: usize) -> usize {
    let length_bytes = match payload_len {
        0..=125 => 0,
        126..=0xFFFF => 2,
        _ => 8,
    };
    let mask = if role == Role::Client { 4 } else { 0 };
    2 + length_bytes + mask + payload_len
}
