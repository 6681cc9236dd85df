//! The scenarios, and what they share: the warm-up and measured window, the server's CPU
//! time across it, and closing every connection at the end.

pub mod echo;
pub mod fanout;
pub mod handshakes;
pub mod idle;

use std::io;
use std::time::{Duration, Instant};

use sockwright::frame::OpCode;

use crate::pool::{End, Handler, Net, Pool};
use crate::procfs;

/// How long opening all of a run's connections may take (10,000 on a busy machine take a few
/// seconds).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);

/// Upgrades in flight at once while opening connections: below every server's listen backlog
/// (128 for std's listener), so no SYN is dropped and retried a second later.
pub const MAX_PENDING_UPGRADES: usize = 64;

/// How long the close handshakes at the end of a run may take before the rest are reset.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(3);

/// A warm-up that is not counted, then the measured time.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    /// Not counted: connections, caches and the server's buffers settle.
    pub warmup: Duration,
    /// Counted.
    pub duration: Duration,
}

/// The clock of one run: when warm-up ends, when the run ends, and the server's CPU time
/// across the measured part.
pub(crate) struct Measure {
    warmup_end: Instant,
    end: Instant,
    measuring_since: Option<(Instant, Option<Duration>)>,
    server_pid: Option<u32>,
}

/// The measured part of a run.
pub(crate) struct Elapsed {
    pub wall: Duration,
    pub server_cpu: Option<Duration>,
}

impl Elapsed {
    /// Server CPU time per unit of work (message, delivery, handshake).
    pub fn cpu_per(&self, units: u64) -> Option<Duration> {
        let cpu = self.server_cpu?;
        (units > 0).then(|| cpu / u32::try_from(units).unwrap_or(u32::MAX))
    }
}

impl Measure {
    pub fn start(window: Window, server_pid: Option<u32>) -> io::Result<Measure> {
        let now = Instant::now();
        Ok(Measure {
            warmup_end: now + window.warmup,
            end: now + window.warmup + window.duration,
            measuring_since: None,
            server_pid,
        })
    }

    /// True once, the first time it is called after the warm-up: the caller resets its
    /// counters then.
    pub fn warmup_over(&mut self) -> io::Result<bool> {
        if self.measuring_since.is_some() || Instant::now() < self.warmup_end {
            return Ok(false);
        }
        let cpu = self.server_pid.map(procfs::cpu_time).transpose()?;
        self.measuring_since = Some((Instant::now(), cpu));
        Ok(true)
    }

    pub fn finished(&self) -> bool {
        self.measuring_since.is_some() && Instant::now() >= self.end
    }

    pub fn stop(self) -> io::Result<Elapsed> {
        let (since, cpu_then) = self
            .measuring_since
            .ok_or_else(|| io::Error::other("the run stopped before its warm-up ended"))?;
        let server_cpu = match (self.server_pid, cpu_then) {
            (Some(pid), Some(then)) => Some(procfs::cpu_time(pid)?.saturating_sub(then)),
            _ => None,
        };
        Ok(Elapsed {
            wall: since.elapsed(),
            server_cpu,
        })
    }
}

/// Closes every open connection with a close handshake (the server then closes TCP first,
/// so TIME_WAIT stays on its side), and resets whatever has not finished in time.
pub(crate) fn close_all(pool: &mut Pool) {
    struct Closing {
        open: usize,
    }
    impl Handler for Closing {
        fn opened(&mut self, net: &mut Net, id: usize) {
            let _ = net.close(id);
        }
        fn message(&mut self, _: &mut Net, _: usize, _: OpCode, _: &[u8]) {}
        fn ended(&mut self, _: &mut Net, _: usize, _: End) {
            self.open = self.open.saturating_sub(1);
        }
    }
    let mut closing = Closing { open: 0 };
    for id in 0..pool.net.len() {
        if pool.net.close(id).is_ok() {
            closing.open += 1;
        }
    }
    let deadline = Instant::now() + CLOSE_TIMEOUT;
    while closing.open > 0 && Instant::now() < deadline {
        if pool.poll(Duration::from_millis(20), &mut closing).is_err() {
            break;
        }
    }
    pool.net.abort_all();
}
