//! Hub routing: who a publish or a client's message reaches, registration and its refusals,
//! unregistering one session, stale handles.

use sockwright::conn::Message;
use sockwright::frame::CloseCode;
use sockwright::hub::{
    ConfigError, Field, Handle, Hub, HubConfig, Problem, PublishError, RegisterError, Registration,
    SlowConsumerPolicy, Target,
};

/// The sessions every routing case starts from: (user, topics).
const SESSIONS: &[(&str, &[&str])] = &[
    ("ann", &[]),               // 0: default room
    ("bob", &[]),               // 1: default room
    ("ann", &["news"]),         // 2: ann's second session
    ("cat", &["news", "chat"]), // 3
    ("dan", &["chat"]),         // 4
    ("eve", &["default"]),      // 5: names the default room explicitly
];

fn hub_with(config: HubConfig) -> (Hub, Vec<Handle>) {
    let mut hub = Hub::new(config).unwrap();
    let handles = SESSIONS
        .iter()
        .map(|(user, topics)| {
            hub.register(Registration::new(*user).with_topics(topics.iter().copied()))
                .unwrap()
        })
        .collect();
    (hub, handles)
}

fn indices(handles: &[Handle], recipients: &[Handle]) -> Vec<usize> {
    recipients
        .iter()
        .map(|r| handles.iter().position(|h| h == r).expect("a known handle"))
        .collect()
}

#[test]
fn publish_routing_table() {
    struct Case {
        name: &'static str,
        target: Target<'static>,
        from: Option<usize>,
        include_sender: bool,
        expected: &'static [usize],
    }
    let cases = [
        Case {
            name: "topic with two sessions",
            target: Target::Topic("news"),
            from: None,
            include_sender: true,
            expected: &[2, 3],
        },
        Case {
            name: "the default room: every plain connection and who named it",
            target: Target::Topic("default"),
            from: None,
            include_sender: true,
            expected: &[0, 1, 5],
        },
        Case {
            name: "unknown topic",
            target: Target::Topic("nobody"),
            from: None,
            include_sender: true,
            expected: &[],
        },
        Case {
            name: "topics are case-sensitive",
            target: Target::Topic("NEWS"),
            from: None,
            include_sender: true,
            expected: &[],
        },
        Case {
            name: "user: all of ann's sessions",
            target: Target::User("ann"),
            from: None,
            include_sender: true,
            expected: &[0, 2],
        },
        Case {
            name: "unknown user",
            target: Target::User("zed"),
            from: None,
            include_sender: true,
            expected: &[],
        },
        Case {
            name: "all",
            target: Target::All,
            from: None,
            include_sender: true,
            expected: &[0, 1, 2, 3, 4, 5],
        },
        Case {
            name: "all, sender included by default",
            target: Target::All,
            from: Some(3),
            include_sender: true,
            expected: &[0, 1, 2, 3, 4, 5],
        },
        Case {
            name: "all, sender left out when configured",
            target: Target::All,
            from: Some(3),
            include_sender: false,
            expected: &[0, 1, 2, 4, 5],
        },
        Case {
            name: "topic, sender outside it",
            target: Target::Topic("chat"),
            from: Some(0),
            include_sender: false,
            expected: &[3, 4],
        },
        Case {
            name: "user, one of the user's own sessions sending, left out",
            target: Target::User("ann"),
            from: Some(2),
            include_sender: false,
            expected: &[0],
        },
    ];
    for case in cases {
        let mut config = HubConfig::default();
        config.include_sender = case.include_sender;
        let (mut hub, handles) = hub_with(config);
        let from = case.from.map(|i| handles[i]);
        let plan = hub.publish(case.target, "m".into(), from).unwrap();
        assert_eq!(
            indices(&handles, plan.recipients()),
            case.expected,
            "{}",
            case.name
        );
        assert_eq!(plan.recipient_count(), case.expected.len(), "{}", case.name);
        assert_eq!(
            hub.recipients(case.target, from),
            plan.recipients(),
            "{}",
            case.name
        );
    }
}

#[test]
fn client_messages_reach_everyone_in_the_senders_topics() {
    // (sender, include_sender, expected)
    let cases: &[(usize, bool, &[usize])] = &[
        (0, true, &[0, 1, 5]), // default room
        (1, false, &[0, 5]),   // default room, sender left out
        (2, true, &[2, 3]),    // news
        (3, true, &[2, 3, 4]), // news and chat: cat's topics, each member once
        (3, false, &[2, 4]),   // the same without cat
        (4, true, &[3, 4]),    // chat
        (5, true, &[0, 1, 5]), // the default room, named
    ];
    for &(sender, include_sender, expected) in cases {
        let mut config = HubConfig::default();
        config.include_sender = include_sender;
        let (mut hub, handles) = hub_with(config);
        let message = Message::Binary(vec![1, 2, 3].into());
        let plan = hub.on_message(handles[sender], &message).unwrap();
        assert_eq!(
            indices(&handles, plan.recipients()),
            expected,
            "sender {sender}, include_sender {include_sender}"
        );
        assert_eq!(plan.frame().payload(), [1, 2, 3]);
        assert_eq!(plan.frame().opcode(), sockwright::frame::OpCode::Binary);
    }
}

#[test]
fn unregister_removes_only_that_session() {
    let (mut hub, handles) = hub_with(HubConfig::default());
    let session = hub.unregister(handles[2]).unwrap();
    assert_eq!(session.user_id(), "ann");
    assert_eq!(session.topics().collect::<Vec<_>>(), ["news"]);
    assert_eq!(hub.len(), SESSIONS.len() - 1);
    // ann's other session still gets ann's messages; news keeps cat.
    let plan = hub.publish(Target::User("ann"), "m".into(), None).unwrap();
    assert_eq!(plan.recipients(), [handles[0]]);
    let plan = hub
        .publish(Target::Topic("news"), "m".into(), None)
        .unwrap();
    assert_eq!(plan.recipients(), [handles[3]]);
    // A second unregister of the same handle is a no-op.
    assert!(hub.unregister(handles[2]).is_none());
    assert_eq!(hub.len(), SESSIONS.len() - 1);
}

#[test]
fn empty_topics_and_users_leave_the_index() {
    let (mut hub, handles) = hub_with(HubConfig::default());
    for &handle in &handles {
        hub.unregister(handle).unwrap();
    }
    assert!(hub.is_empty());
    assert_eq!(hub.topics().count(), 0);
    assert_eq!(hub.users().count(), 0);
}

#[test]
fn a_stale_handle_names_nothing_even_after_its_slot_is_reused() {
    let mut hub = Hub::new(HubConfig::default()).unwrap();
    let old = hub.register(Registration::new("ann")).unwrap();
    hub.unregister(old).unwrap();
    let new = hub.register(Registration::new("bob")).unwrap();
    assert_ne!(old, new);
    assert!(hub.session(old).is_none());
    assert_eq!(hub.session(new).unwrap().user_id(), "bob");
    assert!(hub.unregister(old).is_none());
    assert_eq!(
        hub.on_message(old, &Message::Text("x".into())).unwrap_err(),
        PublishError::UnknownSender
    );
    // A stale sender of a publish is simply nobody: it excludes no one.
    let mut config = HubConfig::default();
    config.include_sender = false;
    let mut hub2 = Hub::new(config).unwrap();
    let a = hub2.register(Registration::new("a")).unwrap();
    let b = hub2.register(Registration::new("b")).unwrap();
    hub2.unregister(a).unwrap();
    let plan = hub2.publish(Target::All, "m".into(), Some(a)).unwrap();
    assert_eq!(plan.recipients(), [b]);
    assert!(hub.session(Handle::from_bits(u64::MAX)).is_none());
}

#[test]
fn a_session_keeps_what_it_registered() {
    let mut hub = Hub::new(HubConfig::default()).unwrap();
    let h = hub
        .register(
            Registration::new("ann")
                .with_name("Ann")
                .with_topic("b")
                .with_topics(["a", "b", "a"]),
        )
        .unwrap();
    let session = hub.session(h).unwrap();
    assert_eq!(session.user_id(), "ann");
    assert_eq!(session.name(), Some("Ann"));
    assert_eq!(session.topics().collect::<Vec<_>>(), ["a", "b"]);
    let plain = hub
        .register(Registration::new("bob").with_name(""))
        .unwrap();
    let session = hub.session(plain).unwrap();
    assert_eq!(session.name(), None, "an empty name counts as none");
    assert_eq!(session.topics().collect::<Vec<_>>(), ["default"]);
}

#[test]
fn registration_refusals_table() {
    let long = "x".repeat(257);
    let many: Vec<String> = (0..17).map(|i| format!("t{i}")).collect();
    let cases: Vec<(Registration, RegisterError, &str)> = vec![
        (
            Registration::new(""),
            RegisterError::Invalid {
                field: Field::UserId,
                problem: Problem::Empty,
            },
            "user id is empty",
        ),
        (
            Registration::new(long.as_str()),
            RegisterError::Invalid {
                field: Field::UserId,
                problem: Problem::TooLong {
                    len: 257,
                    limit: 256,
                },
            },
            "user id of 257 bytes is longer than the limit of 256",
        ),
        (
            Registration::new("ann\r\nX-Evil: 1"),
            RegisterError::Invalid {
                field: Field::UserId,
                problem: Problem::ControlCharacter { at: 3 },
            },
            "user id has a control character at byte 3",
        ),
        (
            Registration::new("ann").with_name(long.as_str()),
            RegisterError::Invalid {
                field: Field::Name,
                problem: Problem::TooLong {
                    len: 257,
                    limit: 256,
                },
            },
            "name of 257 bytes is longer than the limit of 256",
        ),
        (
            Registration::new("ann").with_topic("ok").with_topic(""),
            RegisterError::Invalid {
                field: Field::Topic,
                problem: Problem::Empty,
            },
            "topic is empty",
        ),
        (
            Registration::new("ann").with_topic("a\0b"),
            RegisterError::Invalid {
                field: Field::Topic,
                problem: Problem::ControlCharacter { at: 1 },
            },
            "topic has a control character at byte 1",
        ),
        (
            Registration::new("ann").with_topics(many.iter().cloned()),
            RegisterError::TooManyTopics {
                count: 17,
                limit: 16,
            },
            "17 topics asked for, more than the limit of 16",
        ),
    ];
    let mut hub = Hub::new(HubConfig::default()).unwrap();
    for (registration, error, message) in cases {
        assert_eq!(hub.check(&registration), Err(error.clone()), "check agrees");
        let got = hub.register(registration).unwrap_err();
        assert_eq!(got, error);
        assert_eq!(got.to_string(), message);
        assert_eq!(got.http_status(), 400);
    }
    assert!(hub.is_empty(), "nothing registered by a refusal");
    // Sixteen topics, some repeated, are fine.
    let mut sixteen = many[..16].to_vec();
    sixteen.extend(many[..5].iter().cloned());
    let sixteen = Registration::new("ann").with_topics(sixteen);
    assert_eq!(hub.check(&sixteen), Ok(()));
    assert!(hub.is_empty(), "check registers nothing");
    hub.register(sixteen).unwrap();
}

#[test]
fn a_full_hub_refuses_with_503_until_a_session_leaves() {
    let mut config = HubConfig::default();
    config.max_sessions = 2;
    let mut hub = Hub::new(config).unwrap();
    let a = hub.register(Registration::new("a")).unwrap();
    hub.register(Registration::new("b")).unwrap();
    assert_eq!(
        hub.check(&Registration::new("c")),
        Err(RegisterError::Full { limit: 2 })
    );
    let err = hub.register(Registration::new("c")).unwrap_err();
    assert_eq!(err, RegisterError::Full { limit: 2 });
    assert_eq!(err.http_status(), 503);
    hub.unregister(a).unwrap();
    hub.register(Registration::new("c")).unwrap();
}

#[test]
fn a_frame_larger_than_the_queue_limit_is_refused_before_routing() {
    let mut config = HubConfig::default();
    config.max_queued_bytes = 100;
    let mut hub = Hub::new(config).unwrap();
    let h = hub.register(Registration::new("a")).unwrap();
    let err = hub
        .publish(Target::All, [0u8; 99].as_slice().into(), None)
        .unwrap_err();
    assert_eq!(
        err,
        PublishError::TooLarge {
            needed: 101,
            limit: 100
        }
    );
    assert_eq!(err.http_status(), 413);
    let err = hub
        .on_message(h, &Message::Text("x".repeat(99)))
        .unwrap_err();
    assert_eq!(err.close_code(), CloseCode::MESSAGE_TOO_BIG);
    // 98 bytes of payload and a 2-byte header fit exactly.
    hub.publish(Target::All, [0u8; 98].as_slice().into(), None)
        .unwrap();
    hub.on_message(h, &Message::Text("x".repeat(98))).unwrap();
    assert_eq!(hub.stats().published, 2);
}

#[test]
fn configs_hub_new_refuses() {
    let mut config = HubConfig::default();
    config.slow_consumer = SlowConsumerPolicy::Close {
        code: CloseCode::ABNORMAL,
        reason: "x".into(),
    };
    assert_eq!(Hub::new(config).unwrap_err(), ConfigError::CloseCode(1006));
    let mut config = HubConfig::default();
    config.default_topic = "".into();
    assert!(matches!(
        Hub::new(config).unwrap_err(),
        ConfigError::DefaultTopic(RegisterError::Invalid {
            field: Field::Topic,
            problem: Problem::Empty
        })
    ));
    let mut config = HubConfig::default();
    config.default_topic = "lobby".into();
    let mut hub = Hub::new(config).unwrap();
    let h = hub.register(Registration::new("a")).unwrap();
    assert_eq!(hub.recipients(Target::Topic("lobby"), None), [h]);
}
