//! Handshakes: connections opened and closed back to back, a fixed number at a time: connect,
//! upgrade (the `101` fully checked), close handshake, and the server's end of TCP. Reported
//! per second, with the connect-to-open latency.

use std::io;
use std::time::{Duration, Instant};

use sockwright::frame::{CloseCode, OpCode};

use super::{Measure, Window};
use crate::histogram::Histogram;
use crate::pool::{End, Handler, Net, Pool, Target};

/// One handshake run.
#[derive(Clone, Debug)]
pub struct HandshakeConfig {
    /// The server's WebSocket URL.
    pub url: String,
    /// Connections in some phase of their life at once.
    pub concurrency: usize,
    /// Warm-up, then measurement.
    pub window: Window,
    /// The server's process id, to report its CPU time per handshake.
    pub server_pid: Option<u32>,
}

/// What one handshake run measured.
#[derive(Clone, Debug)]
pub struct HandshakeReport {
    /// Connections opened and closed cleanly in the measured window.
    pub completed: u64,
    /// Per second.
    pub rate: f64,
    /// Connect-to-open latency percentiles.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Server CPU time per handshake, when its pid was given.
    pub cpu_per_handshake: Option<Duration>,
}

/// Runs one handshake measurement.
pub fn run(config: &HandshakeConfig) -> io::Result<HandshakeReport> {
    let target = Target::parse(&config.url).map_err(io::Error::other)?;
    let mut pool = Pool::new()?;
    let mut cycle = Cycle {
        target,
        started: vec![Instant::now(); config.concurrency],
        latency: Histogram::default(),
        completed: 0,
        failure: None,
    };
    for id in 0..config.concurrency {
        pool.net.connect(id, &cycle.target)?;
    }
    let mut measure = Measure::start(config.window, config.server_pid)?;
    while !measure.finished() {
        pool.poll(Duration::from_millis(5), &mut cycle)?;
        if let Some(failure) = cycle.failure.take() {
            pool.net.abort_all();
            return Err(io::Error::other(failure));
        }
        if measure.warmup_over()? {
            cycle.latency = Histogram::default();
            cycle.completed = 0;
        }
    }
    let elapsed = measure.stop()?;
    let report = HandshakeReport {
        completed: cycle.completed,
        rate: cycle.completed as f64 / elapsed.wall.as_secs_f64(),
        p50: cycle.latency.quantile(0.50),
        p99: cycle.latency.quantile(0.99),
        cpu_per_handshake: elapsed.cpu_per(cycle.completed),
    };
    pool.net.abort_all();
    Ok(report)
}

struct Cycle {
    target: Target,
    started: Vec<Instant>,
    latency: Histogram,
    completed: u64,
    failure: Option<String>,
}

impl Handler for Cycle {
    fn opened(&mut self, net: &mut Net, id: usize) {
        self.latency.record(self.started[id].elapsed());
        if let Err(e) = net.close(id) {
            self.failure.get_or_insert(format!("close: {e}"));
        }
    }

    fn message(&mut self, _: &mut Net, id: usize, opcode: OpCode, _: &[u8]) {
        self.failure
            .get_or_insert(format!("connection {id}: an unasked {opcode:?} message"));
    }

    fn ended(&mut self, net: &mut Net, id: usize, end: End) {
        match end {
            End::Closed(Some(CloseCode::NORMAL) | None) => self.completed += 1,
            other => {
                self.failure
                    .get_or_insert(format!("connection {id}: {other:?}"));
                return;
            }
        }
        self.started[id] = Instant::now();
        if let Err(e) = net.connect(id, &self.target) {
            self.failure.get_or_insert(format!("connect: {e}"));
        }
    }
}
