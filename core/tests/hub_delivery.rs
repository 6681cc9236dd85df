//! Hub delivery: one encoding shared by every recipient, and the slow-consumer policy applied
//! to a connection whose queue is full while the others still receive.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use sockwright::conn::{Config, Connection, Event, Initiator, Message, SendError};
use sockwright::frame::{CloseCode, SharedFrame};
use sockwright::hub::{
    deliver, Delivery, Handle, Hub, HubConfig, Registration, SlowConsumerPolicy, Target,
};
use support::{client, events, server, transmit, Pair};

/// A hub with `n` plain sessions (users u0, u1, …) and a server connection for each.
fn hub_with(config: HubConfig, n: usize) -> (Hub, Vec<Handle>, BTreeMap<Handle, Connection>) {
    let mut hub = Hub::new(config).unwrap();
    let mut conns = BTreeMap::new();
    let handles = (0..n)
        .map(|i| {
            let handle = hub.register(Registration::new(format!("u{i}"))).unwrap();
            conns.insert(handle, server(Config::default()));
            handle
        })
        .collect();
    (hub, handles, conns)
}

#[test]
fn every_recipient_shares_one_encoding() {
    let (mut hub, handles, mut conns) = hub_with(HubConfig::default(), 5);
    let plan = hub
        .publish(Target::All, SharedFrame::binary(&[7; 10_000]), None)
        .unwrap();
    let frame_ptr = plan.frame().bytes().as_ptr();
    let report = hub.deliver_all(&plan, &mut conns);
    assert_eq!(report.count(&Delivery::Queued), 5);
    for handle in &handles {
        let pending = conns.get_mut(handle).unwrap().pending_transmit();
        assert_eq!(pending.as_ptr(), frame_ptr, "the same bytes, not a copy");
        assert_eq!(pending.len(), 10_004);
    }
    assert_eq!(hub.stats().queued, 5);
}

#[test]
fn short_messages_arrive_the_same_everywhere() {
    let (mut hub, handles, mut conns) = hub_with(HubConfig::default(), 3);
    let plan = hub
        .on_message(handles[1], &Message::Text("hi".into()))
        .unwrap();
    hub.deliver_all(&plan, &mut conns);
    let wires: Vec<Vec<u8>> = handles
        .iter()
        .map(|h| transmit(conns.get_mut(h).unwrap()))
        .collect();
    assert!(wires.iter().all(|w| w == &[0x81, 0x02, b'h', b'i']));
}

/// Fills `conn`'s queue so that another `frame_len` bytes do not fit under `limit`.
fn fill(conn: &mut Connection, limit: usize, frame_len: usize) {
    let filler = limit - frame_len + 1 - 4; // a 4-byte header for payloads of 126..65535 bytes
    conn.send_binary(&vec![0; filler]).unwrap();
    assert!(conn.queued_bytes() + frame_len > limit);
}

#[test]
fn a_slow_consumer_is_closed_with_1013_and_the_others_still_receive() {
    let mut config = HubConfig::default();
    config.max_queued_bytes = 4096;
    let (mut hub, handles, mut conns) = hub_with(config, 3);
    let slow = handles[1];
    let frame = SharedFrame::text("news");
    fill(conns.get_mut(&slow).unwrap(), 4096, frame.encoded_len());
    let queued_before = conns[&slow].queued_bytes();

    let plan = hub.publish(Target::All, frame, None).unwrap();
    let report = hub.deliver_all(&plan, &mut conns);
    assert_eq!(
        report.outcomes,
        [
            (handles[0], Delivery::Queued),
            (slow, Delivery::Closed),
            (handles[2], Delivery::Queued)
        ]
    );
    assert_eq!(
        report.handles(&Delivery::Closed).collect::<Vec<_>>(),
        [slow]
    );
    let stats = hub.stats();
    assert_eq!((stats.queued, stats.closed, stats.dropped), (2, 1, 0));

    // The slow one has its close frame queued behind what it had, and nothing else.
    let slow_conn = conns.get_mut(&slow).unwrap();
    assert!(!slow_conn.is_open());
    assert_eq!(slow_conn.queued_bytes(), queued_before + 2 + 2 + 34);
    // Later messages skip it without touching its queue.
    let plan = hub.publish(Target::All, "more".into(), None).unwrap();
    let report = hub.deliver_all(&plan, &mut conns);
    assert_eq!(report.count(&Delivery::Queued), 2);
    assert_eq!(report.handles(&Delivery::Gone).collect::<Vec<_>>(), [slow]);
    assert_eq!(conns[&slow].queued_bytes(), queued_before + 38);
}

#[test]
fn the_slow_consumer_sees_the_close_code_and_reason() {
    let mut config = HubConfig::default();
    config.max_queued_bytes = 4096;
    let mut hub = Hub::new(config).unwrap();
    let handle = hub.register(Registration::new("slow")).unwrap();
    let mut pair = Pair::new(Config::default());
    let frame = SharedFrame::text("x");
    fill(&mut pair.server, 4096, frame.encoded_len());
    assert_eq!(hub.deliver(&frame, &mut pair.server), Delivery::Closed);
    pair.drive();
    let closed = pair
        .client_events
        .iter()
        .find_map(|e| match e {
            Event::Closed(closed) => Some(closed.clone()),
            _ => None,
        })
        .expect("the client saw the close");
    assert_eq!(closed.code, CloseCode::TRY_AGAIN_LATER);
    assert_eq!(closed.reason, "slow consumer: outbound queue full");
    assert_eq!(closed.initiator, Initiator::Remote);
    assert!(pair.server.is_finished(), "the close handshake finished");
    assert!(hub.unregister(handle).is_some());
}

#[test]
fn a_policy_applied_before_the_connection_closes_with_what_deliver_sends() {
    let policy = SlowConsumerPolicy::default();
    let frame = policy.close_frame().expect("the default policy closes");
    assert_eq!(frame.code, CloseCode::TRY_AGAIN_LATER);
    assert_eq!(frame.reason, "slow consumer: outbound queue full");
    let custom = SlowConsumerPolicy::Close {
        code: CloseCode::POLICY_VIOLATION,
        reason: "too slow".into(),
    };
    let frame = custom.close_frame().expect("a close policy closes");
    assert_eq!(
        (frame.code, frame.reason.as_str()),
        (CloseCode::POLICY_VIOLATION, "too slow")
    );
    assert_eq!(SlowConsumerPolicy::DropMessage.close_frame(), None);
}

#[test]
fn a_slow_consumer_that_never_reads_ends_at_the_close_timeout() {
    let mut config = HubConfig::default();
    config.max_queued_bytes = 4096;
    let mut hub = Hub::new(config).unwrap();
    let mut pair = Pair::new(Config::default());
    pair.server_to_client = false; // the peer reads nothing
    let frame = SharedFrame::text("x");
    fill(&mut pair.server, 4096, frame.encoded_len());
    assert_eq!(hub.deliver(&frame, &mut pair.server), Delivery::Closed);
    pair.advance(Duration::from_secs(6));
    assert!(pair.server.is_finished());
    assert!(pair
        .server_events
        .iter()
        .any(|e| matches!(e, Event::Closed(c) if c.code == CloseCode::ABNORMAL)));
}

#[test]
fn drop_policy_skips_the_message_and_counts_it() {
    let mut config = HubConfig::default();
    config.max_queued_bytes = 4096;
    config.slow_consumer = SlowConsumerPolicy::DropMessage;
    let (mut hub, handles, mut conns) = hub_with(config, 2);
    let slow = handles[0];
    let frame = SharedFrame::text("tick");
    fill(conns.get_mut(&slow).unwrap(), 4096, frame.encoded_len());
    let before = conns[&slow].queued_bytes();
    let plan = hub.publish(Target::All, frame.clone(), None).unwrap();
    let report = hub.deliver_all(&plan, &mut conns);
    assert_eq!(
        report.outcomes,
        [(slow, Delivery::Dropped), (handles[1], Delivery::Queued)]
    );
    assert!(conns[&slow].is_open(), "still open");
    assert_eq!(conns[&slow].queued_bytes(), before, "nothing added");
    // Once it catches up, it gets messages again.
    transmit(conns.get_mut(&slow).unwrap());
    let report = hub.deliver_all(&plan, &mut conns);
    assert_eq!(report.count(&Delivery::Queued), 2);
    let stats = hub.stats();
    assert_eq!((stats.queued, stats.dropped, stats.closed), (3, 1, 0));
}

#[test]
fn the_connections_own_limit_counts_too() {
    // The hub allows 1 MiB, the connection only 1000 bytes.
    let mut hub = Hub::new(HubConfig::default()).unwrap();
    let mut conn = Connection::server(config_with_limit(1000), Duration::ZERO);
    conn.send_binary(&[0; 900]).unwrap();
    assert_eq!(
        hub.deliver(&SharedFrame::binary(&[0; 200]), &mut conn),
        Delivery::Closed
    );
    // A frame the connection could never take is dropped, not blamed on the reader.
    let mut conn = Connection::server(config_with_limit(1000), Duration::ZERO);
    assert_eq!(
        hub.deliver(&SharedFrame::binary(&[0; 2000]), &mut conn),
        Delivery::Dropped
    );
    assert!(conn.is_open());
}

fn config_with_limit(limit: usize) -> Config {
    let mut config = Config::default();
    config.max_outbound_bytes = limit;
    config
}

#[test]
fn gone_and_refused_connections() {
    let (mut hub, handles, mut conns) = hub_with(HubConfig::default(), 3);
    // The server already dropped one connection; another is closing.
    conns.remove(&handles[0]);
    conns
        .get_mut(&handles[1])
        .unwrap()
        .close(CloseCode::NORMAL, "")
        .unwrap();
    let plan = hub.publish(Target::All, "m".into(), None).unwrap();
    // One is unregistered after the plan was made.
    hub.unregister(handles[2]).unwrap();
    let report = hub.deliver_all(&plan, &mut conns);
    assert_eq!(report.count(&Delivery::Gone), 3);
    assert_eq!(hub.stats().queued, 0);
    assert!(transmit(conns.get_mut(&handles[2]).unwrap()).is_empty());

    // A client connection cannot take a shared frame.
    let mut conn = client(Config::default());
    assert_eq!(
        hub.deliver(&SharedFrame::text("m"), &mut conn),
        Delivery::Refused(SendError::SharedFrameFromClient)
    );
}

#[test]
fn the_free_deliver_function_applies_the_same_policy() {
    let mut config = HubConfig::default();
    config.max_queued_bytes = 4096;
    let frame = SharedFrame::text("m");
    let mut fast = server(Config::default());
    let mut slow = server(Config::default());
    fill(&mut slow, 4096, frame.encoded_len());
    assert_eq!(deliver(&config, &frame, &mut fast), Delivery::Queued);
    assert_eq!(deliver(&config, &frame, &mut slow), Delivery::Closed);
    config.slow_consumer = SlowConsumerPolicy::Close {
        code: CloseCode(4000),
        reason: "custom".into(),
    };
    let mut slow = server(Config::default());
    fill(&mut slow, 4096, frame.encoded_len());
    assert_eq!(deliver(&config, &frame, &mut slow), Delivery::Closed);
    let wire = transmit(&mut slow);
    assert!(wire.ends_with(&[0x88, 8, 0x0f, 0xa0, b'c', b'u', b's', b't', b'o', b'm']));
    assert!(events(&mut slow).is_empty());
}
