//! Differential test: the same client bytes go to a sockwright server connection and to a
//! tungstenite server (an independent implementation). Both must deliver the same messages
//! and agree on whether the peer broke the protocol.

mod support;

use std::io::{self, Cursor, Read, Write};
use std::time::Duration;

use proptest::prelude::*;
use sockwright::conn::{Config, Event, Message};
use sockwright::frame::{encode_frame, OpCode};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{Role, WebSocket, WebSocketConfig};
use tungstenite::Message as TMessage;

/// A stream that reads a fixed input and swallows writes.
struct Replay(Cursor<Vec<u8>>);

impl Read for Replay {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for Replay {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What a receiver made of the input: its messages (text or binary, with payload) and
/// whether it rejected the peer.
#[derive(Debug, PartialEq)]
struct Outcome {
    messages: Vec<(bool, Vec<u8>)>,
    violation: bool,
}

fn tungstenite_outcome(wire: &[u8]) -> Outcome {
    let config = WebSocketConfig::default()
        .max_message_size(Some(16 << 20))
        .max_frame_size(Some(16 << 20));
    let mut ws = WebSocket::from_raw_socket(
        Replay(Cursor::new(wire.to_vec())),
        Role::Server,
        Some(config),
    );
    let mut messages = Vec::new();
    let violation = loop {
        match ws.read() {
            Ok(TMessage::Text(t)) => messages.push((true, t.as_bytes().to_vec())),
            Ok(TMessage::Binary(b)) => messages.push((false, b.to_vec())),
            // tungstenite answers a forbidden close code with its own 1002 close and reports
            // that substitute instead of an error; sockwright reports the violation. Both
            // reject the peer with 1002 on the wire.
            Ok(TMessage::Close(Some(f)))
                if f.code == CloseCode::Protocol && f.reason == "Protocol violation" =>
            {
                break true
            }
            Ok(TMessage::Close(_)) => break false,
            Ok(_) => {}
            // The input ran out: not the peer's violation, only the end of the test.
            Err(tungstenite::Error::Protocol(
                tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
            ))
            | Err(tungstenite::Error::ConnectionClosed)
            | Err(tungstenite::Error::AlreadyClosed) => break false,
            Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                break false
            }
            Err(_) => break true,
        }
    };
    Outcome {
        messages,
        violation,
    }
}

fn sockwright_outcome(wire: &[u8]) -> Outcome {
    let mut conn = sockwright::conn::Connection::server(Config::default(), Duration::ZERO);
    let violation = conn.handle_read(Duration::ZERO, wire).is_err();
    let messages = std::iter::from_fn(|| conn.poll_event())
        .filter_map(|e| match e {
            Event::Message(Message::Text(t)) => Some((true, t.into_bytes())),
            Event::Message(Message::Binary(b)) => Some((false, b.to_vec())),
            _ => None,
        })
        .collect();
    Outcome {
        messages,
        violation,
    }
}

/// A frame with a chosen first byte (FIN/RSV/opcode) and payload, masked or not.
fn frame(b0: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(
        &mut out,
        true,
        OpCode::Binary,
        payload,
        masked.then_some([0x11, 0x22, 0x33, 0x44]),
    );
    out[0] = b0;
    out
}

fn any_frame() -> impl Strategy<Value = Vec<u8>> {
    let b0 = prop_oneof![
        6 => prop::sample::select(vec![0x81u8, 0x82, 0x01, 0x02, 0x00, 0x80, 0x89, 0x8a]),
        1 => prop::sample::select(vec![0x88u8, 0x83, 0x8b, 0xc1, 0xa2, 0x91, 0x09]),
    ];
    let payload = prop_oneof![
        3 => any::<String>().prop_map(String::into_bytes),
        2 => prop::collection::vec(any::<u8>(), 0..200),
        1 => prop::sample::select(vec![b"\x03\xe8".to_vec(), b"\x03\xe8ok".to_vec(), b"\x03\xed".to_vec(), b"\x03".to_vec(), b"\xce".to_vec(), b"\xed\xa0\x80".to_vec()]),
    ];
    (b0, payload, prop::bool::weighted(0.95)).prop_map(|(b0, payload, masked)| {
        // A control frame over 125 bytes is one of the violations tested; keep most legal.
        frame(b0, &payload, masked)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn sockwright_and_tungstenite_agree(frames in prop::collection::vec(any_frame(), 1..8)) {
        let wire = frames.concat();
        prop_assert_eq!(sockwright_outcome(&wire), tungstenite_outcome(&wire), "wire {:x?}", wire);
    }
}

#[test]
fn they_agree_on_the_classic_cases() {
    let cases: &[(&str, Vec<u8>)] = &[
        ("masked text", frame(0x81, b"Hello", true)),
        (
            "fragmented text",
            [
                frame(0x01, b"Hel", true),
                frame(0x89, b"", true),
                frame(0x80, b"lo", true),
            ]
            .concat(),
        ),
        ("unmasked from client", frame(0x81, b"Hello", false)),
        ("invalid utf-8", frame(0x81, b"\xff", true)),
        ("reserved opcode", frame(0x83, b"", true)),
        ("rsv1", frame(0xc1, b"x", true)),
        ("close 1005", frame(0x88, b"\x03\xed", true)),
        (
            "then close",
            [
                frame(0x82, b"bin", true),
                frame(0x88, b"\x03\xe8", true),
                frame(0x82, b"after", true),
            ]
            .concat(),
        ),
    ];
    for (name, wire) in cases {
        assert_eq!(
            sockwright_outcome(wire),
            tungstenite_outcome(wire),
            "case {name:?}"
        );
    }
}
