//! The hub's limits and policies, each with its default and the reason for it.

use alloc::borrow::Cow;
use alloc::string::ToString;

use super::error::{check_id, ConfigError, Field};
use crate::frame::{CloseCode, CloseFrame};

/// What the hub does with a message for a connection whose outbound queue has no room for it.
/// Either way the other recipients are not slowed down and no memory is added.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SlowConsumerPolicy {
    /// Start the close handshake with this code and reason (the close frame is queued past the
    /// limit, as close frames always are). The connection ends when the peer answers or its
    /// close timeout passes; until the server unregisters it, it is skipped.
    Close {
        /// The close code; must be one that may be sent ([`CloseCode::is_sendable`]).
        code: CloseCode,
        /// The reason, cut to 123 bytes.
        reason: Cow<'static, str>,
    },
    /// Skip the message for this connection and count it as dropped; the connection stays
    /// open and gets later messages when its queue has room. For feeds where the latest value
    /// matters more than every value.
    DropMessage,
}

impl SlowConsumerPolicy {
    /// The close frame this policy sends, or `None` if it drops the message: for a server
    /// that applies the policy before a frame reaches the connection (a queue in front of it
    /// is full), with the same code and reason as [`deliver`](super::deliver()) would use.
    pub fn close_frame(&self) -> Option<CloseFrame> {
        match self {
            SlowConsumerPolicy::Close { code, reason } => Some(CloseFrame {
                code: *code,
                reason: reason.to_string(),
            }),
            SlowConsumerPolicy::DropMessage => None,
        }
    }
}

impl Default for SlowConsumerPolicy {
    /// Close with 1013 (Try Again Later), reason "slow consumer: outbound queue full".
    ///
    /// 1013 rather than 1008 (Policy Violation): 1008 says the peer *sent* something against
    /// the policy, and a slow reader sent nothing wrong. The IANA registry describes 1013 as a
    /// server "overloaded and casting off some of its clients", which is what this is, and
    /// tells a client it may reconnect later (with backoff) and catch up.
    fn default() -> Self {
        Self::Close {
            code: CloseCode::TRY_AGAIN_LATER,
            reason: Cow::Borrowed("slow consumer: outbound queue full"),
        }
    }
}

/// Limits and policies for a [`Hub`](super::Hub). Every field has a safe default; see
/// [`HubConfig::default`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HubConfig {
    /// Whether a client's message is delivered back to its sender too (when the sender is in
    /// the target). Default `true`: in the seed's chat room everyone, the sender included,
    /// sees the same stream of messages, which is also how a client learns its message went
    /// through.
    pub include_sender: bool,
    /// The topic of a connection that names none. Default `"default"`: one room for every
    /// plain `/im?user_id=…` connection, so each of them gets every message of the others.
    /// A connection may also name it explicitly, and a backend may publish to it.
    pub default_topic: Cow<'static, str>,
    /// What to do when a recipient's queue is full. Default: close it with 1013, see
    /// [`SlowConsumerPolicy::default`].
    pub slow_consumer: SlowConsumerPolicy,
    /// Most bytes of encoded frames a connection may have waiting for the transport before
    /// the hub counts it as a slow consumer (the connection's own
    /// [`Config::max_outbound_bytes`](crate::conn::Config::max_outbound_bytes) applies as
    /// well; the smaller one wins). A published frame larger than this is refused with
    /// [`PublishError::TooLarge`](super::PublishError::TooLarge), as no one could take it.
    ///
    /// Default 1 MiB: hub messages are notifications and chat lines of a few hundred bytes, so
    /// this is thousands of messages behind, which a reader that keeps up never is (it drains
    /// within a round trip). Frames of 1 KiB or more are shared between connections, so a stuck
    /// reader holds references to them rather than copies; shorter ones are copied, so the
    /// worst case is this much per session, times [`max_sessions`](Self::max_sessions).
    pub max_queued_bytes: usize,
    /// Most sessions registered at once; [`register`](super::Hub::register) refuses more with
    /// [`RegisterError::Full`](super::RegisterError::Full) (HTTP 503). Default 65 536: a
    /// session costs the hub a few hundred bytes of bookkeeping (at most about 5 KiB with
    /// every id at its longest), and the server's connection limit is usually lower anyway.
    pub max_sessions: usize,
    /// Most topics one connection may join. Default 16: a client follows a handful of
    /// topics, and each costs an entry in the topic index.
    pub max_topics_per_session: usize,
    /// Longest user id, name or topic, in bytes. Default 256: room for UUIDs, e-mail
    /// addresses (at most 254 bytes) and path-like topic names, while a hostile client cannot
    /// make an index entry large.
    pub max_id_len: usize,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            include_sender: true,
            default_topic: Cow::Borrowed("default"),
            slow_consumer: SlowConsumerPolicy::default(),
            max_queued_bytes: 1 << 20,
            max_sessions: 1 << 16,
            max_topics_per_session: 16,
            max_id_len: 256,
        }
    }
}

impl HubConfig {
    /// Checks what [`Hub::new`](super::Hub::new) needs: a close code that may be sent, and a
    /// default topic that a registration could name (not empty, within `max_id_len`, no
    /// control characters).
    pub fn check(&self) -> Result<(), ConfigError> {
        if let SlowConsumerPolicy::Close { code, .. } = &self.slow_consumer {
            if !code.is_sendable() {
                return Err(ConfigError::CloseCode(code.0));
            }
        }
        check_id(Field::Topic, &self.default_topic, self.max_id_len)
            .map_err(ConfigError::DefaultTopic)
    }
}
