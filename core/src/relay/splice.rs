//! Phase 2, streaming: two open connections spliced together. Messages cross with their type,
//! closes cross with their code, and a side that cannot take more stops the other from being
//! read.

use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::{String, ToString};
use core::time::Duration;

use super::{RelayEvent, RelayStats, Side};
use crate::conn::{Closed, Connection, Error, Event, Initiator, Message, SendError};
use crate::frame::CloseCode;

/// One side of the splice: its connection, and the message from the other side waiting for
/// room in its outbound queue.
pub(super) struct Leg {
    pub(super) conn: Connection,
    /// A message the other side delivered that this side's outbound queue had no room for.
    /// While it is here the other side is not read, so there is at most one.
    held: Option<Message>,
    /// This side's end (close or failure) has been seen and passed on.
    ended: bool,
    /// Messages sent on this side that came from the other.
    forwarded: u64,
    /// Messages from the other side that this side could no longer send.
    undelivered: u64,
}

impl Leg {
    fn new(conn: Connection) -> Self {
        Self {
            conn,
            held: None,
            ended: false,
            forwarded: 0,
            undelivered: 0,
        }
    }

    /// Whether this side's transport may be read: it is still reading and the other side's
    /// outbound queue is not holding a message back.
    fn wants_read(&self, other: &Leg) -> bool {
        !self.conn.is_finished() && other.held.is_none()
    }
}

/// The front (server role, facing the client) and the back (client role, facing the
/// upstream), spliced.
pub(super) struct Splice {
    pub(super) front: Leg,
    pub(super) back: Leg,
    finished: bool,
}

impl Splice {
    pub(super) fn new(front: Connection, back: Connection) -> Self {
        Self {
            front: Leg::new(front),
            back: Leg::new(back),
            finished: false,
        }
    }

    pub(super) fn wants_read(&self, side: Side) -> bool {
        match side {
            Side::Front => self.front.wants_read(&self.back),
            Side::Back => self.back.wants_read(&self.front),
        }
    }

    pub(super) fn leg(&self, side: Side) -> &Leg {
        match side {
            Side::Front => &self.front,
            Side::Back => &self.back,
        }
    }

    pub(super) fn leg_mut(&mut self, side: Side) -> &mut Leg {
        match side {
            Side::Front => &mut self.front,
            Side::Back => &mut self.back,
        }
    }

    /// A side's timer. An open side that is not being read because the other side's queue
    /// is full has none: its keepalive would count the relay's own pause as the peer's
    /// silence. (The other side's keepalive still runs, and blames the peer that is not
    /// reading.) A closing side's close timer always runs. On resuming, read the side before
    /// handling a timer that came due meanwhile.
    fn timer(&self, side: Side) -> Option<Duration> {
        let leg = self.leg(side);
        let paused = !self.wants_read(side) && leg.conn.is_open();
        (!paused).then(|| leg.conn.poll_timeout()).flatten()
    }

    pub(super) fn poll_timeout(&self) -> Option<Duration> {
        match (self.timer(Side::Front), self.timer(Side::Back)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub(super) fn handle_timeout(&mut self, now: Duration, events: &mut VecDeque<RelayEvent>) {
        for side in [Side::Front, Side::Back] {
            if self.timer(side).is_some_and(|t| t <= now) {
                // A failure is seen, and passed on, by `pump` through `Connection::error`.
                let _ = self.leg_mut(side).conn.handle_timeout(now);
            }
        }
        self.pump(events);
    }

    /// Closes both sides with `code` and `reason` (a shutdown).
    pub(super) fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), SendError> {
        self.front.conn.close(code, reason)?;
        self.back.conn.close(code, reason)
    }

    /// Moves everything that can move: the messages each side delivered to the other, and
    /// each side's end to the other. Call after every input and after transmit was taken.
    pub(super) fn pump(&mut self, events: &mut VecDeque<RelayEvent>) {
        pump_one(Side::Front, &mut self.front, &mut self.back, events);
        pump_one(Side::Back, &mut self.back, &mut self.front, events);
        // The back may have ended in its pass: a message held for it is then undeliverable,
        // and one more front pass counts it and drains the front's remaining events.
        pump_one(Side::Front, &mut self.front, &mut self.back, events);
        if !self.finished && self.front.conn.is_finished() && self.back.conn.is_finished() {
            self.finished = true;
            events.push_back(RelayEvent::Finished(self.stats()));
        }
    }

    pub(super) fn stats(&self) -> RelayStats {
        RelayStats {
            to_back: self.back.forwarded,
            to_front: self.front.forwarded,
            undelivered_to_back: self.back.undelivered,
            undelivered_to_front: self.front.undelivered,
        }
    }
}

/// Forwards what `from` delivered to `to`, in order, until `to` has no room or `from` has no
/// more; then passes on `from`'s failure, if it failed.
fn pump_one(side: Side, from: &mut Leg, to: &mut Leg, events: &mut VecDeque<RelayEvent>) {
    loop {
        if let Some(message) = to.held.take() {
            let sent = match &message {
                Message::Text(text) => to.conn.send_text(text),
                Message::Binary(data) => to.conn.send_binary(data),
            };
            match sent {
                Ok(()) => to.forwarded += 1,
                Err(SendError::OutboundFull { .. }) => {
                    to.held = Some(message);
                    return;
                }
                Err(SendError::TooLarge { needed, limit }) => {
                    to.undelivered += 1;
                    too_large(side, from, to, needed, limit);
                }
                Err(_) => to.undelivered += 1,
            }
        }
        let Some(event) = from.conn.poll_event() else {
            break;
        };
        match event {
            Event::Message(message) => to.held = Some(message),
            // Each side's connection answers its own pings; pings and pongs do not cross.
            Event::Ping(_) | Event::Pong(_) => {}
            Event::Closed(closed) => {
                from.ended = true;
                let (code, reason) = close_for_other(side, &closed);
                let _ = to.conn.close(code, &reason); // a code from close_for_other is sendable
                events.push_back(match side {
                    Side::Front => RelayEvent::FrontClosed(closed),
                    Side::Back => RelayEvent::BackClosed(closed),
                });
            }
        }
    }
    if !from.ended {
        if let Some(error) = from.conn.error() {
            from.ended = true;
            let error = error.clone();
            let (code, reason) = failure_for_other(side, &error);
            let _ = to.conn.close(code, &reason);
            events.push_back(match side {
                Side::Front => RelayEvent::FrontFailed(error),
                Side::Back => RelayEvent::BackFailed(error),
            });
        }
    }
}

/// A message `from` delivered is larger than `to` can ever queue: `from` is closed with 1009
/// (it sent too big a message), `to` as if `from` had gone.
fn too_large(side: Side, from: &mut Leg, to: &mut Leg, needed: usize, limit: usize) {
    let reason = format!("message too big to relay: {needed} bytes, limit {limit}");
    let _ = from.conn.close(CloseCode::MESSAGE_TOO_BIG, &reason);
    let (code, reason) = match side {
        Side::Front => (
            CloseCode::GOING_AWAY,
            "client sent a message too big to relay",
        ),
        Side::Back => (
            CloseCode::INTERNAL_ERROR,
            "upstream sent a message too big to relay",
        ),
    };
    let _ = to.conn.close(code, reason);
}

/// The close the other side gets when `side` closed as `closed` says.
///
/// A close frame's code and reason pass unchanged; a close frame without a code (1005) becomes
/// 1000 (a close frame sent by [`Connection::close`] always has one). A transport that ended
/// without a close frame (1006) becomes 1001 "client went away" towards the upstream, and 1011
/// "upstream connection lost" towards the client.
pub fn close_for_other(side: Side, closed: &Closed) -> (CloseCode, String) {
    match closed.code {
        CloseCode::NO_STATUS => (CloseCode::NORMAL, String::new()),
        code if code.is_sendable() => (code, closed.reason.clone()),
        _ => {
            let timed_out = closed.initiator == Initiator::Local;
            let reason = match (side, timed_out) {
                (Side::Front, false) => "client went away",
                (Side::Front, true) => "client did not answer the close",
                (Side::Back, false) => "upstream connection lost",
                (Side::Back, true) => "upstream did not answer the close",
            };
            (lost_code(side), reason.to_string())
        }
    }
}

/// The close the other side gets when `side` failed with `error`: towards the upstream 1001
/// with what the client did; towards the client 1014 (bad gateway) when the upstream broke
/// the protocol, 1011 when it went silent.
pub fn failure_for_other(side: Side, error: &Error) -> (CloseCode, String) {
    match (side, error) {
        (Side::Front, Error::Protocol(e)) => (
            CloseCode::GOING_AWAY,
            format!("client broke the protocol: {e}"),
        ),
        (Side::Back, Error::Protocol(e)) => (
            CloseCode::BAD_GATEWAY,
            format!("upstream broke the protocol: {e}"),
        ),
        (Side::Front, Error::KeepaliveTimeout) => (
            CloseCode::GOING_AWAY,
            "client went silent (keepalive timeout)".to_string(),
        ),
        (Side::Back, Error::KeepaliveTimeout) => (
            CloseCode::INTERNAL_ERROR,
            "upstream went silent (keepalive timeout)".to_string(),
        ),
    }
}

/// The code for the other side when `side` is lost.
fn lost_code(side: Side) -> CloseCode {
    match side {
        Side::Front => CloseCode::GOING_AWAY,
        Side::Back => CloseCode::INTERNAL_ERROR,
    }
}
