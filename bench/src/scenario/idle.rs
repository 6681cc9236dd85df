//! Idle memory: the server's resident memory with N open connections that have each echoed
//! one message and then gone quiet, over its resident memory before the first connection.
//! The one message makes servers that allocate buffers on first use show them.

use std::io;
use std::time::{Duration, Instant};

use sockwright::frame::OpCode;

use crate::pool::{open_many, End, Handler, Net, Pool, Target};
use crate::procfs::{self, Memory};

/// How long the connections stay quiet before memory is read: servers that shrink buffers
/// of idle connections have done so by then.
const SETTLE: Duration = Duration::from_secs(1);

/// One idle-memory run.
#[derive(Clone, Debug)]
pub struct IdleConfig {
    /// The server's WebSocket URL.
    pub url: String,
    /// Connections to open.
    pub connections: usize,
    /// The server's process id (required: its memory is the measure).
    pub server_pid: u32,
}

/// What one idle-memory run measured.
#[derive(Clone, Copy, Debug)]
pub struct IdleReport {
    /// Before the first connection.
    pub baseline: Memory,
    /// With every connection open and quiet.
    pub loaded: Memory,
    /// `(loaded.rss - baseline.rss) / connections`.
    pub per_connection: u64,
}

/// Runs one idle-memory measurement.
pub fn run(config: &IdleConfig) -> io::Result<IdleReport> {
    let target = Target::parse(&config.url).map_err(io::Error::other)?;
    let baseline = procfs::memory(config.server_pid)?;
    let mut pool = Pool::new()?;
    let mut touch = Touch {
        echoed: 0,
        failure: None,
    };
    let deadline = Instant::now() + super::CONNECT_TIMEOUT;
    open_many(
        &mut pool,
        config.connections,
        super::MAX_PENDING_UPGRADES,
        deadline,
        |_| target.clone(),
        &mut touch,
    )?;
    while touch.echoed < config.connections {
        pool.poll(Duration::from_millis(20), &mut touch)?;
        if let Some(failure) = touch.failure.take() {
            pool.net.abort_all();
            return Err(io::Error::other(failure));
        }
        if Instant::now() > deadline {
            return Err(io::Error::other("not every connection echoed in time"));
        }
    }
    std::thread::sleep(SETTLE);
    let loaded = procfs::memory(config.server_pid)?;
    super::close_all(&mut pool);
    let per_connection = loaded.rss.saturating_sub(baseline.rss) / config.connections.max(1) as u64;
    Ok(IdleReport {
        baseline,
        loaded,
        per_connection,
    })
}

/// Sends one 20-byte message on each connection as it opens and counts the echoes.
struct Touch {
    echoed: usize,
    failure: Option<String>,
}

const TOUCH: &[u8; 20] = b"idle connection here";

impl Handler for Touch {
    fn opened(&mut self, net: &mut Net, id: usize) {
        if let Err(e) = net.send_with(id, OpCode::Binary, TOUCH.len(), |b| {
            b.copy_from_slice(TOUCH)
        }) {
            self.failure.get_or_insert(format!("connection {id}: {e}"));
        }
    }

    fn message(&mut self, _: &mut Net, id: usize, _: OpCode, payload: &[u8]) {
        if payload == TOUCH {
            self.echoed += 1;
        } else {
            self.failure
                .get_or_insert(format!("connection {id}: the echo differs"));
        }
    }

    fn ended(&mut self, _: &mut Net, id: usize, end: End) {
        self.failure
            .get_or_insert(format!("connection {id} ended: {end:?}"));
    }
}
