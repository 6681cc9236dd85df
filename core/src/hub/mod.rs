//! The broadcast hub: who is connected, under which user and in which topics, and who gets a
//! message. Pure data and logic, like the rest of the core: the hub holds no connection and
//! does no I/O; the server keeps its connections and hands them to the hub to deliver.
//!
//! - [`Hub::register`] a connection with a user id, an optional name and topics; it gets an
//!   opaque, generation-checked [`Handle`]. A connection that names no topic joins the default
//!   room ([`HubConfig::default_topic`]), so every plain connection hears every other. One user
//!   may have several sessions. [`Hub::unregister`] removes only that session.
//! - [`Hub::publish`] to a [`Target`] (a topic, a user's sessions, or everyone), or
//!   [`Hub::on_message`] for a client's message (to everyone in its topics, the sender included
//!   unless [`HubConfig::include_sender`] is off). Either returns a [`FanOut`]: one
//!   [`SharedFrame`], encoded once, and the recipients. Server frames are unmasked, so the
//!   same bytes go to every peer.
//! - [`Hub::deliver_all`] (or [`Hub::deliver`] per connection, or the free [`deliver`] where
//!   connections live on other threads) queues the frame on each recipient's connection. A
//!   connection whose queue has no room ([`HubConfig::max_queued_bytes`], and the connection's
//!   own `max_outbound_bytes`) gets the [`SlowConsumerPolicy`]: by default its close handshake
//!   starts with 1013; or the message is dropped for it and counted. Nothing blocks, the other
//!   recipients are not held back, and nothing queues past a limit.
//!
//! # Limits
//!
//! Every input here may come from the network (a query string, a `Topic` header), so each is
//! bounded: [`HubConfig::max_sessions`], [`HubConfig::max_topics_per_session`],
//! [`HubConfig::max_id_len`] for user ids, names and topics, and
//! [`HubConfig::max_queued_bytes`] per connection. A topic or user with no session left costs
//! nothing. The memory a hub and its connections can hold is at most about
//! `max_sessions × (max_queued_bytes + 5 KiB)`, and much less in practice because frames of
//! 1 KiB or more are shared, not copied, between the queues.
//!
//! # Example
//!
//! ```
//! use std::collections::BTreeMap;
//! use std::time::Duration;
//! use sockwright::conn::{Config, Connection, Message};
//! use sockwright::hub::{Delivery, Hub, HubConfig, Registration, Target};
//!
//! let mut hub = Hub::new(HubConfig::default()).unwrap();
//! let mut conns = BTreeMap::new();
//! for user in ["ann", "bob", "ann"] {
//!     let handle = hub.register(Registration::new(user)).unwrap();
//!     conns.insert(handle, Connection::server(Config::default(), Duration::ZERO));
//! }
//! // A backend pushes to all of ann's sessions.
//! let plan = hub.publish(Target::User("ann"), "hi ann".into(), None).unwrap();
//! assert_eq!(plan.recipient_count(), 2);
//! let report = hub.deliver_all(&plan, &mut conns);
//! assert_eq!(report.count(&Delivery::Queued), 2);
//! // A client's message goes to everyone in its topics: here the default room, sender included.
//! let ann = plan.recipients()[0];
//! let plan = hub.on_message(ann, &Message::Text("hello all".into())).unwrap();
//! assert_eq!(plan.recipient_count(), 3);
//! ```

mod config;
mod deliver;
mod error;
mod slab;

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::String;
use alloc::vec::Vec;

pub use config::{HubConfig, SlowConsumerPolicy};
pub use deliver::{deliver, Connections, Delivery, FanOut, HubStats, Report};
pub use error::{ConfigError, Field, Problem, PublishError, RegisterError};
pub use slab::Handle;

use crate::conn::{Connection, Message};
use crate::frame::{FrameHeader, OpCode, SharedFrame};
use error::check_id;
use slab::Slab;

/// What a connection registers with. Build it with [`Registration::new`] and the `with_*`
/// methods.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Registration {
    /// The user the connection belongs to (required; several connections may share it).
    pub user_id: String,
    /// A display name, if the client gave one (an empty one counts as none).
    pub name: Option<String>,
    /// The topics to join (duplicates count once); none means the default room.
    pub topics: Vec<String>,
}

impl Registration {
    /// A registration for `user_id`, with no name, in the default room.
    pub fn new(user_id: impl Into<String>) -> Self {
        Self {
            user_id: user_id.into(),
            name: None,
            topics: Vec::new(),
        }
    }

    /// Sets the display name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Adds a topic.
    pub fn with_topic(mut self, topic: impl Into<String>) -> Self {
        self.topics.push(topic.into());
        self
    }

    /// Adds several topics.
    pub fn with_topics<S: Into<String>>(mut self, topics: impl IntoIterator<Item = S>) -> Self {
        self.topics.extend(topics.into_iter().map(Into::into));
        self
    }
}

/// A registered session, as [`Hub::session`] shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    user_id: String,
    name: Option<String>,
    /// Sorted, without duplicates; the default topic when the registration named none.
    topics: Vec<String>,
}

impl Session {
    /// The user id.
    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    /// The display name, if one was given.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The topics the session is in, sorted; the default topic if it named none.
    pub fn topics(&self) -> impl Iterator<Item = &str> {
        self.topics.iter().map(String::as_str)
    }
}

/// Whom a publish is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target<'a> {
    /// Every session in this topic.
    Topic(&'a str),
    /// Every session of this user.
    User(&'a str),
    /// Every session.
    All,
}

/// The broadcast hub. See the [module docs](self).
pub struct Hub {
    config: HubConfig,
    sessions: Slab<Session>,
    /// Topic -> its sessions. A topic with no session has no entry.
    topics: BTreeMap<String, BTreeSet<Handle>>,
    /// User id -> its sessions. A user with no session has no entry.
    users: BTreeMap<String, BTreeSet<Handle>>,
    stats: HubStats,
}

impl core::fmt::Debug for Hub {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Hub")
            .field("sessions", &self.sessions.len())
            .field("topics", &self.topics.len())
            .field("users", &self.users.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Hub {
    /// An empty hub, once [`HubConfig::check`] accepts the config.
    pub fn new(config: HubConfig) -> Result<Self, ConfigError> {
        config.check()?;
        Ok(Self {
            config,
            sessions: Slab::new(),
            topics: BTreeMap::new(),
            users: BTreeMap::new(),
            stats: HubStats::default(),
        })
    }

    /// The limits and policies in force.
    pub fn config(&self) -> &HubConfig {
        &self.config
    }

    // ----- sessions -----

    /// Whether [`Hub::register`] would accept `registration` now, registering nothing: for a
    /// server that refuses a bad registration (400) or a full hub (503) before it upgrades
    /// the connection, with [`RegisterError::http_status`] and the error's text as reason.
    pub fn check(&self, registration: &Registration) -> Result<(), RegisterError> {
        let limit = self.config.max_id_len;
        check_id(Field::UserId, &registration.user_id, limit)?;
        if let Some(name) = registration.name.as_deref().filter(|name| !name.is_empty()) {
            check_id(Field::Name, name, limit)?;
        }
        for topic in &registration.topics {
            check_id(Field::Topic, topic, limit)?;
        }
        let mut distinct: Vec<&str> = registration.topics.iter().map(String::as_str).collect();
        distinct.sort_unstable();
        distinct.dedup();
        let max_topics = self.config.max_topics_per_session;
        if distinct.len() > max_topics {
            return Err(RegisterError::TooManyTopics {
                count: distinct.len(),
                limit: max_topics,
            });
        }
        if self.sessions.len() >= self.config.max_sessions {
            return Err(RegisterError::Full {
                limit: self.config.max_sessions,
            });
        }
        Ok(())
    }

    /// Registers a session. Fails, registering nothing, on an empty, overlong or control
    /// character-bearing user id, name or topic, on too many topics, or when the hub is full
    /// (see [`Hub::check`]).
    pub fn register(&mut self, registration: Registration) -> Result<Handle, RegisterError> {
        self.check(&registration)?;
        let Registration {
            user_id,
            name,
            mut topics,
        } = registration;
        let name = name.filter(|name| !name.is_empty());
        topics.sort_unstable();
        topics.dedup();
        if topics.is_empty() {
            topics.push(String::from(&*self.config.default_topic));
        }
        let full = RegisterError::Full {
            limit: self.config.max_sessions,
        };
        let session = Session {
            user_id,
            name,
            topics,
        };
        let Some(handle) = self.sessions.insert(session) else {
            return Err(full);
        };
        let session = self.sessions.get(handle).ok_or(full)?;
        for topic in &session.topics {
            self.topics.entry(topic.clone()).or_default().insert(handle);
        }
        self.users
            .entry(session.user_id.clone())
            .or_default()
            .insert(handle);
        Ok(handle)
    }

    /// Removes one session (that connection's) from its user and its topics; the user's other
    /// sessions stay. Returns what was registered, or `None` for a stale handle.
    pub fn unregister(&mut self, handle: Handle) -> Option<Session> {
        let session = self.sessions.remove(handle)?;
        for topic in &session.topics {
            remove_member(&mut self.topics, topic, handle);
        }
        remove_member(&mut self.users, &session.user_id, handle);
        Some(session)
    }

    /// The session behind `handle`, or `None` for a stale handle.
    pub fn session(&self, handle: Handle) -> Option<&Session> {
        self.sessions.get(handle)
    }

    /// How many sessions are registered.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// Whether no session is registered.
    pub fn is_empty(&self) -> bool {
        self.sessions.len() == 0
    }

    /// The topics that have at least one session, sorted.
    pub fn topics(&self) -> impl Iterator<Item = &str> {
        self.topics.keys().map(String::as_str)
    }

    /// The user ids that have at least one session, sorted.
    pub fn users(&self) -> impl Iterator<Item = &str> {
        self.users.keys().map(String::as_str)
    }

    /// Running totals of fan-outs and deliveries.
    pub fn stats(&self) -> HubStats {
        self.stats
    }

    // ----- routing -----

    /// Who a publish to `target` from `from` reaches, in handle order, each once: the target's
    /// sessions, less the sender unless [`HubConfig::include_sender`].
    pub fn recipients(&self, target: Target<'_>, from: Option<Handle>) -> Vec<Handle> {
        let mut recipients: Vec<Handle> = match target {
            Target::Topic(topic) => members(&self.topics, topic),
            Target::User(user) => members(&self.users, user),
            Target::All => self.sessions.iter().map(|(handle, _)| handle).collect(),
        };
        self.exclude_sender(&mut recipients, from);
        recipients
    }

    /// Plans a publish: `frame` (encoded once) for everyone `target` names. `from` is the
    /// sending session, if any, which is left out unless [`HubConfig::include_sender`].
    /// Refused when the frame is larger than [`HubConfig::max_queued_bytes`].
    pub fn publish(
        &mut self,
        target: Target<'_>,
        frame: SharedFrame,
        from: Option<Handle>,
    ) -> Result<FanOut, PublishError> {
        self.check_size(frame.encoded_len())?;
        let recipients = self.recipients(target, from);
        self.stats.published = self.stats.published.saturating_add(1);
        Ok(FanOut { frame, recipients })
    }

    /// Plans the delivery of a client's message: to everyone in the sender's topics (each
    /// once), with the message's type, the sender included unless configured otherwise. The
    /// size is checked before anything is encoded.
    pub fn on_message(&mut self, from: Handle, message: &Message) -> Result<FanOut, PublishError> {
        let session = self.sessions.get(from).ok_or(PublishError::UnknownSender)?;
        let payload_len = message.as_bytes().len();
        let header_len = FrameHeader {
            fin: true,
            rsv: 0,
            opcode: OpCode::Binary,
            mask: None,
            payload_len: payload_len as u64,
        }
        .encoded_len();
        self.check_size(header_len.saturating_add(payload_len))?;
        let mut recipients: Vec<Handle> = session
            .topics
            .iter()
            .flat_map(|topic| members(&self.topics, topic))
            .collect();
        recipients.sort_unstable();
        recipients.dedup();
        self.exclude_sender(&mut recipients, Some(from));
        self.stats.published = self.stats.published.saturating_add(1);
        Ok(FanOut {
            frame: SharedFrame::from(message),
            recipients,
        })
    }

    // ----- delivery -----

    /// Queues `frame` on one connection, or applies the slow-consumer policy (see [`deliver`]),
    /// and counts the outcome in [`Hub::stats`].
    pub fn deliver(&mut self, frame: &SharedFrame, conn: &mut Connection) -> Delivery {
        let delivery = deliver(&self.config, frame, conn);
        self.stats.record(&delivery);
        delivery
    }

    /// Delivers a fan-out to each recipient still registered, finding its connection in
    /// `conns`; a recipient unregistered since the plan, or without a connection, is
    /// [`Delivery::Gone`]. Afterwards write each recipient's output as usual (drain
    /// invariant); a [`Delivery::Closed`] one has a close frame queued.
    pub fn deliver_all(&mut self, fan_out: &FanOut, conns: &mut impl Connections) -> Report {
        let mut outcomes = Vec::with_capacity(fan_out.recipients.len());
        for &handle in &fan_out.recipients {
            let conn = match self.sessions.get(handle) {
                Some(_) => conns.connection(handle),
                None => None,
            };
            let delivery = match conn {
                Some(conn) => self.deliver(&fan_out.frame, conn),
                None => Delivery::Gone,
            };
            outcomes.push((handle, delivery));
        }
        Report { outcomes }
    }

    // ----- internals -----

    fn check_size(&self, needed: usize) -> Result<(), PublishError> {
        let limit = self.config.max_queued_bytes;
        if needed > limit {
            return Err(PublishError::TooLarge { needed, limit });
        }
        Ok(())
    }

    fn exclude_sender(&self, recipients: &mut Vec<Handle>, from: Option<Handle>) {
        if let (false, Some(from)) = (self.config.include_sender, from) {
            recipients.retain(|&handle| handle != from);
        }
    }
}

/// The sessions under `key`, in handle order.
fn members(index: &BTreeMap<String, BTreeSet<Handle>>, key: &str) -> Vec<Handle> {
    index
        .get(key)
        .map(|set| set.iter().copied().collect())
        .unwrap_or_default()
}

/// Takes `handle` out of `key`'s sessions, and `key` out of the index when none are left.
fn remove_member(index: &mut BTreeMap<String, BTreeSet<Handle>>, key: &str, handle: Handle) {
    if let Some(set) = index.get_mut(key) {
        set.remove(&handle);
        if set.is_empty() {
            index.remove(key);
        }
    }
}
