//! Connection limits and timers, each with its default and the reason for it.

use core::time::Duration;

/// Which end of the connection this is. Clients mask what they send and require unmasked
/// frames; servers do the opposite (RFC 6455 §5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The end that sent the upgrade request.
    Client,
    /// The end that answered it.
    Server,
}

/// Limits and timers for one connection. Every field has a safe default; see
/// [`Config::default`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Largest frame payload accepted, checked from the frame header before anything is
    /// allocated; a larger frame fails the connection with 1009.
    ///
    /// Default 16 MiB: the largest single frame in Autobahn's performance cases, and the
    /// same as tungstenite's default.
    pub max_frame_size: usize,
    /// Largest message accepted (all fragments together), checked as each frame header arrives;
    /// a message that would grow past it fails the connection with 1009.
    ///
    /// Default 16 MiB: large enough for Autobahn's 16 MiB messages, small enough that a
    /// thousand connections each halfway through a message cannot take the machine's memory.
    pub max_message_size: usize,
    /// Most bytes of encoded frames queued inside the connection and not yet taken by
    /// [`poll_transmit`](super::Connection::poll_transmit). A send that would pass it returns
    /// [`SendError::OutboundFull`](super::SendError::OutboundFull), so the caller sees
    /// backpressure instead of memory growing. Past it go only the close frame (there is at
    /// most one) and one pong owed for the latest ping, so the bound is this plus 262 bytes
    /// (two control frames of at most 131).
    ///
    /// Default 32 MiB: room for the echo of one maximum-size message while the previous one is
    /// still being written.
    pub max_outbound_bytes: usize,
    /// Send a ping after this long without receiving anything. `None` (the default) sends no
    /// keepalive pings: a library should not put traffic on the wire that its user did not
    /// ask for; servers turn it on. When the outbound queue is full (the peer is not reading
    /// it) the ping is not queued, but the pong timeout runs all the same.
    pub ping_interval: Option<Duration>,
    /// After a keepalive ping, how long to wait for any data from the peer before the
    /// connection fails with [`Error::KeepaliveTimeout`](super::Error::KeepaliveTimeout).
    ///
    /// Default 20 s: a live peer on a slow mobile link answers well within it.
    pub pong_timeout: Duration,
    /// After sending a close frame, how long to wait for the peer's before reporting the
    /// connection closed anyway (code 1006).
    ///
    /// Default 5 s: the close handshake needs one round trip; a peer that has not answered in
    /// five seconds is gone, and waiting longer only holds the socket.
    pub close_timeout: Duration,
    /// RSV bits a negotiated extension has claimed (`0b100` is RSV1). Frames with any other
    /// RSV bit set fail the connection with 1002. Default 0: no extension is negotiated.
    pub allowed_rsv_bits: u8,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_frame_size: 16 << 20,
            max_message_size: 16 << 20,
            max_outbound_bytes: 32 << 20,
            ping_interval: None,
            pong_timeout: Duration::from_secs(20),
            close_timeout: Duration::from_secs(5),
            allowed_rsv_bits: 0,
        }
    }
}
