//! Echo: N connections, each keeping exactly one binary message in flight; every echo is
//! checked byte for byte (its sequence number and its filler) before the next is sent.

use std::io;
use std::time::{Duration, Instant};

use sockwright::frame::OpCode;

use super::{Measure, Window};
use crate::histogram::Histogram;
use crate::pool::{open_many, End, Handler, Net, Pool, Target};

/// One echo run.
#[derive(Clone, Debug)]
pub struct EchoConfig {
    /// The server's WebSocket URL, e.g. `ws://127.0.0.1:9001/ws`.
    pub url: String,
    /// Connections, each with one message in flight.
    pub connections: usize,
    /// Payload bytes per message (the first 8 carry a sequence number).
    pub payload: usize,
    /// Warm-up, then measurement.
    pub window: Window,
    /// The server's process id, to report its CPU time per message.
    pub server_pid: Option<u32>,
}

/// What one echo run measured.
#[derive(Clone, Debug)]
pub struct EchoReport {
    /// Echoes received and verified in the measured window.
    pub messages: u64,
    /// Payload bytes verified in the measured window.
    pub bytes: u64,
    /// Messages per second.
    pub rate: f64,
    /// Round-trip latency percentiles.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Server CPU time per echoed message, when its pid was given.
    pub cpu_per_message: Option<Duration>,
    /// Frames other than the echoes (pings, pongs, fragments): an echo server under this
    /// load should send none.
    pub unexpected_frames: u64,
}

/// Runs one echo measurement.
pub fn run(config: &EchoConfig) -> io::Result<EchoReport> {
    let target = Target::parse(&config.url).map_err(io::Error::other)?;
    let mut pool = Pool::new()?;
    let mut echo = Echo::new(config.connections, config.payload);
    let connect_deadline = Instant::now() + super::CONNECT_TIMEOUT;
    open_many(
        &mut pool,
        config.connections,
        super::MAX_PENDING_UPGRADES,
        connect_deadline,
        |_| target.clone(),
        &mut echo,
    )?;
    for id in 0..config.connections {
        echo.send_next(&mut pool.net, id)?;
    }
    let mut measure = Measure::start(config.window, config.server_pid)?;
    while !measure.finished() {
        pool.poll(Duration::from_millis(5), &mut echo)?;
        if let Some(failure) = echo.failure.take() {
            pool.net.abort_all();
            return Err(io::Error::other(failure));
        }
        if measure.warmup_over()? {
            echo.latency = Histogram::default();
            echo.bytes = 0;
        }
    }
    let elapsed = measure.stop()?;
    let messages = echo.latency.count();
    let report = EchoReport {
        messages,
        bytes: echo.bytes,
        rate: messages as f64 / elapsed.wall.as_secs_f64(),
        p50: echo.latency.quantile(0.50),
        p99: echo.latency.quantile(0.99),
        cpu_per_message: elapsed.cpu_per(messages),
        unexpected_frames: pool.net.unexpected_frames,
    };
    super::close_all(&mut pool);
    Ok(report)
}

struct Echo {
    payload: usize,
    filler: Vec<u8>,
    /// Per connection: the sequence number in flight and when it was sent.
    in_flight: Vec<(u64, Instant)>,
    latency: Histogram,
    bytes: u64,
    failure: Option<String>,
}

impl Echo {
    fn new(connections: usize, payload: usize) -> Echo {
        Echo {
            payload,
            filler: (0..payload).map(|i| (i * 31 + 7) as u8).collect(),
            in_flight: vec![(0, Instant::now()); connections],
            latency: Histogram::default(),
            bytes: 0,
            failure: None,
        }
    }

    fn send_next(&mut self, net: &mut Net, id: usize) -> io::Result<()> {
        let (seq, sent) = &mut self.in_flight[id];
        *seq += 1;
        *sent = Instant::now();
        let seq_bytes = seq.to_le_bytes();
        net.send_with(id, OpCode::Binary, self.payload, |buf| {
            buf.copy_from_slice(&self.filler);
            let n = buf.len().min(8);
            buf[..n].copy_from_slice(&seq_bytes[..n]);
        })
    }

    /// Whether `payload` is exactly the message in flight on `id`.
    fn check(&self, id: usize, opcode: OpCode, payload: &[u8]) -> Result<(), String> {
        if opcode != OpCode::Binary {
            return Err(format!("connection {id}: a {opcode:?} message came back"));
        }
        if payload.len() != self.payload {
            return Err(format!(
                "connection {id}: {} bytes came back, {} were sent",
                payload.len(),
                self.payload
            ));
        }
        let seq_bytes = self.in_flight[id].0.to_le_bytes();
        let n = payload.len().min(8);
        if payload[..n] != seq_bytes[..n] || payload[n..] != self.filler[n..] {
            return Err(format!(
                "connection {id}: the echo differs from message {} sent",
                self.in_flight[id].0
            ));
        }
        Ok(())
    }
}

impl Handler for Echo {
    fn opened(&mut self, _: &mut Net, _: usize) {}

    fn message(&mut self, net: &mut Net, id: usize, opcode: OpCode, payload: &[u8]) {
        if let Err(failure) = self.check(id, opcode, payload) {
            self.failure.get_or_insert(failure);
            return;
        }
        self.latency.record(self.in_flight[id].1.elapsed());
        self.bytes += payload.len() as u64;
        if let Err(e) = self.send_next(net, id) {
            self.failure
                .get_or_insert(format!("connection {id}: send: {e}"));
        }
    }

    fn ended(&mut self, _: &mut Net, id: usize, end: End) {
        self.failure
            .get_or_insert(format!("connection {id} ended during the run: {end:?}"));
    }
}
