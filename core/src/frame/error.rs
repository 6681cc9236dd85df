//! What a peer can do wrong at the frame level, and the close code each answer carries.

use core::fmt;

use super::CloseCode;

/// The peer broke RFC 6455 or a configured limit. Each variant maps to the close code the
/// connection sends before it fails ([`close_code`](Self::close_code)).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// An opcode from the reserved ranges 3–7 or 11–15.
    ReservedOpcode(u8),
    /// RSV bits that no negotiated extension claims.
    ReservedBits(u8),
    /// A 64-bit payload length with its most significant bit set.
    LengthTopBitSet,
    /// A control frame with more than 125 bytes of payload.
    ControlFrameTooLong(u64),
    /// A control frame without FIN.
    FragmentedControlFrame,
    /// A frame from a client that was not masked.
    UnmaskedClientFrame,
    /// A frame from a server that was masked.
    MaskedServerFrame,
    /// A continuation frame with no message in progress.
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message was still in progress.
    ExpectedContinuation,
    /// A text message or close reason that is not UTF-8.
    InvalidUtf8,
    /// A close payload of exactly one byte.
    CloseFrameTooShort,
    /// A close code that may not be sent on the wire.
    InvalidCloseCode(u16),
    /// A frame longer than the configured maximum frame size.
    FrameTooLarge {
        /// The declared payload length.
        len: u64,
        /// The configured maximum.
        max: usize,
    },
    /// A message that would grow past the configured maximum message size.
    MessageTooLarge {
        /// The message length including the frame that crossed the limit.
        len: u64,
        /// The configured maximum.
        max: usize,
    },
}

impl ProtocolError {
    /// The close code sent to the peer for this error: 1007 for bad UTF-8, 1009 for sizes,
    /// 1002 for everything else.
    pub fn close_code(&self) -> CloseCode {
        match self {
            Self::InvalidUtf8 => CloseCode::INVALID_PAYLOAD,
            Self::FrameTooLarge { .. } | Self::MessageTooLarge { .. } => CloseCode::MESSAGE_TOO_BIG,
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ReservedOpcode(op) => write!(f, "reserved opcode {op:#x}"),
            Self::ReservedBits(bits) => {
                write!(f, "reserved bits {bits:#05b} set without an extension")
            }
            Self::LengthTopBitSet => f.write_str("64-bit payload length has its top bit set"),
            Self::ControlFrameTooLong(len) => write!(f, "control frame of {len} bytes (max 125)"),
            Self::FragmentedControlFrame => f.write_str("fragmented control frame"),
            Self::UnmaskedClientFrame => f.write_str("client frame is not masked"),
            Self::MaskedServerFrame => f.write_str("server frame is masked"),
            Self::UnexpectedContinuation => f.write_str("continuation frame without a message"),
            Self::ExpectedContinuation => f.write_str("new message before the previous one ended"),
            Self::InvalidUtf8 => f.write_str("invalid UTF-8 in text"),
            Self::CloseFrameTooShort => f.write_str("close payload of 1 byte"),
            Self::InvalidCloseCode(code) => write!(f, "close code {code} may not be sent"),
            Self::FrameTooLarge { len, max } => write!(f, "frame of {len} bytes (max {max})"),
            Self::MessageTooLarge { len, max } => write!(f, "message of {len}+ bytes (max {max})"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ProtocolError {}
