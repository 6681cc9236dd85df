//! Targets `frame_server` and `frame_client`: the frame decoder, as a connection in either
//! role reads it, fed in one piece, one byte at a time and in an arbitrary chunking.
//!
//! Input: a settings byte (bits 0–1 pick the size limits, bit 2 allows RSV1), a chunking seed
//! byte, then the inbound byte stream.
//!
//! Oracles: every chunking gives the same events, the same error and the same output bytes;
//! they are what the [reference reader](crate::reference) says (messages, pings, pongs, the
//! peer's close, the first violation); each ping gets its pong and a violation or a close gets
//! the right close frame, and nothing is written after it; the output is well-formed for the
//! role; and each decoded message, encoded again by the core, decodes to itself.

use core::time::Duration;

use sockwright::conn::{Closed, Config, Connection, Error, Event, Initiator, Message, Role};
use sockwright::frame::{encode_frame, FrameHeader, OpCode, MAX_HEADER_LEN};

use crate::input::chunkings;
use crate::reference::{self, close_reply, reported_code, violation_close, Item, Limits};
use crate::wire::Written;

/// The frame decoder as a server reads it (masked client frames).
pub fn run_frame_server(data: &[u8]) {
    run(data, Role::Server);
}

/// The frame decoder as a client reads it (unmasked server frames).
pub fn run_frame_client(data: &[u8]) {
    run(data, Role::Client);
}

/// The limits a settings byte picks: the defaults, or small ones that inputs can reach.
pub fn config_for(settings: u8) -> Config {
    let mut config = Config::default();
    let (frame, message) = match settings & 0b11 {
        0 => (config.max_frame_size, config.max_message_size),
        1 => (1024, 4096),
        2 => (64, 100),
        _ => (0, 0),
    };
    config.max_frame_size = frame;
    config.max_message_size = message;
    config.allowed_rsv_bits = if settings & 0b100 != 0 { 0b100 } else { 0 };
    config
}

/// What a connection made of an input: everything observable.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    events: Vec<Event>,
    error: Option<Error>,
    pongs: Vec<Vec<u8>>,
    close: Option<Vec<u8>>,
}

fn run(data: &[u8], role: Role) {
    let [settings, seed, stream @ ..] = data else {
        return;
    };
    let config = config_for(*settings);
    round_trip_header(stream);
    let [whole, bytewise, chunked] =
        chunkings(stream, *seed).map(|pieces| read_in_pieces(role, &config, &pieces));
    assert_eq!(bytewise, whole, "one byte at a time differs from one piece");
    assert_eq!(chunked, whole, "chunked differs from one piece");

    let expected = expected_outcome(stream, role, &config);
    assert_eq!(
        whole, expected,
        "the connection differs from the reference reader"
    );

    for event in &whole.events {
        if let Event::Message(message) = event {
            round_trip_message(message, role, &config);
        }
    }
}

/// Feeds the pieces, draining events and transmit after each, as a driver does.
fn read_in_pieces(role: Role, config: &Config, pieces: &[&[u8]]) -> Outcome {
    let mut conn = new_connection(role, config.clone());
    let mut written = Written::new(role);
    let mut events = Vec::new();
    let mut error: Option<Error> = None;
    for piece in pieces {
        match conn.handle_read(Duration::ZERO, piece) {
            Ok(()) => assert_eq!(error, None, "an error was not sticky"),
            Err(e) => match &error {
                Some(first) => assert_eq!(&e, first, "a sticky error changed"),
                None => error = Some(e),
            },
        }
        drain(&mut conn, &mut events, &mut written);
    }
    written.assert_whole();
    assert!(
        written.data.is_empty() && written.pings.is_empty(),
        "unasked-for data or ping"
    );
    Outcome {
        events,
        error,
        pongs: written.pongs,
        close: written.close,
    }
}

/// A connection in `role`; a client's masking keys are a counter.
pub fn new_connection(role: Role, config: Config) -> Connection {
    match role {
        Role::Server => Connection::server(config, Duration::ZERO),
        Role::Client => {
            let mut n = 0u32;
            Connection::client(config, Duration::ZERO, move || {
                n = n.wrapping_add(0x0101_0101);
                n.to_be_bytes()
            })
        }
    }
}

fn drain(conn: &mut Connection, events: &mut Vec<Event>, written: &mut Written) {
    while let Some(event) = conn.poll_event() {
        events.push(event);
    }
    let mut out = Vec::new();
    conn.poll_transmit(&mut out);
    written.push(&out);
}

/// What the reference reader says the connection must do with `stream`.
fn expected_outcome(stream: &[u8], role: Role, config: &Config) -> Outcome {
    let reading = reference::read(stream, role, Limits::from(config));
    let mut events = Vec::new();
    let mut pongs = Vec::new();
    let mut close = None;
    for item in reading.items {
        match item {
            Item::Message(message) => events.push(Event::Message(message)),
            Item::Ping(payload) => {
                pongs.push(payload.clone());
                events.push(Event::Ping(payload.into()));
            }
            Item::Pong(payload) => events.push(Event::Pong(payload.into())),
            Item::Close(frame) => {
                close = Some(close_reply(&frame));
                events.push(Event::Closed(Closed {
                    initiator: Initiator::Remote,
                    code: reported_code(&frame),
                    reason: frame.map(|f| f.reason).unwrap_or_default(),
                }));
            }
        }
    }
    let error = reading.violation.map(|v| {
        close = Some(violation_close(&v));
        Error::Protocol(v)
    });
    Outcome {
        events,
        error,
        pongs,
        close,
    }
}

/// The header length decode reports is the bytes the header took; the header, encoded again,
/// decodes to itself, and in its shortest form it is the same bytes.
fn round_trip_header(stream: &[u8]) {
    let Ok(Some((header, len))) = FrameHeader::decode(stream) else {
        return;
    };
    let length_bytes = match stream[1] & 0x7F {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let mask_bytes = if header.mask.is_some() { 4 } else { 0 };
    assert_eq!(
        len,
        2 + length_bytes + mask_bytes,
        "decode reports the wrong header length"
    );
    let mut out = [0u8; MAX_HEADER_LEN];
    let written = header.encode(&mut out);
    assert_eq!(written, header.encoded_len());
    assert_eq!(
        FrameHeader::decode(&out[..written]),
        Ok(Some((header, written)))
    );
    if written == len {
        assert_eq!(
            &out[..written],
            &stream[..len],
            "shortest form re-encodes differently"
        );
    }
}

/// A message decoded by `role`, encoded by its peer with the core's encoder, decodes to itself.
///
/// The message may have come in fragments and be longer than one frame may be, so it goes back
/// in fragments no longer than the frame limit (text split anywhere, even inside a character).
fn round_trip_message(message: &Message, role: Role, config: &Config) {
    let (opcode, payload) = match message {
        Message::Text(text) => (OpCode::Text, text.as_bytes()),
        Message::Binary(data) => (OpCode::Binary, &data[..]),
    };
    let mask = (role == Role::Server).then_some([0xA5, 0x01, 0xFF, 0x7E]);
    let mut frames = Vec::new();
    let piece_len = config.max_frame_size.max(1);
    let pieces: Vec<&[u8]> = if payload.is_empty() {
        vec![payload]
    } else {
        payload.chunks(piece_len).collect()
    };
    for (i, piece) in pieces.iter().enumerate() {
        let opcode = if i == 0 { opcode } else { OpCode::Continuation };
        encode_frame(&mut frames, i + 1 == pieces.len(), opcode, piece, mask);
    }
    let mut conn = new_connection(role, config.clone());
    assert_eq!(conn.handle_read(Duration::ZERO, &frames), Ok(()));
    assert_eq!(conn.poll_event(), Some(Event::Message(message.clone())));
    assert_eq!(conn.poll_event(), None);
}
