//! Relay phase 2: messages, closes and failures crossing between a client and an upstream
//! through the relay, on a virtual clock.

mod relay_support;

use std::time::Duration;

use relay_support::{Trio, MASK};
use sockwright::conn::{Closed, Config, Connection, Event, Initiator, Message};
use sockwright::frame::{encode_frame, CloseCode, OpCode};
use sockwright::relay::{Relay, RelayConfig, RelayEvent, RelayStats, RoleMismatch, Side};

fn text(s: &str) -> Message {
    Message::Text(s.into())
}

fn binary(b: &[u8]) -> Message {
    Message::Binary(b.to_vec().into())
}

fn closed(initiator: Initiator, code: u16, reason: &str) -> Closed {
    Closed {
        initiator,
        code: CloseCode(code),
        reason: reason.into(),
    }
}

fn finished(t: &Trio) -> Option<RelayStats> {
    let mut found = t.relay_events.iter().filter_map(|e| match e {
        RelayEvent::Finished(s) => Some(*s),
        _ => None,
    });
    let first = found.next();
    assert!(found.next().is_none(), "Finished is reported once");
    first
}

#[test]
fn messages_keep_their_type_both_ways() {
    let mut t = Trio::new(RelayConfig::default());
    t.client.send_text("hello").unwrap();
    t.client.send_binary(&[0, 159, 146, 150]).unwrap();
    t.client.send_text("").unwrap();
    t.upstream.send_binary(b"").unwrap();
    t.upstream.send_text("héllo").unwrap();
    t.drive();
    assert_eq!(
        Trio::messages(&t.upstream_events),
        [text("hello"), binary(&[0, 159, 146, 150]), text("")]
    );
    assert_eq!(
        Trio::messages(&t.client_events),
        [binary(b""), text("héllo")]
    );
    assert!(t.relay.wants_front_read() && t.relay.wants_back_read());
}

#[test]
fn fragmented_and_large_messages_arrive_whole() {
    let mut t = Trio::new(RelayConfig::default());
    t.read_chunk = 1000;
    // A text message in three fragments, with a ping between them, straight onto the wire.
    let mut wire = Vec::new();
    encode_frame(
        &mut wire,
        false,
        OpCode::Text,
        "frag".as_bytes(),
        Some(MASK),
    );
    encode_frame(
        &mut wire,
        false,
        OpCode::Continuation,
        "men".as_bytes(),
        Some(MASK),
    );
    encode_frame(&mut wire, true, OpCode::Ping, b"p", Some(MASK));
    encode_frame(
        &mut wire,
        true,
        OpCode::Continuation,
        "ted é".as_bytes(),
        Some(MASK),
    );
    t.c2r.bytes.extend(wire);
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let big_text = "ü".repeat(500_000);
    t.client.send_binary(&big).unwrap();
    t.upstream.send_text(&big_text).unwrap();
    t.upstream.send_binary(&big).unwrap();
    t.drive();
    assert_eq!(
        Trio::messages(&t.upstream_events),
        [text("fragmented é"), Message::Binary(big.clone().into())]
    );
    assert_eq!(
        Trio::messages(&t.client_events),
        [text(&big_text), Message::Binary(big.into())]
    );
    // The relay answered the client's ping itself; nothing crossed.
    assert!(!t
        .upstream_events
        .iter()
        .any(|e| matches!(e, Event::Ping(_))));
}

#[test]
fn pings_are_answered_per_hop_and_not_forwarded() {
    let mut t = Trio::new(RelayConfig::default());
    t.client.send_ping(b"c").unwrap();
    t.upstream.send_ping(b"u").unwrap();
    t.drive();
    assert_eq!(t.client_events, [Event::Pong(b"c".to_vec().into())]);
    assert_eq!(t.upstream_events, [Event::Pong(b"u".to_vec().into())]);
}

#[test]
fn client_close_code_and_reason_reach_the_upstream() {
    let mut t = Trio::new(RelayConfig::default());
    t.client.send_text("last").unwrap();
    t.client.close(CloseCode(4000), "bye now").unwrap();
    t.drive();
    assert_eq!(Trio::messages(&t.upstream_events), [text("last")]);
    assert_eq!(
        Trio::closed(&t.upstream_events),
        Some(closed(Initiator::Remote, 4000, "bye now"))
    );
    assert_eq!(
        Trio::closed(&t.client_events),
        Some(closed(Initiator::Local, 4000, ""))
    );
    assert!(t.relay_events.contains(&RelayEvent::FrontClosed(closed(
        Initiator::Remote,
        4000,
        "bye now"
    ))));
    assert!(t
        .relay_events
        .contains(&RelayEvent::BackClosed(closed(Initiator::Local, 4000, ""))));
    assert_eq!(
        finished(&t),
        Some(RelayStats {
            to_back: 1,
            ..RelayStats::default()
        })
    );
    assert!(t.relay.is_finished());
    assert!(matches!(
        t.relay_events.last(),
        Some(RelayEvent::Finished(_))
    ));
}

#[test]
fn upstream_close_code_and_reason_reach_the_client() {
    let mut t = Trio::new(RelayConfig::default());
    t.upstream.send_binary(b"x").unwrap();
    t.upstream
        .close(CloseCode::GOING_AWAY, "restarting")
        .unwrap();
    t.drive();
    assert_eq!(Trio::messages(&t.client_events), [binary(b"x")]);
    assert_eq!(
        Trio::closed(&t.client_events),
        Some(closed(Initiator::Remote, 1001, "restarting"))
    );
    assert_eq!(
        Trio::closed(&t.upstream_events),
        Some(closed(Initiator::Local, 1001, ""))
    );
    assert!(t.relay.is_finished());
}

#[test]
fn a_close_without_a_code_crosses_as_1000() {
    let mut t = Trio::new(RelayConfig::default());
    let mut frame = Vec::new();
    encode_frame(&mut frame, true, OpCode::Close, b"", Some(MASK));
    t.c2r.bytes.extend(frame);
    t.drive();
    assert_eq!(
        Trio::closed(&t.upstream_events),
        Some(closed(Initiator::Remote, 1000, ""))
    );
    assert!(t.relay_events.contains(&RelayEvent::FrontClosed(closed(
        Initiator::Remote,
        1005,
        ""
    ))));
}

#[test]
fn upstream_gone_mid_stream_gives_the_client_1011() {
    let mut t = Trio::new(RelayConfig::default());
    t.upstream.send_text("before").unwrap();
    t.drive();
    t.u2r.eof = true;
    t.upstream_reads = false;
    t.drive();
    assert_eq!(Trio::messages(&t.client_events), [text("before")]);
    assert_eq!(
        Trio::closed(&t.client_events),
        Some(closed(Initiator::Remote, 1011, "upstream connection lost"))
    );
    assert!(t
        .relay_events
        .contains(&RelayEvent::BackClosed(closed(Initiator::Remote, 1006, ""))));
    assert!(t.relay.is_finished());
    assert!(finished(&t).is_some());
}

#[test]
fn upstream_protocol_violation_gives_the_client_1014() {
    let mut t = Trio::new(RelayConfig::default());
    t.upstream.send_text("ok").unwrap();
    t.drive();
    // A text frame that is not UTF-8, straight onto the wire.
    let mut frame = Vec::new();
    encode_frame(&mut frame, true, OpCode::Text, &[0xFF, 0xFE], None);
    t.u2r.bytes.extend(frame);
    t.drive();
    assert_eq!(Trio::messages(&t.client_events), [text("ok")]);
    let got = Trio::closed(&t.client_events).expect("client closed");
    assert_eq!(
        (got.initiator, got.code),
        (Initiator::Remote, CloseCode::BAD_GATEWAY)
    );
    assert!(
        got.reason.starts_with("upstream broke the protocol: "),
        "{}",
        got.reason
    );
    // The upstream got the relay's 1007.
    assert_eq!(
        Trio::closed(&t.upstream_events).map(|c| c.code),
        Some(CloseCode::INVALID_PAYLOAD)
    );
    assert!(t
        .relay_events
        .iter()
        .any(|e| matches!(e, RelayEvent::BackFailed(_))));
    t.u2r.eof = true; // the upstream drops its end after the close
    t.drive();
    assert!(t.relay.is_finished());
}

#[test]
fn client_gone_gives_the_upstream_1001() {
    let mut t = Trio::new(RelayConfig::default());
    t.client.send_text("hi").unwrap();
    t.drive();
    t.c2r.eof = true;
    t.client_reads = false;
    t.drive();
    assert_eq!(Trio::messages(&t.upstream_events), [text("hi")]);
    assert_eq!(
        Trio::closed(&t.upstream_events),
        Some(closed(Initiator::Remote, 1001, "client went away"))
    );
    assert!(t.relay.is_finished());
}

#[test]
fn client_protocol_violation_gives_the_upstream_1001_with_the_reason() {
    let mut t = Trio::new(RelayConfig::default());
    let mut frame = Vec::new();
    encode_frame(&mut frame, true, OpCode::Text, b"unmasked", None);
    t.c2r.bytes.extend(frame);
    t.drive();
    let got = Trio::closed(&t.upstream_events).expect("upstream closed");
    assert_eq!(got.code, CloseCode::GOING_AWAY);
    assert!(
        got.reason.starts_with("client broke the protocol: "),
        "{}",
        got.reason
    );
    assert_eq!(
        Trio::closed(&t.client_events).map(|c| c.code),
        Some(CloseCode::PROTOCOL_ERROR)
    );
}

#[test]
fn upstream_silent_after_keepalive_gives_the_client_1011() {
    let mut cfg = RelayConfig::default();
    cfg.back_conn.ping_interval = Some(Duration::from_secs(30));
    let mut t = Trio::new(cfg);
    t.upstream_reads = false; // a hung upstream: reads nothing, answers nothing
    t.advance(Duration::from_secs(30 + 20));
    let got = Trio::closed(&t.client_events).expect("client closed");
    assert_eq!(
        (got.code, got.reason.as_str()),
        (
            CloseCode::INTERNAL_ERROR,
            "upstream went silent (keepalive timeout)"
        )
    );
}

#[test]
fn relay_close_closes_both_sides() {
    let mut t = Trio::new(RelayConfig::default());
    assert_eq!(
        t.relay.close(CloseCode::ABNORMAL, "x"),
        Err(sockwright::conn::SendError::InvalidCloseCode(1006))
    );
    t.relay
        .close(CloseCode::GOING_AWAY, "relay shutting down")
        .unwrap();
    t.drive();
    for events in [&t.client_events, &t.upstream_events] {
        assert_eq!(
            Trio::closed(events),
            Some(closed(Initiator::Remote, 1001, "relay shutting down"))
        );
    }
    assert!(t.relay.is_finished());
}

#[test]
fn messages_after_the_other_side_closed_are_counted_undelivered() {
    let mut t = Trio::new(RelayConfig::default());
    t.client.close(CloseCode::NORMAL, "done").unwrap();
    // The upstream sends before it sees the close.
    t.upstream.send_text("late 1").unwrap();
    t.upstream.send_text("late 2").unwrap();
    t.drive();
    assert!(Trio::messages(&t.client_events).is_empty());
    assert_eq!(
        finished(&t),
        Some(RelayStats {
            undelivered_to_front: 2,
            ..RelayStats::default()
        })
    );
}

#[test]
fn a_message_too_big_for_the_other_side_closes_its_sender_with_1009() {
    let mut cfg = RelayConfig::default();
    cfg.back_conn.max_outbound_bytes = 1000;
    let mut t = Trio::new(cfg);
    t.client.send_text("small").unwrap();
    t.client.send_binary(&[7; 2000]).unwrap();
    t.client.send_text("after").unwrap();
    t.drive();
    assert_eq!(Trio::messages(&t.upstream_events), [text("small")]);
    let got = Trio::closed(&t.client_events).expect("client closed");
    assert_eq!(got.code, CloseCode::MESSAGE_TOO_BIG);
    assert!(got.reason.contains("limit 1000"), "{}", got.reason);
    assert_eq!(
        Trio::closed(&t.upstream_events),
        Some(closed(
            Initiator::Remote,
            1001,
            "client sent a message too big to relay"
        ))
    );
    assert_eq!(
        finished(&t),
        Some(RelayStats {
            to_back: 1,
            undelivered_to_back: 2,
            ..RelayStats::default()
        })
    );
}

#[test]
fn backpressure_stops_reading_the_other_side_and_loses_nothing() {
    let mut cfg = RelayConfig::default();
    cfg.back_conn.max_outbound_bytes = 10_000;
    cfg.front_conn.max_outbound_bytes = 10_000;
    let mut t = Trio::new(cfg);
    t.read_chunk = 4096;
    t.wire_limit = 8192;
    t.upstream_reads = false;
    t.client_reads = false;
    let sent: Vec<Message> = (0..200u32)
        .map(|i| binary(&vec![i as u8; 100 + (i as usize * 37) % 900]))
        .collect();
    for m in &sent {
        match m {
            Message::Binary(b) => {
                t.client.send_binary(b).unwrap();
                t.upstream.send_binary(b).unwrap();
            }
            Message::Text(_) => unreachable!(),
        }
        t.drive();
    }
    assert!(!t.relay.wants_front_read(), "the upstream is not reading");
    assert!(!t.relay.wants_back_read(), "the client is not reading");
    assert!(
        !t.c2r.bytes.is_empty() && !t.u2r.bytes.is_empty(),
        "the excess waits in the wires"
    );
    // Inside the relay: each outbound queue under its limit (+ a control frame), one held
    // message per direction, at most one read chunk of decoded messages.
    assert!(
        t.max_relay_queued <= 2 * (10_000 + 200),
        "{}",
        t.max_relay_queued
    );
    let back = t.relay.connection(Side::Back).unwrap();
    assert!(back.queued_bytes() <= 10_000);
    t.upstream_reads = true;
    t.client_reads = true;
    t.drive();
    assert_eq!(Trio::messages(&t.upstream_events), sent);
    assert_eq!(Trio::messages(&t.client_events), sent);
    assert!(t.relay.wants_front_read() && t.relay.wants_back_read());
}

#[test]
fn backpressure_with_pending_and_advance() {
    // A driver that writes in place, a few bytes at a time.
    let mut cfg = RelayConfig::default();
    cfg.back_conn.max_outbound_bytes = 64;
    let mut t = Trio::new(cfg);
    let mut upstream = Connection::server(Config::default(), t.now);
    std::mem::swap(&mut upstream, &mut t.upstream);
    for i in 0..20u8 {
        t.client.send_binary(&[i; 40]).unwrap();
    }
    let mut wire = Vec::new();
    t.client.poll_transmit(&mut wire);
    let mut got = Vec::new();
    let mut fed = 0;
    for _ in 0..10_000 {
        if t.relay.wants_front_read() && fed < wire.len() {
            let n = (wire.len() - fed).min(7);
            t.relay.handle_front_read(t.now, &wire[fed..fed + n]);
            fed += n;
        }
        let pending = t.relay.pending_back_transmit();
        let n = pending.len().min(5);
        let chunk = pending[..n].to_vec();
        t.relay.advance_back_transmit(n);
        upstream.handle_read(t.now, &chunk).unwrap();
        while let Some(e) = upstream.poll_event() {
            got.push(e);
        }
        assert!(t.relay.connection(Side::Back).unwrap().queued_bytes() <= 64);
    }
    let want: Vec<Event> = (0..20u8)
        .map(|i| Event::Message(binary(&[i; 40])))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn from_connections_checks_roles() {
    let server = || Connection::server(Config::default(), Duration::ZERO);
    let client = || Connection::client(Config::default(), Duration::ZERO, || MASK);
    assert_eq!(
        Relay::from_connections(client(), server()).err(),
        Some(RoleMismatch)
    );
    assert_eq!(
        Relay::from_connections(server(), server()).err(),
        Some(RoleMismatch)
    );
    let mut relay = Relay::from_connections(server(), client()).expect("roles fit");
    assert!(relay.wants_front_read() && relay.wants_back_read());
    let mut frame = Vec::new();
    encode_frame(&mut frame, true, OpCode::Text, b"hi", Some(MASK));
    relay.handle_front_read(Duration::ZERO, &frame);
    let mut out = Vec::new();
    relay.poll_back_transmit(&mut out);
    let mut expected = Vec::new();
    encode_frame(&mut expected, true, OpCode::Text, b"hi", Some(MASK));
    assert_eq!(out, expected);
}

#[test]
fn keepalive_blames_the_peer_that_stopped_reading_not_the_paused_one() {
    let mut cfg = RelayConfig::default();
    cfg.front_conn.ping_interval = Some(Duration::from_secs(10));
    cfg.back_conn.max_outbound_bytes = 4096;
    let mut t = Trio::new(cfg);
    t.wire_limit = 4096;
    t.read_chunk = 4096;
    t.upstream_reads = false; // a slow upstream
    for i in 0..50u8 {
        t.client.send_binary(&[i; 1000]).unwrap();
    }
    t.advance(Duration::from_secs(120));
    assert!(!t.relay.wants_front_read(), "paused by the upstream");
    assert_eq!(
        Trio::closed(&t.client_events),
        None,
        "the paused client is not blamed"
    );
    t.upstream_reads = true;
    t.advance(Duration::from_secs(1));
    assert_eq!(Trio::messages(&t.upstream_events).len(), 50);
    assert_eq!(Trio::closed(&t.upstream_events), None);

    // Now the client stops reading: the upstream's messages back up, and the client, which
    // answers no ping, is the one blamed.
    t.client_reads = false;
    for i in 0..50u8 {
        t.upstream.send_binary(&[i; 1000]).unwrap();
    }
    t.advance(Duration::from_secs(60));
    assert_eq!(
        Trio::closed(&t.upstream_events),
        Some(closed(
            Initiator::Remote,
            1001,
            "client went silent (keepalive timeout)"
        ))
    );
}
