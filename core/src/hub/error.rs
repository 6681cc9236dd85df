//! Why the hub refused a registration, a publish or its configuration.

use core::fmt;

use crate::frame::CloseCode;

/// Which part of a registration was wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// The user id.
    UserId,
    /// The display name.
    Name,
    /// A topic.
    Topic,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::UserId => "user id",
            Self::Name => "name",
            Self::Topic => "topic",
        })
    }
}

/// What was wrong with a user id, name or topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem {
    /// It is empty.
    Empty,
    /// It is longer than [`HubConfig::max_id_len`](super::HubConfig::max_id_len).
    TooLong {
        /// Its length in bytes.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// It holds a control character (such as a newline) at this byte offset.
    ControlCharacter {
        /// The byte offset of the first one.
        at: usize,
    },
}

/// Checks a user id, name or topic.
pub(super) fn check_id(field: Field, value: &str, limit: usize) -> Result<(), RegisterError> {
    let problem = if value.is_empty() {
        Problem::Empty
    } else if value.len() > limit {
        Problem::TooLong {
            len: value.len(),
            limit,
        }
    } else if let Some((at, _)) = value.char_indices().find(|(_, c)| c.is_control()) {
        Problem::ControlCharacter { at }
    } else {
        return Ok(());
    };
    Err(RegisterError::Invalid { field, problem })
}

/// A registration was refused; nothing was registered. The client's fault (400) unless the
/// hub is full (503).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegisterError {
    /// A user id, name or topic is empty, too long or holds a control character.
    Invalid {
        /// Which one.
        field: Field,
        /// What is wrong with it.
        problem: Problem,
    },
    /// More distinct topics than
    /// [`HubConfig::max_topics_per_session`](super::HubConfig::max_topics_per_session).
    TooManyTopics {
        /// Distinct topics asked for.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// [`HubConfig::max_sessions`](super::HubConfig::max_sessions) sessions are registered.
    Full {
        /// The limit.
        limit: usize,
    },
}

impl RegisterError {
    /// The HTTP status to refuse the upgrade with: 400 for a bad request, 503 when the hub is
    /// full.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::Full { .. } => 503,
            _ => 400,
        }
    }
}

impl fmt::Display for RegisterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid { field, problem } => match problem {
                Problem::Empty => write!(f, "{field} is empty"),
                Problem::TooLong { len, limit } => {
                    write!(
                        f,
                        "{field} of {len} bytes is longer than the limit of {limit}"
                    )
                }
                Problem::ControlCharacter { at } => {
                    write!(f, "{field} has a control character at byte {at}")
                }
            },
            Self::TooManyTopics { count, limit } => {
                write!(
                    f,
                    "{count} topics asked for, more than the limit of {limit}"
                )
            }
            Self::Full { limit } => {
                write!(f, "the hub is full ({limit} sessions); try again later")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for RegisterError {}

/// A publish was refused; nothing was delivered.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PublishError {
    /// The encoded frame is larger than
    /// [`HubConfig::max_queued_bytes`](super::HubConfig::max_queued_bytes), so no queue could
    /// take it (HTTP 413 for a backend's publish; close 1009 for a client's message).
    TooLarge {
        /// Bytes the encoded frame needs.
        needed: usize,
        /// The limit.
        limit: usize,
    },
    /// The sender's handle names no registered session (it was unregistered).
    UnknownSender,
}

impl PublishError {
    /// The HTTP status for a backend's publish: 413 for a message too large, 404 otherwise.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::TooLarge { .. } => 413,
            Self::UnknownSender => 404,
        }
    }

    /// The close code for a client whose message was refused: 1009 (Message Too Big).
    pub fn close_code(&self) -> CloseCode {
        CloseCode::MESSAGE_TOO_BIG
    }
}

impl fmt::Display for PublishError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { needed, limit } => write!(
                f,
                "message needs {needed} bytes, more than the hub's per-connection queue limit {limit}"
            ),
            Self::UnknownSender => f.write_str("the sender is not registered"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for PublishError {}

/// A [`HubConfig`](super::HubConfig) that [`Hub::new`](super::Hub::new) cannot use.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// The slow-consumer policy closes with a code that may not be sent.
    CloseCode(u16),
    /// The default topic is not one a registration could name.
    DefaultTopic(RegisterError),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CloseCode(code) => write!(
                f,
                "slow-consumer close code {code} may not be sent (use 1000-1003, 1007-1014 or 3000-4999)"
            ),
            Self::DefaultTopic(e) => write!(f, "default topic: {e}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ConfigError {}
