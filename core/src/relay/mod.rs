//! A WebSocket relay (reverse proxy) as a pure machine: one client connection (the *front*,
//! where the relay is the server) spliced to one upstream connection (the *back*, where the
//! relay is the client). The caller owns both transports, the clock and the randomness; the
//! caller's router picks the upstream `ws://` or `wss://` URL from the request path.
//!
//! # Phase 1: the handshake
//!
//! 1. The caller parses the client's request ([`RequestParser`](crate::handshake::RequestParser)),
//!    routes on its path, then calls [`Relay::start`]. The request is validated against
//!    [`RelayConfig::front`] (a rejection is returned to send), and the upstream request is
//!    built by [`plan_upstream`]: the upstream URL's path and query plus the client's query,
//!    the client's offered subprotocols, the headers in [`RelayConfig::forward_headers`]
//!    (default `Name` and `Topic`), never a hop-by-hop header (`Connection`, `Keep-Alive`,
//!    `Proxy-*`, `TE`, `Trailer`, `Transfer-Encoding`, `Upgrade`, and whatever the client's
//!    `Connection` header names) nor a handshake header (`Host`, `Sec-WebSocket-*`; the relay
//!    makes its own key), and `X-Forwarded-For` with the client's address appended.
//! 2. The caller connects to the upstream (TCP, then TLS for `wss`) and writes what
//!    [`Relay::poll_back_transmit`] gives (the request), then feeds the upstream's bytes to
//!    [`Relay::handle_back_read`]. A connection that fails is [`Relay::handle_back_unreachable`].
//! 3. On a valid `101` ([`map_response`]) the client's `101` is queued on the front, carrying
//!    the subprotocol the upstream chose (always one the client offered) and the upstream's
//!    end-to-end headers (e.g. `Set-Cookie`); [`RelayEvent::Opened`] is reported. Otherwise
//!    the client gets `502 Bad Gateway` ([`bad_gateway`]) whose reason names the upstream and
//!    what went wrong: refused with status N, unreachable, timed out after
//!    [`RelayConfig::upstream_timeout`], closed early, or an invalid handshake; then
//!    [`RelayEvent::Refused`].
//!
//! # Phase 2: streaming
//!
//! - Every message crosses with its type: text stays text, binary stays binary. Messages are
//!   forwarded whole once they are complete, so fragment boundaries are not kept (RFC 6455
//!   §5.4 lets an intermediary refragment) and each side's `max_message_size` applies.
//! - Pings are answered by each side's own connection and are not forwarded, nor are pongs:
//!   each hop keeps itself alive ([`Config::ping_interval`](crate::conn::Config) per side).
//! - A close frame's code and reason cross unchanged; one without a code (1005) crosses as
//!   1000. Each side's close handshake completes on its own.
//! - A side lost without a close frame: the upstream gone (EOF, close timeout) gives the
//!   client 1011 "upstream connection lost"; an upstream that breaks the protocol gives it
//!   1014 (bad gateway) with the violation as the reason; an upstream gone silent after a
//!   keepalive ping gives it 1011. The client gone gives the upstream 1001 "client went away"
//!   (with the violation or the keepalive timeout as the reason when that is why).
//! - A message larger than the receiving side's `max_outbound_bytes` can never be sent: its
//!   sender is closed with 1009 and the other side as if the sender had gone (1001 upstream,
//!   1011 client). Keep `max_outbound_bytes` of each side above the other's
//!   `max_message_size` (the defaults are 32 MiB and 16 MiB).
//! - Backpressure: when one side's outbound queue is full, the message that did not fit is
//!   held (one per direction) and [`Relay::wants_front_read`] / [`Relay::wants_back_read`]
//!   turn false for the side it came from; the caller stops reading that transport until
//!   they turn true, after transmit was taken. Memory per relay is thus bounded by, per
//!   direction, one message being received, one held, the outbound queue
//!   (`max_outbound_bytes`) and the messages decoded from the last read.
//! - Messages a side delivers after the other has closed cannot be sent; they are counted in
//!   [`RelayStats`], reported by [`RelayEvent::Finished`], never dropped silently.
//!
//! # The drain invariant
//!
//! After every input (`handle_*`) or command: take [`Relay::poll_front_transmit`] and
//! [`Relay::poll_back_transmit`] (or `pending_*` / `advance_*`) and write them, take every
//! [`Relay::poll_event`], re-read `wants_front_read` / `wants_back_read`, then re-arm the timer
//! from [`Relay::poll_timeout`]. Taking transmit is an input too: room in a queue lets a held
//! message move. Close a transport once [`Relay::is_front_finished`] or
//! [`Relay::is_back_finished`] holds; the relay is done when [`Relay::is_finished`] holds, and
//! it reports [`RelayEvent::Finished`] exactly once.
//!
//! # Limits
//!
//! | setting | default | why |
//! | --- | --- | --- |
//! | [`RelayConfig::forward_headers`] | `Name`, `Topic` | what the hub reads; cookies and credentials are not sent on unless listed |
//! | [`RelayConfig::upstream_timeout`] | 10 s | connect, TLS and handshake of a healthy upstream take milliseconds; a client should not wait longer than a browser's patience |
//! | [`RelayConfig::max_early_bytes`] | 64 KiB | a client must wait for the `101` before sending frames; this is room for one that pipelines a first message |
//! | [`RelayConfig::upstream_limits`] | 16 KiB, 64 headers | the same as for requests |
//! | [`RelayConfig::front_conn`], [`RelayConfig::back_conn`] | [`Config`] defaults | each side has its own limits and timers; see [`conn`](crate::conn) |

mod gateway;
mod machine;
mod splice;
mod upstream;

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::time::Duration;

use crate::conn::{Closed, Config, Error};
use crate::handshake::{HandshakeLimits, InvalidHeader, Rejection, ServerConfig};

pub use gateway::{bad_gateway, UpstreamFailure};
pub use machine::{Relay, RoleMismatch};
pub use splice::{close_for_other, failure_for_other};
pub use upstream::{is_hop_by_hop, map_response, plan_upstream, upstream_target, MappedResponse};

/// One side of the relay.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// The client's connection, where the relay is the server.
    Front,
    /// The upstream's connection, where the relay is the client.
    Back,
}

/// How a relay builds upstream requests and runs its two connections. Every field has a
/// default; see the [module docs](self) for the limits.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RelayConfig {
    /// How client requests are judged: head limits, token mode, origin policy. Its
    /// `subprotocols` are ignored: the upstream chooses among those the client offered.
    pub front: ServerConfig,
    /// The client connection's limits and timers.
    pub front_conn: Config,
    /// The upstream connection's limits and timers.
    pub back_conn: Config,
    /// Limits on the upstream's response head.
    pub upstream_limits: HandshakeLimits,
    /// Request headers passed to the upstream when the client sends them, every line, in this
    /// order. Default `Name` and `Topic`. Hop-by-hop and handshake headers are never
    /// forwarded; [`RelayConfig::check`] reports such entries.
    pub forward_headers: Vec<String>,
    /// Append the client's query to the upstream URL's (default on); see
    /// [`upstream_target`].
    pub forward_query: bool,
    /// Send `X-Forwarded-For` with the client's address appended (default on).
    pub forwarded_for: bool,
    /// How long the upstream has, from [`Relay::start`], to be connected and answer the
    /// handshake before the client gets a `502`. Default 10 s.
    pub upstream_timeout: Duration,
    /// Name the upstream URL in the `502` reasons the client reads (default on). Turn it off
    /// to keep internal addresses from clients.
    pub name_upstream: bool,
    /// Most bytes a client may send after its request before the `101` (its first frames,
    /// replayed once the upstream answers). Past it the client gets `400`. Default 64 KiB.
    pub max_early_bytes: usize,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            front: ServerConfig::default(),
            front_conn: Config::default(),
            back_conn: Config::default(),
            upstream_limits: HandshakeLimits::default(),
            forward_headers: ["Name", "Topic"].map(|h| h.to_string()).to_vec(),
            forward_query: true,
            forwarded_for: true,
            upstream_timeout: Duration::from_secs(10),
            name_upstream: true,
            max_early_bytes: 64 << 10,
        }
    }
}

impl RelayConfig {
    /// Checks [`RelayConfig::forward_headers`]: each must be a token and forwardable (not
    /// hop-by-hop, not a handshake header, not `X-Forwarded-For` while
    /// [`RelayConfig::forwarded_for`] is on). Entries that fail are skipped when forwarding;
    /// call this at startup to hear about them.
    pub fn check(&self) -> Result<(), InvalidHeader> {
        self.forward_headers
            .iter()
            .try_for_each(|name| upstream::check_forward_header(name, self.forwarded_for))
    }
}

/// What a relay reports, for logging and metrics, taken with [`Relay::poll_event`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RelayEvent {
    /// The upstream accepted; the client's `101` is queued.
    Opened {
        /// The subprotocol agreed on both sides, if any.
        subprotocol: Option<String>,
    },
    /// The relay did not open: the client's error response is queued (`502` for an upstream
    /// failure, `400` for a client that sent too much before the `101`, `503` for
    /// [`Relay::close`] during the handshake). Close the upstream transport.
    Refused(Rejection),
    /// The client's transport ended before the upstream answered. Close both transports.
    Abandoned,
    /// The client connection closed, with the code and reason the client sent (1006 when its
    /// transport ended without a close frame).
    FrontClosed(Closed),
    /// The upstream connection closed, with the code and reason the upstream sent.
    BackClosed(Closed),
    /// The client connection failed (protocol violation or keepalive timeout).
    FrontFailed(Error),
    /// The upstream connection failed (protocol violation or keepalive timeout).
    BackFailed(Error),
    /// Both sides are done; reported once, last.
    Finished(RelayStats),
}

/// Message counts for one relay.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RelayStats {
    /// Messages forwarded from the client to the upstream.
    pub to_back: u64,
    /// Messages forwarded from the upstream to the client.
    pub to_front: u64,
    /// Messages the client sent that could not be forwarded (the upstream side had closed,
    /// or the message was too big).
    pub undelivered_to_back: u64,
    /// Messages the upstream sent that could not be forwarded.
    pub undelivered_to_front: u64,
}
