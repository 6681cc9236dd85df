//! `Connection::send_shared`: a frame encoded once, queued on many server connections. Long
//! frames are queued by reference (the same bytes for every connection), short ones copied; the
//! order of everything queued is kept whichever way the driver drains it.

mod support;

use std::time::Duration;

use proptest::prelude::*;
use sockwright::conn::{Config, Connection, Event, Message, SendError};
use sockwright::frame::{encode_frame, OpCode, SharedFrame};
use support::{client, server, transmit, Pair, RFC_MASK};

/// Drains `conn` through `pending_transmit` / `advance_transmit`, at most `chunk` bytes at a
/// time, as a driver writing to a socket would.
fn drain_in_place(conn: &mut Connection, chunk: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let pending = conn.pending_transmit();
        if pending.is_empty() {
            return out;
        }
        let n = pending.len().min(chunk);
        out.extend_from_slice(&pending[..n]);
        conn.advance_transmit(n);
    }
}

fn server_frame(opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(&mut out, true, opcode, payload, None);
    out
}

#[test]
fn a_shared_frame_is_the_same_bytes_as_a_sent_one() {
    for len in [0, 5, 125, 126, 1023, 1024, 70_000] {
        let payload = vec![b'x'; len];
        let text = String::from_utf8(payload.clone()).unwrap();
        let mut direct = server(Config::default());
        direct.send_text(&text).unwrap();
        let mut shared = server(Config::default());
        shared.send_shared(&SharedFrame::text(&text)).unwrap();
        assert_eq!(shared.queued_bytes(), direct.queued_bytes(), "len {len}");
        assert_eq!(transmit(&mut shared), transmit(&mut direct), "len {len}");
    }
}

#[test]
fn long_frames_are_queued_by_reference_on_every_connection() {
    let frame = SharedFrame::binary(&[9; 4096]);
    let mut conns: Vec<Connection> = (0..3).map(|_| server(Config::default())).collect();
    for conn in &mut conns {
        conn.send_shared(&frame).unwrap();
    }
    for conn in &mut conns {
        let pending = conn.pending_transmit();
        assert_eq!(pending.as_ptr(), frame.bytes().as_ptr(), "not copied");
        assert_eq!(pending.len(), frame.encoded_len());
        conn.advance_transmit(100);
        assert_eq!(
            conn.pending_transmit().as_ptr(),
            frame.bytes()[100..].as_ptr()
        );
    }
}

#[test]
fn short_frames_are_copied_into_the_connections_buffer() {
    let frame = SharedFrame::text("hi");
    let mut conn = server(Config::default());
    conn.send_text("a").unwrap();
    conn.send_shared(&frame).unwrap();
    conn.send_text("b").unwrap();
    // One contiguous piece: the short shared frame joined the connection's own frames.
    let mut expected = server_frame(OpCode::Text, b"a");
    expected.extend(server_frame(OpCode::Text, b"hi"));
    expected.extend(server_frame(OpCode::Text, b"b"));
    assert_eq!(conn.pending_transmit(), &expected[..]);
}

#[test]
fn order_is_kept_across_own_and_shared_frames() {
    let big = SharedFrame::binary(&[1; 2000]);
    let small = SharedFrame::text("small");
    let mut expected = Vec::new();
    let mut conn = server(Config::default());
    conn.send_text("first").unwrap();
    expected.extend(server_frame(OpCode::Text, b"first"));
    conn.send_shared(&big).unwrap();
    expected.extend(big.bytes().iter());
    conn.send_shared(&big).unwrap();
    expected.extend(big.bytes().iter());
    conn.send_shared(&small).unwrap();
    expected.extend(small.bytes().iter());
    conn.send_ping(b"p").unwrap();
    expected.extend(server_frame(OpCode::Ping, b"p"));
    conn.close(sockwright::frame::CloseCode::NORMAL, "")
        .unwrap();
    expected.extend(server_frame(OpCode::Close, &1000u16.to_be_bytes()));
    assert_eq!(conn.queued_bytes(), expected.len());
    assert_eq!(drain_in_place(&mut conn, 333), expected);
    assert_eq!(conn.queued_bytes(), 0);
}

#[test]
fn poll_transmit_appends_every_segment() {
    let big = SharedFrame::binary(&[2; 1500]);
    let mut conn = server(Config::default());
    conn.send_shared(&big).unwrap();
    conn.send_text("after").unwrap();
    let mut out = b"already here".to_vec();
    let n = conn.poll_transmit(&mut out);
    assert_eq!(n, big.encoded_len() + 7);
    assert_eq!(&out[..12], b"already here");
    assert_eq!(&out[12..12 + big.encoded_len()], &big.bytes()[..]);
    assert_eq!(
        &out[12 + big.encoded_len()..],
        server_frame(OpCode::Text, b"after")
    );
    assert!(conn.pending_transmit().is_empty());
}

#[test]
fn the_outbound_limit_counts_shared_frames() {
    let mut config = Config::default();
    config.max_outbound_bytes = 5000;
    let mut conn = server(config);
    let frame = SharedFrame::binary(&[0; 2000]);
    let len = frame.encoded_len();
    conn.send_shared(&frame).unwrap();
    conn.send_shared(&frame).unwrap();
    assert_eq!(
        conn.send_shared(&frame),
        Err(SendError::OutboundFull {
            queued: 2 * len,
            needed: len,
            limit: 5000
        })
    );
    assert_eq!(
        conn.queued_bytes(),
        2 * len,
        "nothing queued by a refused send"
    );
    assert_eq!(
        conn.send_shared(&SharedFrame::binary(&[0; 6000])),
        Err(SendError::TooLarge {
            needed: 6004,
            limit: 5000
        })
    );
    conn.advance_transmit(len);
    conn.send_shared(&frame).unwrap();
}

#[test]
fn a_client_refuses_shared_frames() {
    let mut conn = client(Config::default());
    assert_eq!(
        conn.send_shared(&SharedFrame::text("hi")),
        Err(SendError::SharedFrameFromClient)
    );
    assert_eq!(conn.queued_bytes(), 0);
}

#[test]
fn a_closing_server_refuses_shared_frames() {
    let mut conn = server(Config::default());
    conn.close(sockwright::frame::CloseCode::NORMAL, "bye")
        .unwrap();
    assert_eq!(
        conn.send_shared(&SharedFrame::text("late")),
        Err(SendError::Closed)
    );
}

#[test]
fn an_owed_pong_follows_shared_frames() {
    let mut config = Config::default();
    config.max_outbound_bytes = 2100;
    let mut conn = server(config);
    let frame = SharedFrame::binary(&[3; 2000]);
    conn.send_shared(&frame).unwrap();
    // A ping whose pong does not fit: the pong is owed, then sent after the frame.
    let mut ping = Vec::new();
    encode_frame(&mut ping, true, OpCode::Ping, &[5; 100], Some(RFC_MASK));
    conn.handle_read(Duration::ZERO, &ping).unwrap();
    let mut expected = frame.bytes().to_vec();
    expected.extend(server_frame(OpCode::Pong, &[5; 100]));
    assert_eq!(drain_in_place(&mut conn, usize::MAX), expected);
}

#[test]
fn a_client_receives_shared_frames_as_messages() {
    let mut pair = Pair::new(Config::default());
    let text = SharedFrame::from(&Message::Text("x".repeat(3000)));
    let binary = SharedFrame::from(&Message::Binary(vec![4; 10].into()));
    pair.server.send_shared(&text).unwrap();
    pair.server.send_text("between").unwrap();
    pair.server.send_shared(&binary).unwrap();
    pair.drive();
    assert_eq!(
        pair.client_events,
        vec![
            Event::Message(Message::Text("x".repeat(3000))),
            Event::Message(Message::Text("between".into())),
            Event::Message(Message::Binary(vec![4; 10].into())),
        ]
    );
}

#[derive(Clone, Debug)]
enum Op {
    Text(usize),
    Shared(usize),
    Ping,
    /// Drain this many bytes in place.
    Write(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0usize..3000).prop_map(Op::Text),
        (0usize..3000).prop_map(Op::Shared),
        Just(Op::Ping),
        (0usize..5000).prop_map(Op::Write),
    ]
}

proptest! {
    /// Whatever is queued, in whatever order, and however the driver drains it (in place, in
    /// pieces, or all at once), the wire carries exactly the frames in the order they were
    /// queued, and `queued_bytes` counts what is left.
    #[test]
    fn the_wire_carries_every_frame_in_order(
        ops in proptest::collection::vec(op(), 0..40),
        chunk in 1usize..4000,
        at_once in any::<bool>(),
    ) {
        let mut conn = server(Config::default());
        let mut expected = Vec::new();
        let mut wire = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            let byte = i as u8;
            match op {
                Op::Text(len) => {
                    conn.send_binary(&vec![byte; *len]).unwrap();
                    expected.extend(server_frame(OpCode::Binary, &vec![byte; *len]));
                }
                Op::Shared(len) => {
                    let frame = SharedFrame::binary(&vec![byte; *len]);
                    conn.send_shared(&frame).unwrap();
                    expected.extend(frame.bytes().iter());
                }
                Op::Ping => {
                    conn.send_ping(&[byte]).unwrap();
                    expected.extend(server_frame(OpCode::Ping, &[byte]));
                }
                Op::Write(n) => {
                    let pending = conn.pending_transmit();
                    let n = (*n).min(pending.len());
                    wire.extend_from_slice(&pending[..n]);
                    conn.advance_transmit(n);
                }
            }
            prop_assert_eq!(conn.queued_bytes(), expected.len() - wire.len());
        }
        if at_once {
            conn.poll_transmit(&mut wire);
        } else {
            wire.extend(drain_in_place(&mut conn, chunk));
        }
        prop_assert_eq!(conn.queued_bytes(), 0);
        prop_assert_eq!(wire, expected);
    }
}
