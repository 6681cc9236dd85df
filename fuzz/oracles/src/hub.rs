//! Target `hub`: the broadcast hub driven by a sequence of operations — register (valid and
//! invalid ids, names and topics), unregister (live and stale handles), publish to a topic, a
//! user or everyone, a client's message, delivery of any plan made so far (also after its
//! recipients left), one recipient at a time or all, to connections whose readers drain
//! slowly or not at all, and peers that close — in any order.
//!
//! Oracles, against a model of plain maps: registration succeeds or fails exactly as the
//! documented rules say; recipient sets are the model's; the hub's sessions, topics and users
//! are the model's; a delivery goes only to a registered session with a connection, and its
//! outcome is the one the queue limits and the slow-consumer policy dictate; stats count the
//! outcomes; no queue passes its limit (plus one close frame); and each connection's output
//! carries exactly the frames queued for it, in order, well-formed.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use sockwright::conn::{Config, Connection, Message, Role};
use sockwright::frame::{CloseCode, SharedFrame};
use sockwright::hub::{
    ConfigError, Delivery, FanOut, Field, Handle, Hub, HubConfig, HubStats, Problem, PublishError,
    RegisterError, Registration, SlowConsumerPolicy, Target,
};

use crate::conn::CONTROL_SLACK;
use crate::frames::new_connection;
use crate::input::{byte, bytes, choice, flag};
use crate::wire::{self, op, DataFrame, Written};

/// Names the operations pick from, so that users and topics meet; index 4 is free text.
const NAMES: [&str; 4] = ["ann", "news", "default", "b\u{e9}b"];

/// The hub's configuration and the connections' outbound limit.
#[derive(Debug)]
pub struct Setup {
    /// The hub's limits and policies.
    pub config: HubConfig,
    /// Each connection's `max_outbound_bytes`.
    pub conn_limit: usize,
}

impl<'a> Arbitrary<'a> for Setup {
    /// Flags (bit 0 sender excluded, bit 1 drop instead of close), then presets (0–3 each):
    /// queue limit, connection limit, sessions, topics per session, id length.
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let flags = byte(u);
        let mut config = HubConfig::default();
        config.include_sender = flags & 1 == 0;
        if flags & 2 != 0 {
            config.slow_consumer = SlowConsumerPolicy::DropMessage;
        }
        config.max_queued_bytes = [64, 600, 4096, config.max_queued_bytes][choice(u, 3)];
        let conn_limit = [100, 2000, 10_000, Config::default().max_outbound_bytes][choice(u, 3)];
        config.max_sessions = [1, 3, 8, config.max_sessions][choice(u, 3)];
        config.max_topics_per_session = [0, 1, 2, 16][choice(u, 3)];
        config.max_id_len = [3, 4, 16, 256][choice(u, 3)];
        Ok(Self { config, conn_limit })
    }
}

/// One step.
#[derive(Debug)]
pub enum Op {
    /// Register a session: user, optional name, topics (each a name index or free text), and
    /// whether its connection is (wrongly) a client.
    Register {
        user: String,
        name: Option<String>,
        topics: Vec<String>,
        client: bool,
    },
    /// Unregister the n-th handle ever issued (live or stale), keeping its connection or not.
    Unregister { nth: usize, drop_conn: bool },
    /// Publish a frame of `len` bytes (text or binary) to a target, from the n-th handle or
    /// no one.
    Publish {
        target: u8,
        name: String,
        text: bool,
        len: usize,
        from: Option<usize>,
    },
    /// The n-th handle's client sends a message.
    Message { from: usize, text: bool, len: usize },
    /// Deliver the n-th plan made so far to all its recipients.
    DeliverAll { plan: usize },
    /// Deliver the n-th plan to its k-th recipient only.
    DeliverOne { plan: usize, recipient: usize },
    /// The n-th handle's connection writes: all (0) or up to this many bytes.
    Drain { nth: usize, limit: usize },
    /// The n-th handle's peer sends a close frame.
    PeerClose { nth: usize },
    /// A handle no registration returned.
    Forged { bits: u64 },
}

fn pick_name(u: &mut Unstructured<'_>) -> String {
    match choice(u, 4) {
        4 => String::from_utf8_lossy(&bytes(u, 20)).into_owned(),
        i => NAMES[i].to_string(),
    }
}

impl<'a> Arbitrary<'a> for Op {
    /// A tag byte (modulo 9), then the fields in order (a name is an index 0–3 into a fixed
    /// list, or 4 followed by a byte string).
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(match choice(u, 8) {
            0 => {
                let user = pick_name(u);
                let name = flag(u).then(|| pick_name(u));
                let topics = (0..choice(u, 4)).map(|_| pick_name(u)).collect();
                Op::Register {
                    user,
                    name,
                    topics,
                    client: byte(u) == 0xFF,
                }
            }
            1 => Op::Unregister {
                nth: choice(u, 255),
                drop_conn: flag(u),
            },
            2 => Op::Publish {
                target: byte(u) % 3,
                name: pick_name(u),
                text: flag(u),
                len: choice(u, 5000),
                from: flag(u).then(|| choice(u, 255)),
            },
            3 => Op::Message {
                from: choice(u, 255),
                text: flag(u),
                len: choice(u, 5000),
            },
            4 => Op::DeliverAll {
                plan: choice(u, 255),
            },
            5 => Op::DeliverOne {
                plan: choice(u, 255),
                recipient: choice(u, 255),
            },
            6 => Op::Drain {
                nth: choice(u, 255),
                limit: choice(u, 0xFFFF),
            },
            7 => Op::PeerClose {
                nth: choice(u, 255),
            },
            _ => Op::Forged {
                bits: u.arbitrary().unwrap_or(0),
            },
        })
    }
}

/// A registered session in the model.
#[derive(Clone, Debug)]
struct Member {
    user: String,
    topics: BTreeSet<String>,
}

/// What a connection wrote and what it must write.
struct Peer {
    written: Written,
    /// Frames the hub queued on it, in order.
    expected: Vec<DataFrame>,
}

struct Harness {
    hub: Hub,
    config: HubConfig,
    conn_limit: usize,
    /// The model: live sessions.
    live: BTreeMap<Handle, Member>,
    /// Every handle ever issued, in order.
    issued: Vec<Handle>,
    /// The server's connections, by handle (kept after unregister when asked).
    conns: BTreeMap<Handle, Connection>,
    /// What each connection (ever) must write, by handle.
    peers: BTreeMap<Handle, Peer>,
    plans: Vec<FanOut>,
    stats: HubStats,
}

/// Runs the operations of `data` against one hub.
pub fn run_hub(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(setup) = Setup::arbitrary(&mut u) else {
        return;
    };
    if let Err(error) = setup.config.check() {
        // Only a default topic longer than a short max_id_len is refused here.
        assert!(matches!(error, ConfigError::DefaultTopic(_)), "{error}");
        assert!(setup.config.default_topic.len() > setup.config.max_id_len);
        assert_eq!(Hub::new(setup.config).err(), Some(error));
        return;
    }
    let mut h = Harness::new(setup);
    while !u.is_empty() {
        let Ok(op) = Op::arbitrary(&mut u) else { break };
        h.apply(op);
        h.check();
    }
    h.finish();
}

impl Harness {
    fn new(setup: Setup) -> Self {
        Self {
            hub: Hub::new(setup.config.clone()).expect("a valid config"),
            config: setup.config,
            conn_limit: setup.conn_limit,
            live: BTreeMap::new(),
            issued: Vec::new(),
            conns: BTreeMap::new(),
            peers: BTreeMap::new(),
            plans: Vec::new(),
            stats: HubStats::default(),
        }
    }

    fn nth(&self, n: usize) -> Option<Handle> {
        (!self.issued.is_empty()).then(|| self.issued[n % self.issued.len()])
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::Register {
                user,
                name,
                topics,
                client,
            } => self.register(user, name, topics, client),
            Op::Unregister { nth, drop_conn } => {
                let Some(handle) = self.nth(nth) else { return };
                let session = self.hub.unregister(handle);
                let member = self.live.remove(&handle);
                assert_eq!(
                    session.is_some(),
                    member.is_some(),
                    "unregister of {handle:?}"
                );
                if let (Some(session), Some(member)) = (session, member) {
                    assert_eq!(session.user_id(), member.user);
                }
                if drop_conn {
                    self.conns.remove(&handle);
                }
            }
            Op::Publish {
                target,
                name,
                text,
                len,
                from,
            } => {
                let frame = frame(text, len);
                let target = match target {
                    0 => Target::Topic(&name),
                    1 => Target::User(&name),
                    _ => Target::All,
                };
                let from = from.and_then(|n| self.nth(n));
                let result = self.hub.publish(target, frame.clone(), from);
                if frame.encoded_len() > self.config.max_queued_bytes {
                    assert!(
                        matches!(result, Err(PublishError::TooLarge { .. })),
                        "{result:?}"
                    );
                    return;
                }
                let plan = result.expect("a publish within the limit");
                self.stats.published += 1;
                let expected = self.model_recipients(target, from);
                assert_eq!(plan.recipients(), expected, "recipients of {target:?}");
                self.plans.push(plan);
            }
            Op::Message { from, text, len } => {
                let Some(from) = self.nth(from) else { return };
                let message = if text {
                    Message::Text("m".repeat(len))
                } else {
                    Message::Binary(vec![0xC3; len].into())
                };
                let result = self.hub.on_message(from, &message);
                let Some(member) = self.live.get(&from).cloned() else {
                    assert_eq!(result.err(), Some(PublishError::UnknownSender));
                    return;
                };
                let encoded = SharedFrame::from(&message).encoded_len();
                if encoded > self.config.max_queued_bytes {
                    assert!(
                        matches!(result, Err(PublishError::TooLarge { .. })),
                        "{result:?}"
                    );
                    return;
                }
                let plan = result.expect("a message within the limit");
                self.stats.published += 1;
                let mut expected: BTreeSet<Handle> = BTreeSet::new();
                for topic in &member.topics {
                    expected.extend(self.members(|m| m.topics.contains(topic)));
                }
                if !self.config.include_sender {
                    expected.remove(&from);
                }
                assert_eq!(plan.recipients(), expected.into_iter().collect::<Vec<_>>());
                assert_eq!(plan.frame().payload(), message.as_bytes());
                self.plans.push(plan);
            }
            Op::DeliverAll { plan } => {
                if self.plans.is_empty() {
                    return;
                }
                let plan = self.plans[plan % self.plans.len()].clone();
                let expected: Vec<(Handle, Delivery)> = plan
                    .recipients()
                    .iter()
                    .map(|&h| (h, self.expect_delivery(h, plan.frame())))
                    .collect();
                let report = self.hub.deliver_all(&plan, &mut self.conns);
                assert_eq!(report.outcomes, expected, "deliveries of a plan");
                for (handle, delivery) in &report.outcomes {
                    self.delivered(*handle, delivery, plan.frame());
                }
            }
            Op::DeliverOne { plan, recipient } => {
                if self.plans.is_empty() {
                    return;
                }
                let plan = self.plans[plan % self.plans.len()].clone();
                let Some(&handle) = plan
                    .recipients()
                    .get(recipient % plan.recipient_count().max(1))
                else {
                    return;
                };
                // A server delivers to the recipients still registered (deliver_all checks).
                if !self.live.contains_key(&handle) {
                    return;
                }
                let Some(conn) = self.conns.get_mut(&handle) else {
                    return;
                };
                let expected = expect_on(&self.config, self.conn_limit, conn, plan.frame());
                let delivery = self.hub.deliver(plan.frame(), conn);
                assert_eq!(delivery, expected);
                self.delivered(handle, &delivery, plan.frame());
            }
            Op::Drain { nth, limit } => {
                let Some(handle) = self.nth(nth) else { return };
                self.drain(handle, limit);
            }
            Op::PeerClose { nth } => {
                let Some(handle) = self.nth(nth) else { return };
                let Some(conn) = self.conns.get_mut(&handle) else {
                    return;
                };
                let mask = (conn.role() == Role::Server).then_some([1, 2, 3, 4]);
                let close = wire::encode(true, 0, op::CLOSE, &[0x03, 0xE8], mask);
                let _ = conn.handle_read(Duration::ZERO, &close);
                while conn.poll_event().is_some() {}
            }
            Op::Forged { bits } => {
                let handle = Handle::from_bits(bits);
                let live = self.live.contains_key(&handle);
                assert_eq!(
                    self.hub.session(handle).is_some(),
                    live,
                    "a forged handle {handle:?}"
                );
            }
        }
    }

    fn register(&mut self, user: String, name: Option<String>, topics: Vec<String>, client: bool) {
        let mut registration = Registration::new(user.clone()).with_topics(topics.clone());
        if let Some(name) = &name {
            registration = registration.with_name(name.clone());
        }
        let result = self.hub.register(registration);
        let expected = self.expect_registration(&user, name.as_deref(), &topics);
        match (result, expected) {
            (Ok(handle), Ok(member)) => {
                assert!(
                    !self.issued.contains(&handle),
                    "a handle issued twice: {handle:?}"
                );
                let session = self
                    .hub
                    .session(handle)
                    .expect("a fresh handle names its session");
                assert_eq!(
                    session.topics().map(String::from).collect::<BTreeSet<_>>(),
                    member.topics
                );
                self.live.insert(handle, member);
                self.issued.push(handle);
                let mut config = Config::default();
                config.max_outbound_bytes = self.conn_limit;
                let role = if client { Role::Client } else { Role::Server };
                self.conns.insert(handle, new_connection(role, config));
                self.peers.insert(
                    handle,
                    Peer {
                        written: Written::new(role),
                        expected: Vec::new(),
                    },
                );
            }
            (Err(got), Err(want)) => assert_eq!(got, want, "registration of {user:?} {topics:?}"),
            (got, want) => {
                panic!("registration of {user:?} {name:?} {topics:?}: got {got:?}, want {want:?}")
            }
        }
    }

    /// The documented rules: user id, then a non-empty name, then each topic must be
    /// non-empty, within `max_id_len` and free of control characters; distinct topics within
    /// the limit; room for one more session.
    fn expect_registration(
        &self,
        user: &str,
        name: Option<&str>,
        topics: &[String],
    ) -> Result<Member, RegisterError> {
        let limit = self.config.max_id_len;
        let check = |field: Field, value: &str| -> Result<(), RegisterError> {
            let problem = if value.is_empty() {
                Problem::Empty
            } else if value.len() > limit {
                Problem::TooLong {
                    len: value.len(),
                    limit,
                }
            } else if let Some(at) = value
                .char_indices()
                .find(|(_, c)| c.is_control())
                .map(|(i, _)| i)
            {
                Problem::ControlCharacter { at }
            } else {
                return Ok(());
            };
            Err(RegisterError::Invalid { field, problem })
        };
        check(Field::UserId, user)?;
        if let Some(name) = name.filter(|n| !n.is_empty()) {
            check(Field::Name, name)?;
        }
        for topic in topics {
            check(Field::Topic, topic)?;
        }
        let mut distinct: BTreeSet<String> = topics.iter().cloned().collect();
        if distinct.len() > self.config.max_topics_per_session {
            return Err(RegisterError::TooManyTopics {
                count: distinct.len(),
                limit: self.config.max_topics_per_session,
            });
        }
        if self.live.len() >= self.config.max_sessions {
            return Err(RegisterError::Full {
                limit: self.config.max_sessions,
            });
        }
        if distinct.is_empty() {
            distinct.insert(self.config.default_topic.to_string());
        }
        Ok(Member {
            user: user.to_string(),
            topics: distinct,
        })
    }

    fn members(&self, keep: impl Fn(&Member) -> bool) -> Vec<Handle> {
        self.live
            .iter()
            .filter(|(_, m)| keep(m))
            .map(|(h, _)| *h)
            .collect()
    }

    fn model_recipients(&self, target: Target<'_>, from: Option<Handle>) -> Vec<Handle> {
        let mut recipients = match target {
            Target::Topic(topic) => self.members(|m| m.topics.contains(topic)),
            Target::User(user) => self.members(|m| m.user == user),
            Target::All => self.members(|_| true),
        };
        if let (false, Some(from)) = (self.config.include_sender, from) {
            recipients.retain(|&h| h != from);
        }
        recipients
    }

    /// What delivering `frame` to `handle` must give: `Gone` unless it is registered and has
    /// a connection, else what its queue says.
    fn expect_delivery(&self, handle: Handle, frame: &SharedFrame) -> Delivery {
        match (self.live.contains_key(&handle), self.conns.get(&handle)) {
            (true, Some(conn)) => expect_on(&self.config, self.conn_limit, conn, frame),
            _ => Delivery::Gone,
        }
    }

    fn delivered(&mut self, handle: Handle, delivery: &Delivery, frame: &SharedFrame) {
        match delivery {
            Delivery::Queued => {
                self.stats.queued += 1;
                assert!(
                    self.live.contains_key(&handle),
                    "delivered to unregistered {handle:?}"
                );
                let peer = self.peers.get_mut(&handle).expect("a registered peer");
                let text = frame.opcode() == sockwright::frame::OpCode::Text;
                peer.expected.push(DataFrame {
                    text,
                    payload: frame.payload().to_vec(),
                });
            }
            Delivery::Dropped => self.stats.dropped += 1,
            Delivery::Closed => self.stats.closed += 1,
            Delivery::Gone | Delivery::Refused(_) => {}
            other => panic!("undocumented delivery {other:?}"),
        }
    }

    /// Moves what the server's connection holds to its peer's record.
    fn drain(&mut self, handle: Handle, limit: usize) {
        let (Some(conn), Some(peer)) = (self.conns.get_mut(&handle), self.peers.get_mut(&handle))
        else {
            return;
        };
        let piece = if limit == 0 {
            let mut out = Vec::new();
            conn.poll_transmit(&mut out);
            out
        } else {
            let pending = conn.pending_transmit();
            let piece = pending[..pending.len().min(limit)].to_vec();
            conn.advance_transmit(piece.len());
            piece
        };
        peer.written.push(&piece);
    }

    fn check(&self) {
        assert_eq!(self.hub.stats(), self.stats, "stats");
        assert_eq!(self.hub.len(), self.live.len());
        let topics: BTreeSet<&str> = self
            .live
            .values()
            .flat_map(|m| m.topics.iter().map(String::as_str))
            .collect();
        assert_eq!(self.hub.topics().collect::<BTreeSet<_>>(), topics, "topics");
        let users: BTreeSet<&str> = self.live.values().map(|m| m.user.as_str()).collect();
        assert_eq!(self.hub.users().collect::<BTreeSet<_>>(), users, "users");
        for conn in self.conns.values() {
            let bound = self.config.max_queued_bytes.min(self.conn_limit) + CONTROL_SLACK;
            assert!(
                conn.queued_bytes() <= bound,
                "a queue of {} bytes",
                conn.queued_bytes()
            );
        }
    }

    fn finish(mut self) {
        let handles: Vec<Handle> = self.conns.keys().copied().collect();
        for handle in handles {
            self.drain(handle, 0);
        }
        for (handle, peer) in &self.peers {
            if !self.conns.contains_key(handle) {
                continue; // dropped before everything was written
            }
            peer.written.assert_whole();
            assert_eq!(
                peer.written.data, peer.expected,
                "frames written for {handle:?}"
            );
            if let Some(close) = &peer.written.close {
                if let SlowConsumerPolicy::Close { code, .. } = &self.config.slow_consumer {
                    let by_hub = wire::close_code(close) == code.0;
                    let reply = wire::close_code(close) == CloseCode::NORMAL.0;
                    assert!(by_hub || reply, "a close frame no one asked for");
                }
            }
        }
    }
}

/// A text or binary frame of `len` bytes.
fn frame(text: bool, len: usize) -> SharedFrame {
    if text {
        SharedFrame::text(&"t".repeat(len))
    } else {
        SharedFrame::binary(&vec![0xB1; len])
    }
}

/// The outcome of delivering `frame` on `conn`, by the documented rules.
fn expect_on(
    config: &HubConfig,
    conn_limit: usize,
    conn: &Connection,
    frame: &SharedFrame,
) -> Delivery {
    if conn.role() == Role::Client {
        return Delivery::Refused(sockwright::conn::SendError::SharedFrameFromClient);
    }
    if !conn.is_open() {
        return Delivery::Gone;
    }
    let len = frame.encoded_len();
    let queued = conn.queued_bytes();
    if queued + len <= config.max_queued_bytes {
        if len > conn_limit {
            return Delivery::Dropped;
        }
        if queued + len <= conn_limit {
            return Delivery::Queued;
        }
    }
    match config.slow_consumer {
        SlowConsumerPolicy::DropMessage => Delivery::Dropped,
        SlowConsumerPolicy::Close { .. } => Delivery::Closed,
    }
}
