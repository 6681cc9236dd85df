//! One monotonic clock per process, as the [`Duration`] since its first use: the core takes
//! time as a `Duration`, and sharing one origin lets an event loop compare the deadlines of
//! all its sessions.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

static ORIGIN: OnceLock<Instant> = OnceLock::new();

/// The time now, on the sessions' clock.
pub fn now() -> Duration {
    origin().elapsed()
}

/// The [`Instant`] at which a session deadline falls (for runtimes whose timers take an
/// `Instant`).
pub fn instant_at(deadline: Duration) -> Instant {
    origin() + deadline
}

fn origin() -> Instant {
    *ORIGIN.get_or_init(Instant::now)
}
