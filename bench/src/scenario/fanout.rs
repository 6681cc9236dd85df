//! Fan-out: one publisher and N subscribers on one topic of a hub speaking
//! `/im?user_id=…&topic=…` (a client's message goes to everyone in its topic). The publisher
//! sends over its WebSocket, keeping a window of messages in flight: a message leaves the
//! window when every subscriber has it (or after [`LOSS_TIMEOUT`], its missing deliveries
//! counted as lost). Each payload carries its sequence number and send time, so every
//! delivery gives a publish-to-receive latency and is checked for order and content.

use std::io;
use std::time::{Duration, Instant};

use sockwright::frame::OpCode;

use super::{Measure, Window};
use crate::histogram::Histogram;
use crate::pool::{open_many, End, Handler, Net, Pool, Target};

/// A message still missing deliveries after this long is written off as lost.
const LOSS_TIMEOUT: Duration = Duration::from_secs(2);

/// Sequence number and send time: the payload's first 16 bytes.
const STAMP_LEN: usize = 16;

/// One fan-out run.
#[derive(Clone, Debug)]
pub struct FanoutConfig {
    /// The hub's base URL, e.g. `ws://127.0.0.1:9001` (the path `/im?…` is added).
    pub url: String,
    /// Subscribers on the topic (the publisher is one more connection).
    pub subscribers: usize,
    /// Payload bytes per message (at least 16: sequence number and send time).
    pub payload: usize,
    /// Publishes in flight at once.
    pub in_flight: usize,
    /// Warm-up, then measurement.
    pub window: Window,
    /// The hub's process id, to report its CPU time per delivery.
    pub server_pid: Option<u32>,
}

/// What one fan-out run measured.
#[derive(Clone, Debug)]
pub struct FanoutReport {
    /// Messages the publisher sent in the measured window.
    pub published: u64,
    /// Deliveries to subscribers in the measured window.
    pub deliveries: u64,
    /// Deliveries per second.
    pub rate: f64,
    /// Publish-to-receive latency percentiles.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Deliveries that never came (skipped or timed out), over the whole run.
    pub lost: u64,
    /// Hub CPU time per delivery, when its pid was given.
    pub cpu_per_delivery: Option<Duration>,
}

/// Runs one fan-out measurement.
pub fn run(config: &FanoutConfig) -> io::Result<FanoutReport> {
    if config.payload < STAMP_LEN {
        return Err(io::Error::other("fan-out payloads need at least 16 bytes"));
    }
    let base = Target::parse(&config.url).map_err(io::Error::other)?;
    let topic = "bench";
    let mut pool = Pool::new()?;
    let mut fanout = Fanout::new(config);
    let deadline = Instant::now() + super::CONNECT_TIMEOUT;
    // Slot 0 is the publisher, 1..=N the subscribers.
    open_many(
        &mut pool,
        config.subscribers + 1,
        super::MAX_PENDING_UPGRADES,
        deadline,
        |i| match i {
            0 => base.with_path(&format!("/im?user_id=publisher&topic={topic}")),
            _ => base.with_path(&format!("/im?user_id=s{i}&topic={topic}")),
        },
        &mut fanout,
    )?;
    // Let the last registrations land before the first publish.
    let settle = Instant::now() + Duration::from_millis(200);
    while Instant::now() < settle {
        pool.poll(Duration::from_millis(20), &mut fanout)?;
    }
    let mut measure = Measure::start(config.window, config.server_pid)?;
    while !measure.finished() {
        fanout.publish(&mut pool.net)?;
        pool.poll(Duration::from_millis(5), &mut fanout)?;
        if let Some(failure) = fanout.failure.take() {
            pool.net.abort_all();
            return Err(io::Error::other(failure));
        }
        if measure.warmup_over()? {
            fanout.latency = Histogram::default();
            fanout.deliveries = 0;
            fanout.published = 0;
            fanout.measuring_from = fanout.next_seq;
        }
    }
    let elapsed = measure.stop()?;
    let report = FanoutReport {
        published: fanout.published,
        deliveries: fanout.deliveries,
        rate: fanout.deliveries as f64 / elapsed.wall.as_secs_f64(),
        p50: fanout.latency.quantile(0.50),
        p99: fanout.latency.quantile(0.99),
        lost: fanout.lost,
        cpu_per_delivery: elapsed.cpu_per(fanout.deliveries),
    };
    super::close_all(&mut pool);
    Ok(report)
}

/// A message in the window: its sequence number, when it was sent, deliveries still due.
#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    seq: u64,
    sent: Option<Instant>,
    due: u64,
}

struct Fanout {
    payload: usize,
    subscribers: u64,
    epoch: Instant,
    filler: Vec<u8>,
    slots: Vec<Slot>,
    next_seq: u64,
    /// Per subscriber: the last sequence number received (0: none).
    last_seen: Vec<u64>,
    /// Deliveries of messages from this sequence number on count (those published after the
    /// warm-up).
    measuring_from: u64,
    latency: Histogram,
    deliveries: u64,
    published: u64,
    lost: u64,
    failure: Option<String>,
}

impl Fanout {
    fn new(config: &FanoutConfig) -> Fanout {
        Fanout {
            payload: config.payload,
            subscribers: config.subscribers as u64,
            epoch: Instant::now(),
            filler: (0..config.payload).map(|i| (i * 13 + 1) as u8).collect(),
            slots: vec![Slot::default(); config.in_flight.max(1)],
            next_seq: 1,
            last_seen: vec![0; config.subscribers + 1],
            measuring_from: u64::MAX,
            latency: Histogram::default(),
            deliveries: 0,
            published: 0,
            lost: 0,
            failure: None,
        }
    }

    /// Publishes while the window has room (a slot whose message is delivered or lost).
    fn publish(&mut self, net: &mut Net) -> io::Result<()> {
        loop {
            let index = (self.next_seq % self.slots.len() as u64) as usize;
            let slot = &mut self.slots[index];
            if let Some(sent) = slot.sent {
                if slot.due > 0 && sent.elapsed() < LOSS_TIMEOUT {
                    return Ok(());
                }
                self.lost += slot.due;
            }
            let seq = self.next_seq;
            self.next_seq += 1;
            let now = Instant::now();
            *slot = Slot {
                seq,
                sent: Some(now),
                due: self.subscribers,
            };
            let nanos = (now - self.epoch).as_nanos() as u64;
            net.send_with(0, OpCode::Binary, self.payload, |buf| {
                buf.copy_from_slice(&self.filler);
                buf[..8].copy_from_slice(&seq.to_le_bytes());
                buf[8..16].copy_from_slice(&nanos.to_le_bytes());
            })?;
            self.published += 1;
        }
    }

    fn deliver(&mut self, id: usize, opcode: OpCode, payload: &[u8]) -> Result<(), String> {
        if opcode != OpCode::Binary
            || payload.len() != self.payload
            || payload[STAMP_LEN..] != self.filler[STAMP_LEN..]
        {
            return Err(format!("subscriber {id}: a message that was not published"));
        }
        let seq = u64::from_le_bytes(payload[..8].try_into().expect("8 bytes"));
        let nanos = u64::from_le_bytes(payload[8..16].try_into().expect("8 bytes"));
        let last = &mut self.last_seen[id];
        if seq <= *last || seq >= self.next_seq {
            return Err(format!("subscriber {id}: message {seq} after {last}"));
        }
        *last = seq;
        if seq >= self.measuring_from {
            let sent = self.epoch + Duration::from_nanos(nanos);
            self.latency.record(sent.elapsed());
            self.deliveries += 1;
        }
        let index = (seq % self.slots.len() as u64) as usize;
        let slot = &mut self.slots[index];
        if slot.seq == seq && slot.due > 0 {
            slot.due -= 1;
        }
        Ok(())
    }
}

impl Handler for Fanout {
    fn opened(&mut self, _: &mut Net, _: usize) {}

    fn message(&mut self, _: &mut Net, id: usize, opcode: OpCode, payload: &[u8]) {
        // The publisher gets its own messages back (the sender is in its topic): read, not
        // counted.
        if id == 0 {
            return;
        }
        if let Err(failure) = self.deliver(id, opcode, payload) {
            self.failure.get_or_insert(failure);
        }
    }

    fn ended(&mut self, _: &mut Net, id: usize, end: End) {
        self.failure
            .get_or_insert(format!("connection {id} ended during the run: {end:?}"));
    }
}
