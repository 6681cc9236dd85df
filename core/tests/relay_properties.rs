//! Relay properties: whatever the messages, their interleaving, the read sizes and the
//! socket buffer sizes, each end receives exactly what the other sent, with its type, and a
//! close crosses with its code and reason.

mod relay_support;

use proptest::prelude::*;
use relay_support::Trio;
use sockwright::conn::{Initiator, Message};
use sockwright::frame::CloseCode;
use sockwright::relay::{RelayConfig, RelayEvent};

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        prop::collection::vec(any::<char>(), 0..400)
            .prop_map(|c| Message::Text(c.into_iter().collect())),
        prop::collection::vec(any::<u8>(), 0..3000).prop_map(|b| Message::Binary(b.into())),
    ]
}

fn send(conn: &mut sockwright::conn::Connection, m: &Message) {
    match m {
        Message::Text(t) => conn.send_text(t).unwrap(),
        Message::Binary(b) => conn.send_binary(b).unwrap(),
    }
}

#[derive(Clone, Debug)]
enum Closer {
    Client(u16, String),
    Upstream(u16, String),
    Nobody,
}

fn closer() -> impl Strategy<Value = Closer> {
    let code = prop::sample::select(vec![1000u16, 1001, 1003, 1008, 1011, 3000, 4999]);
    let reason = "[ -~]{0,100}";
    prop_oneof![
        (code.clone(), reason).prop_map(|(c, r)| Closer::Client(c, r)),
        (code, reason).prop_map(|(c, r)| Closer::Upstream(c, r)),
        Just(Closer::Nobody),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(150))]

    #[test]
    fn each_end_receives_exactly_what_the_other_sent(
        up in prop::collection::vec(message(), 0..16),
        down in prop::collection::vec(message(), 0..16),
        drives in prop::collection::vec(any::<bool>(), 16),
        read_chunk in 1usize..5000,
        wire_limit in 1usize..20_000,
        outbound in 3100usize..12_000,
        close in closer(),
    ) {
        let mut cfg = RelayConfig::default();
        cfg.front_conn.max_outbound_bytes = outbound;
        cfg.back_conn.max_outbound_bytes = outbound;
        let mut t = Trio::new(cfg);
        t.read_chunk = read_chunk;
        t.wire_limit = wire_limit;
        for (i, drive) in drives.iter().enumerate() {
            if let Some(m) = up.get(i) {
                send(&mut t.client, m);
            }
            if let Some(m) = down.get(i) {
                send(&mut t.upstream, m);
            }
            if *drive {
                t.step();
            }
        }
        t.drive();
        prop_assert_eq!(Trio::messages(&t.upstream_events), up.clone());
        prop_assert_eq!(Trio::messages(&t.client_events), down.clone());

        match &close {
            Closer::Client(code, reason) => t.client.close(CloseCode(*code), reason).unwrap(),
            Closer::Upstream(code, reason) => t.upstream.close(CloseCode(*code), reason).unwrap(),
            Closer::Nobody => return Ok(()),
        }
        t.drive();
        let (receiver, code, reason) = match &close {
            Closer::Client(c, r) => (&t.upstream_events, *c, r),
            Closer::Upstream(c, r) => (&t.client_events, *c, r),
            Closer::Nobody => unreachable!(),
        };
        let got = Trio::closed(receiver).expect("the close crossed");
        prop_assert_eq!(got.initiator, Initiator::Remote);
        prop_assert_eq!(got.code, CloseCode(code));
        prop_assert_eq!(&got.reason, reason);
        prop_assert!(t.relay.is_finished());
        let finished = t.relay_events.iter().filter(|e| matches!(e, RelayEvent::Finished(_))).count();
        prop_assert_eq!(finished, 1);
        prop_assert!(matches!(t.relay_events.last(), Some(RelayEvent::Finished(s))
            if s.to_back == up.len() as u64 && s.to_front == down.len() as u64
                && s.undelivered_to_back == 0 && s.undelivered_to_front == 0));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(150))]

    /// A close sent right behind a burst of messages: the closer's messages all arrive before
    /// its close; the other side's messages arrive as a prefix, the rest counted undelivered.
    #[test]
    fn a_close_behind_a_burst_loses_nothing_silently(
        up in prop::collection::vec(message(), 0..12),
        down in prop::collection::vec(message(), 0..12),
        steps in 0usize..6,
        read_chunk in 1usize..5000,
        wire_limit in 1usize..20_000,
        close in closer(),
    ) {
        let mut t = Trio::new(RelayConfig::default());
        t.read_chunk = read_chunk;
        t.wire_limit = wire_limit;
        for m in &up {
            send(&mut t.client, m);
        }
        for m in &down {
            send(&mut t.upstream, m);
        }
        for _ in 0..steps {
            t.step();
        }
        let (closer_sent, other_sent) = match &close {
            Closer::Client(code, reason) => {
                t.client.close(CloseCode(*code), reason).unwrap();
                (&up, &down)
            }
            Closer::Upstream(code, reason) => {
                t.upstream.close(CloseCode(*code), reason).unwrap();
                (&down, &up)
            }
            Closer::Nobody => return Ok(()),
        };
        t.drive();
        let (closer_got, other_got) = match &close {
            Closer::Client(..) => (Trio::messages(&t.upstream_events), Trio::messages(&t.client_events)),
            _ => (Trio::messages(&t.client_events), Trio::messages(&t.upstream_events)),
        };
        prop_assert_eq!(&closer_got, closer_sent);
        prop_assert!(other_sent.starts_with(&other_got));
        prop_assert!(t.relay.is_finished());
        let Some(RelayEvent::Finished(stats)) = t.relay_events.last() else {
            return Err(TestCaseError::fail("no Finished event last"));
        };
        let (from_closer, lost_from_closer, from_other, lost_from_other) = match &close {
            Closer::Client(..) => (stats.to_back, stats.undelivered_to_back, stats.to_front, stats.undelivered_to_front),
            _ => (stats.to_front, stats.undelivered_to_front, stats.to_back, stats.undelivered_to_back),
        };
        prop_assert_eq!((from_closer, lost_from_closer), (closer_sent.len() as u64, 0));
        prop_assert_eq!(from_other, other_got.len() as u64);
        prop_assert_eq!(from_other + lost_from_other, other_sent.len() as u64);
    }
}
