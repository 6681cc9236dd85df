//! Client and server driven against each other in virtual time: messages, control frames, the
//! close handshake, timers and backpressure.

mod support;

use std::time::Duration;

use bytes::Bytes;
use sockwright::conn::{Closed, Config, Error, Event, Initiator, Message, SendError};
use sockwright::frame::CloseCode;
use support::{transmit, Pair};

const SECOND: Duration = Duration::from_secs(1);

fn text(s: &str) -> Event {
    Event::Message(Message::Text(s.into()))
}

fn closed(initiator: Initiator, code: CloseCode, reason: &str) -> Event {
    Event::Closed(Closed {
        initiator,
        code,
        reason: reason.into(),
    })
}

#[test]
fn messages_flow_both_ways_with_their_type() {
    let mut pair = Pair::new(Config::default());
    pair.client.send_text("from client").unwrap();
    pair.client.send_binary(&[1, 2, 3]).unwrap();
    pair.server.send_text("from server").unwrap();
    pair.server.send_binary(b"").unwrap();
    pair.drive();
    assert_eq!(
        pair.server_events,
        [
            text("from client"),
            Event::Message(Message::Binary(Bytes::from_static(&[1, 2, 3])))
        ]
    );
    assert_eq!(
        pair.client_events,
        [
            text("from server"),
            Event::Message(Message::Binary(Bytes::new()))
        ]
    );
}

#[test]
fn pings_are_answered_automatically_both_ways() {
    let mut pair = Pair::new(Config::default());
    pair.client.send_ping(b"c").unwrap();
    pair.server.send_ping(b"s").unwrap();
    pair.drive();
    assert_eq!(
        pair.server_events,
        [
            Event::Ping(Bytes::from_static(b"c")),
            Event::Pong(Bytes::from_static(b"s"))
        ]
    );
    assert_eq!(
        pair.client_events,
        [
            Event::Ping(Bytes::from_static(b"s")),
            Event::Pong(Bytes::from_static(b"c"))
        ]
    );
}

#[test]
fn client_initiated_close_is_echoed_and_both_ends_finish() {
    let mut pair = Pair::new(Config::default());
    pair.client.close(CloseCode::NORMAL, "bye").unwrap();
    pair.drive();
    assert_eq!(
        pair.server_events,
        [closed(Initiator::Remote, CloseCode::NORMAL, "bye")]
    );
    assert_eq!(
        pair.client_events,
        [closed(Initiator::Local, CloseCode::NORMAL, "")]
    );
    assert!(pair.client.is_finished() && pair.server.is_finished());
    assert!(
        pair.client_errors.is_empty() && pair.server_errors.is_empty(),
        "a normal close is not an error"
    );
    assert_eq!(pair.client.poll_timeout(), None);
}

#[test]
fn server_initiated_close_echoes_an_application_code() {
    let mut pair = Pair::new(Config::default());
    pair.server.close(CloseCode(4321), "custom").unwrap();
    pair.drive();
    assert_eq!(
        pair.client_events,
        [closed(Initiator::Remote, CloseCode(4321), "custom")]
    );
    assert_eq!(
        pair.server_events,
        [closed(Initiator::Local, CloseCode(4321), "")]
    );
}

#[test]
fn a_close_without_a_code_is_reported_as_1005_and_answered_empty() {
    let mut pair = Pair::new(Config::default());
    // A bare close frame from the server: 0x88 0x00.
    pair.client.handle_read(pair.now, &[0x88, 0x00]).unwrap();
    assert_eq!(
        pair.client.poll_event(),
        Some(closed(Initiator::Remote, CloseCode::NO_STATUS, ""))
    );
    let reply = transmit(&mut pair.client);
    assert_eq!(
        reply.len(),
        6,
        "a masked close frame with no payload: {reply:x?}"
    );
    assert_eq!(reply[..2], [0x88, 0x80]);
}

#[test]
fn messages_that_arrive_after_our_close_are_still_delivered() {
    let mut pair = Pair::new(Config::default());
    pair.server.send_text("in flight").unwrap();
    pair.client.close(CloseCode::NORMAL, "").unwrap();
    pair.drive();
    assert_eq!(
        pair.client_events,
        [
            text("in flight"),
            closed(Initiator::Local, CloseCode::NORMAL, "")
        ]
    );
}

#[test]
fn close_times_out_when_the_peer_never_answers() {
    let mut pair = Pair::new(Config::default());
    pair.client_to_server = false;
    pair.client.close(CloseCode::GOING_AWAY, "").unwrap();
    assert_eq!(pair.client.poll_timeout(), Some(5 * SECOND));
    pair.advance(4 * SECOND);
    assert!(pair.client_events.is_empty());
    pair.advance(SECOND);
    assert_eq!(
        pair.client_events,
        [closed(Initiator::Local, CloseCode::ABNORMAL, "")]
    );
    assert!(pair.client.is_finished());
}

#[test]
fn commands_after_close_are_misuse_and_close_is_idempotent() {
    let mut pair = Pair::new(Config::default());
    pair.server.close(CloseCode::NORMAL, "").unwrap();
    assert_eq!(pair.server.send_text("late"), Err(SendError::Closed));
    assert_eq!(pair.server.send_ping(b""), Err(SendError::Closed));
    let queued = pair.server.queued_bytes();
    assert_eq!(pair.server.close(CloseCode::NORMAL, "again"), Ok(()));
    assert_eq!(
        pair.server.queued_bytes(),
        queued,
        "a second close queues nothing"
    );
    assert_eq!(
        pair.server.close(CloseCode::ABNORMAL, ""),
        Err(SendError::InvalidCloseCode(1006))
    );
}

#[test]
fn oversize_control_payloads_are_refused() {
    let mut pair = Pair::new(Config::default());
    assert_eq!(
        pair.client.send_ping(&[0; 126]),
        Err(SendError::ControlPayloadTooLong(126))
    );
    assert_eq!(
        pair.client.send_pong(&[0; 200]),
        Err(SendError::ControlPayloadTooLong(200))
    );
    assert_eq!(pair.client.queued_bytes(), 0);
}

#[test]
fn keepalive_pings_an_idle_peer_and_a_live_peer_survives() {
    let mut config = Config::default();
    config.ping_interval = Some(10 * SECOND);
    let mut pair = Pair::with_configs(Config::default(), config);
    assert_eq!(pair.server.poll_timeout(), Some(10 * SECOND));
    pair.advance(35 * SECOND);
    // Pings at 10, 20 and 30 s, each answered at once by the client.
    let pings = pair
        .client_events
        .iter()
        .filter(|e| matches!(e, Event::Ping(_)))
        .count();
    assert_eq!(pings, 3);
    assert!(pair.server_errors.is_empty());
    assert!(pair.server.is_open());
}

#[test]
fn keepalive_fails_a_silent_peer_after_the_pong_timeout() {
    let mut config = Config::default();
    config.ping_interval = Some(10 * SECOND);
    config.pong_timeout = 5 * SECOND;
    let mut pair = Pair::with_configs(Config::default(), config);
    pair.client_to_server = false; // the client's pongs never arrive
    pair.advance(14 * SECOND);
    assert!(
        pair.server_errors.is_empty(),
        "ping sent at 10 s, deadline 15 s"
    );
    pair.advance(SECOND);
    assert_eq!(pair.server_errors, [Error::KeepaliveTimeout]);
    assert!(pair.server.is_finished());
    // The silent client was sent a 1011 close in case it is only slow.
    assert_eq!(
        pair.client_events.last(),
        Some(&closed(
            Initiator::Remote,
            CloseCode::INTERNAL_ERROR,
            "keepalive timeout"
        ))
    );
}

#[test]
fn any_data_from_the_peer_postpones_the_keepalive_ping() {
    let mut config = Config::default();
    config.ping_interval = Some(10 * SECOND);
    let mut pair = Pair::with_configs(Config::default(), config);
    for _ in 0..5 {
        pair.advance(8 * SECOND);
        pair.client.send_text("still here").unwrap();
        pair.drive();
    }
    assert!(
        !pair
            .client_events
            .iter()
            .any(|e| matches!(e, Event::Ping(_))),
        "{:?}",
        pair.client_events
    );
}

#[test]
fn time_that_goes_backwards_stands_still() {
    let mut config = Config::default();
    config.ping_interval = Some(10 * SECOND);
    let mut pair = Pair::with_configs(Config::default(), config);
    pair.server.handle_timeout(20 * SECOND).unwrap(); // sends a ping at 20 s
    let deadline = pair.server.poll_timeout();
    pair.server.handle_timeout(SECOND).unwrap();
    pair.server.handle_read(SECOND, &[]).unwrap();
    assert_eq!(
        pair.server.poll_timeout(),
        deadline,
        "an earlier time moves no timer"
    );
}

#[test]
fn outbound_bytes_are_bounded_and_the_caller_sees_it() {
    let mut config = Config::default();
    config.max_outbound_bytes = 1000;
    let mut pair = Pair::new(config);
    let mut sent = 0;
    let err = loop {
        match pair.server.send_binary(&[0; 100]) {
            Ok(()) => sent += 1,
            Err(e) => break e,
        }
    };
    assert_eq!(sent, 9, "9 frames of 2 + 100 bytes fit in 1000");
    assert_eq!(
        err,
        SendError::OutboundFull {
            queued: 918,
            needed: 102,
            limit: 1000
        }
    );
    assert_eq!(pair.server.queued_bytes(), 918);
    assert_eq!(
        pair.server.send_binary(&[0; 2000]),
        Err(SendError::TooLarge {
            needed: 2004,
            limit: 1000
        })
    );
    pair.drive();
    assert_eq!(pair.server.queued_bytes(), 0);
    assert_eq!(
        pair.server.send_binary(&[0; 100]),
        Ok(()),
        "room again once drained"
    );
    assert_eq!(pair.client_events.len(), 9);
}

#[test]
fn the_transport_ending_reports_an_abnormal_close() {
    let mut pair = Pair::new(Config::default());
    pair.server.handle_eof(pair.now);
    assert_eq!(
        pair.server.poll_event(),
        Some(closed(Initiator::Remote, CloseCode::ABNORMAL, ""))
    );
    assert!(pair.server.is_finished());
    pair.server.handle_eof(pair.now);
    assert_eq!(pair.server.poll_event(), None, "reported once");
}

#[test]
fn bytes_after_the_close_handshake_are_ignored() {
    let mut pair = Pair::new(Config::default());
    pair.client.close(CloseCode::NORMAL, "").unwrap();
    pair.drive();
    pair.server_events.clear();
    // The client (misbehaving) keeps sending: the closed server ignores it all.
    let mut late = Vec::new();
    sockwright::frame::encode_frame(
        &mut late,
        true,
        sockwright::frame::OpCode::Text,
        b"late",
        Some([1, 2, 3, 4]),
    );
    assert_eq!(pair.server.handle_read(pair.now, &late), Ok(()));
    assert_eq!(pair.server.poll_event(), None);
    assert!(transmit(&mut pair.server).is_empty());
}

#[test]
fn pending_transmit_and_advance_write_in_pieces() {
    let mut pair = Pair::new(Config::default());
    pair.server.send_text("Hello").unwrap();
    assert_eq!(
        pair.server.pending_transmit(),
        [0x81, 0x05, b'H', b'e', b'l', b'l', b'o']
    );
    pair.server.advance_transmit(3);
    assert_eq!(pair.server.pending_transmit(), b"ello");
    pair.server.advance_transmit(100);
    assert!(pair.server.pending_transmit().is_empty());
}

/// Found by the connection fuzz target's outbound-limit oracle: a keepalive ping was queued
/// past `max_outbound_bytes`, so a peer that answers every ping but never reads grew the
/// queue by one ping per interval, without bound. Now a ping is queued only with room, and
/// the pong timeout still fails a peer that then goes silent.
#[test]
fn keepalive_pings_stay_within_the_outbound_limit() {
    let mut config = Config::default();
    config.ping_interval = Some(10 * SECOND);
    config.pong_timeout = 5 * SECOND;
    config.max_outbound_bytes = 128;
    let mut server = sockwright::conn::Connection::server(config, Duration::ZERO);
    server.send_binary(&[0; 100]).unwrap(); // 102 bytes queued that the peer never reads
    let masked_empty_pong = [0x8a, 0x80, 1, 2, 3, 4];
    let mut now = Duration::ZERO;
    for _ in 0..100 {
        now += 10 * SECOND;
        server.handle_timeout(now).unwrap();
        server.handle_read(now, &masked_empty_pong).unwrap();
        while server.poll_event().is_some() {}
        assert!(
            server.queued_bytes() <= 128,
            "{} queued",
            server.queued_bytes()
        );
    }
    // Full now: the next ping is not queued, but the peer must still speak within the pong
    // timeout.
    now += 10 * SECOND;
    server.handle_timeout(now).unwrap();
    assert_eq!(server.queued_bytes(), 128);
    assert_eq!(server.poll_timeout(), Some(now + 5 * SECOND));
    assert_eq!(
        server.handle_timeout(now + 5 * SECOND),
        Err(Error::KeepaliveTimeout)
    );
}
