//! Random register / unregister / publish / message sequences against a plain model of the
//! hub: recipients are exactly the expected set, no stale handle is ever delivered to, and
//! the indexes hold exactly the live sessions' users and topics.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use sockwright::conn::{Config, Connection, Message};
use sockwright::hub::{Delivery, Handle, Hub, HubConfig, Registration, Target};
use support::server;

#[derive(Clone, Debug)]
enum Op {
    Register {
        user: u8,
        topics: Vec<u8>,
    },
    /// Unregisters the n-th handle ever issued (often already stale).
    Unregister(usize),
    Publish {
        target: Tgt,
        from: Option<usize>,
    },
    Message {
        from: usize,
    },
}

#[derive(Clone, Debug)]
enum Tgt {
    Topic(u8),
    Default,
    User(u8),
    All,
}

fn op() -> impl Strategy<Value = Op> {
    let target = prop_oneof![
        (0u8..4).prop_map(Tgt::Topic),
        Just(Tgt::Default),
        (0u8..5).prop_map(Tgt::User),
        Just(Tgt::All),
    ];
    prop_oneof![
        3 => (0u8..4, proptest::collection::vec(0u8..4, 0..3))
            .prop_map(|(user, topics)| Op::Register { user, topics }),
        2 => any::<usize>().prop_map(Op::Unregister),
        2 => (target, proptest::option::of(any::<usize>()))
            .prop_map(|(target, from)| Op::Publish { target, from }),
        1 => any::<usize>().prop_map(|from| Op::Message { from }),
    ]
}

/// What the model knows of a live session.
struct Live {
    user: String,
    topics: BTreeSet<String>,
}

proptest! {
    #[test]
    fn routing_matches_the_model(
        ops in proptest::collection::vec(op(), 1..60),
        include_sender in any::<bool>(),
    ) {
        let mut config = HubConfig::default();
        config.include_sender = include_sender;
        let mut hub = Hub::new(config).unwrap();
        let mut live: BTreeMap<Handle, Live> = BTreeMap::new();
        let mut issued: Vec<Handle> = Vec::new();
        let mut conns: BTreeMap<Handle, Connection> = BTreeMap::new();
        let pick = |issued: &[Handle], n: usize| issued.get(n % issued.len().max(1)).copied();

        for op in ops {
            match op {
                Op::Register { user, topics } => {
                    let user = format!("u{user}");
                    let topics: Vec<String> = topics.iter().map(|t| format!("t{t}")).collect();
                    let handle = hub
                        .register(Registration::new(user.as_str()).with_topics(topics.clone()))
                        .unwrap();
                    prop_assert!(!issued.contains(&handle), "a handle is never issued twice");
                    let mut topics: BTreeSet<String> = topics.into_iter().collect();
                    if topics.is_empty() {
                        topics.insert("default".into());
                    }
                    live.insert(handle, Live { user, topics });
                    issued.push(handle);
                    conns.insert(handle, server(Config::default()));
                }
                Op::Unregister(n) => {
                    let Some(handle) = pick(&issued, n) else { continue };
                    let removed = hub.unregister(handle);
                    prop_assert_eq!(removed.is_some(), live.remove(&handle).is_some());
                    prop_assert!(hub.session(handle).is_none());
                    conns.remove(&handle);
                }
                Op::Publish { target, from } => {
                    let from = from.and_then(|n| pick(&issued, n));
                    let (topic, user);
                    let (target, expected): (Target, BTreeSet<Handle>) = match target {
                        Tgt::Topic(t) => {
                            topic = format!("t{t}");
                            (Target::Topic(&topic), in_topic(&live, &topic))
                        }
                        Tgt::Default => (Target::Topic("default"), in_topic(&live, "default")),
                        Tgt::User(u) => {
                            user = format!("u{u}");
                            let set = live
                                .iter()
                                .filter(|(_, s)| s.user == user)
                                .map(|(h, _)| *h)
                                .collect();
                            (Target::User(&user), set)
                        }
                        Tgt::All => (Target::All, live.keys().copied().collect()),
                    };
                    let expected = without_sender(expected, from, include_sender);
                    let plan = hub.publish(target, "m".into(), from).unwrap();
                    check_plan(&mut hub, &mut conns, &live, plan, expected)?;
                }
                Op::Message { from } => {
                    let Some(from) = pick(&issued, from) else { continue };
                    let result = hub.on_message(from, &Message::Text("m".into()));
                    let Some(sender) = live.get(&from) else {
                        prop_assert!(result.is_err(), "a stale sender is refused");
                        continue;
                    };
                    let expected: BTreeSet<Handle> = sender
                        .topics
                        .iter()
                        .flat_map(|t| in_topic(&live, t))
                        .collect();
                    let expected = without_sender(expected, Some(from), include_sender);
                    check_plan(&mut hub, &mut conns, &live, result.unwrap(), expected)?;
                }
            }
            prop_assert_eq!(hub.len(), live.len());
            let users: BTreeSet<&str> = live.values().map(|s| s.user.as_str()).collect();
            prop_assert_eq!(hub.users().collect::<BTreeSet<_>>(), users);
            let topics: BTreeSet<&str> =
                live.values().flat_map(|s| s.topics.iter().map(String::as_str)).collect();
            prop_assert_eq!(hub.topics().collect::<BTreeSet<_>>(), topics);
        }
    }
}

fn in_topic(live: &BTreeMap<Handle, Live>, topic: &str) -> BTreeSet<Handle> {
    live.iter()
        .filter(|(_, s)| s.topics.contains(topic))
        .map(|(h, _)| *h)
        .collect()
}

fn without_sender(
    mut set: BTreeSet<Handle>,
    from: Option<Handle>,
    include_sender: bool,
) -> BTreeSet<Handle> {
    if let (false, Some(from)) = (include_sender, from) {
        set.remove(&from);
    }
    set
}

/// The plan names exactly `expected`, in order, once each; delivering it queues the frame on
/// exactly those connections.
fn check_plan(
    hub: &mut Hub,
    conns: &mut BTreeMap<Handle, Connection>,
    live: &BTreeMap<Handle, Live>,
    plan: sockwright::hub::FanOut,
    expected: BTreeSet<Handle>,
) -> Result<(), TestCaseError> {
    let expected: Vec<Handle> = expected.into_iter().collect();
    prop_assert_eq!(plan.recipients(), &expected[..]);
    prop_assert!(plan.recipients().iter().all(|h| live.contains_key(h)));
    let before: BTreeMap<Handle, usize> =
        conns.iter().map(|(h, c)| (*h, c.queued_bytes())).collect();
    let report = hub.deliver_all(&plan, conns);
    prop_assert_eq!(report.count(&Delivery::Queued), expected.len());
    for (handle, conn) in conns.iter() {
        let grew = conn.queued_bytes() - before[handle];
        let wanted = if expected.contains(handle) { 3 } else { 0 };
        prop_assert_eq!(grew, wanted, "{:?}", handle);
    }
    Ok(())
}
