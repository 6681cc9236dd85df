//! The byte vectors of RFC 6455 §5.7, received and sent, by client and server (mirrored test
//! names, after Python websockets' frame tests).

mod support;

use bytes::Bytes;
use sockwright::conn::{Config, Event, Message};
use support::{client, events, server, transmit};

const UNMASKED_HELLO: &[u8] = &[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
const MASKED_HELLO: &[u8] = &[
    0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
];
const UNMASKED_FRAGMENTED_HELLO: &[u8] = &[0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f];
const UNMASKED_PING_HELLO: &[u8] = &[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
const MASKED_PONG_HELLO: &[u8] = &[
    0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
];

fn text(s: &str) -> Event {
    Event::Message(Message::Text(s.into()))
}

fn binary_frame_header(len: usize) -> Vec<u8> {
    match len {
        256 => vec![0x82, 0x7e, 0x01, 0x00],
        65536 => vec![0x82, 0x7f, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00],
        _ => unreachable!("only the RFC's two lengths"),
    }
}

#[test]
fn client_receives_unmasked_text() {
    let mut c = client(Config::default());
    c.handle_read(Default::default(), UNMASKED_HELLO).unwrap();
    assert_eq!(events(&mut c), [text("Hello")]);
}

#[test]
fn server_receives_masked_text() {
    let mut s = server(Config::default());
    s.handle_read(Default::default(), MASKED_HELLO).unwrap();
    assert_eq!(events(&mut s), [text("Hello")]);
}

#[test]
fn client_sends_masked_text() {
    let mut c = client(Config::default());
    c.send_text("Hello").unwrap();
    assert_eq!(transmit(&mut c), MASKED_HELLO);
}

#[test]
fn server_sends_unmasked_text() {
    let mut s = server(Config::default());
    s.send_text("Hello").unwrap();
    assert_eq!(transmit(&mut s), UNMASKED_HELLO);
}

#[test]
fn client_receives_fragmented_unmasked_text() {
    let mut c = client(Config::default());
    c.handle_read(Default::default(), &UNMASKED_FRAGMENTED_HELLO[..5])
        .unwrap();
    assert_eq!(events(&mut c), [], "no event before the final fragment");
    c.handle_read(Default::default(), &UNMASKED_FRAGMENTED_HELLO[5..])
        .unwrap();
    assert_eq!(events(&mut c), [text("Hello")]);
}

#[test]
fn client_receives_unmasked_ping_and_sends_masked_pong() {
    let mut c = client(Config::default());
    c.handle_read(Default::default(), UNMASKED_PING_HELLO)
        .unwrap();
    assert_eq!(events(&mut c), [Event::Ping(Bytes::from_static(b"Hello"))]);
    assert_eq!(transmit(&mut c), MASKED_PONG_HELLO);
}

#[test]
fn server_receives_masked_pong() {
    let mut s = server(Config::default());
    s.handle_read(Default::default(), MASKED_PONG_HELLO)
        .unwrap();
    assert_eq!(events(&mut s), [Event::Pong(Bytes::from_static(b"Hello"))]);
    assert_eq!(transmit(&mut s), b"", "a pong is not answered");
}

#[test]
fn client_receives_256_and_65536_byte_binary_with_16_and_64_bit_lengths() {
    for len in [256, 65536] {
        let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let mut wire = binary_frame_header(len);
        wire.extend_from_slice(&payload);
        let mut c = client(Config::default());
        c.handle_read(Default::default(), &wire).unwrap();
        assert_eq!(
            events(&mut c),
            [Event::Message(Message::Binary(payload.into()))],
            "length {len}"
        );
    }
}

#[test]
fn server_sends_256_and_65536_byte_binary_with_16_and_64_bit_lengths() {
    for len in [256, 65536] {
        let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let mut s = server(Config::default());
        s.send_binary(&payload).unwrap();
        let mut expected = binary_frame_header(len);
        expected.extend_from_slice(&payload);
        assert_eq!(transmit(&mut s), expected, "length {len}");
    }
}

#[test]
fn the_three_length_encodings_at_their_edges_round_trip() {
    for len in [0, 1, 125, 126, 127, 65535, 65536, 70000] {
        let payload: Vec<u8> = (0..len).map(|i| (i * 31) as u8).collect();
        let mut c = client(Config::default());
        c.send_binary(&payload).unwrap();
        let mut s = server(Config::default());
        s.handle_read(Default::default(), &transmit(&mut c))
            .unwrap();
        assert_eq!(
            events(&mut s),
            [Event::Message(Message::Binary(payload.clone().into()))],
            "length {len}"
        );
        s.send_binary(&payload).unwrap();
        c.handle_read(Default::default(), &transmit(&mut s))
            .unwrap();
        assert_eq!(
            events(&mut c),
            [Event::Message(Message::Binary(payload.into()))],
            "length {len}"
        );
    }
}

/// A length written in a longer form than needed (RFC 6455 §5.2 asks for the shortest) is
/// read as sent, whole or byte by byte. Found by the frame_client fuzz target: the reader
/// took the header for its shortest length, then misread the frame, or (when the header
/// arrived in pieces) panicked on a subtraction that went below zero.
#[test]
fn client_receives_lengths_in_longer_forms_than_needed() {
    let frames: [&[u8]; 2] = [
        &[0x82, 0x7e, 0x00, 0x01, b'x', 0x81, 0x02, b'o', b'k'],
        &[
            0x82, 0x7f, 0, 0, 0, 0, 0, 0, 0, 0x01, b'x', 0x81, 0x02, b'o', b'k',
        ],
    ];
    for stream in frames {
        for piece in [stream.len(), 1] {
            let mut c = client(Config::default());
            for chunk in stream.chunks(piece) {
                c.handle_read(Default::default(), chunk).unwrap();
            }
            let binary = Event::Message(Message::Binary(Bytes::from_static(b"x")));
            assert_eq!(
                events(&mut c),
                [binary, text("ok")],
                "{stream:x?} in pieces of {piece}"
            );
        }
    }
}
