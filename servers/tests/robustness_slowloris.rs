//! Slowloris against the `sockwright echo` binary on every runtime: 2,000 connections per
//! server that send a request head one byte per second are each dropped by the handshake
//! timeout, while fresh clients are served, open connections lose no message, and memory
//! stays under the stated bound (see [`common::watch`]).
//!
//! A test binary of its own: it needs thousands of descriptors (2,000 client sockets per
//! server in this process), and it lowers this process's soft open-files limit while it
//! starts the servers, to show that the binary raises its own; nothing else may run in the
//! process meanwhile. These read /proc, so they run on Linux.

#![cfg(target_os = "linux")]

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use common::peers::notice;
use common::raw;
use common::watch::{on_runtimes, Process, Watch, RUNTIMES};
use common::{Sockwright, STEP};
use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

/// Slow connections per server.
const SLOW_CLIENTS: usize = 2_000;

/// How many threads connect the slow clients of one server.
const CONNECTING_THREADS: usize = 4;

/// The servers' `--handshake-timeout` (the default is 10 s; shorter keeps the test short).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// The soft open-files limit the servers are started with: a common default, below what
/// 2,000 connections need.
const LOW_SOFT_LIMIT: u64 = 1024;

/// Descriptors this process needs per server attacked at once: the slow clients, the
/// watch's connections, and room.
const FDS_PER_SERVER: u64 = SLOW_CLIENTS as u64 + 100;

/// The memory bound while 2,000 connections are in their handshake: 48 KiB each. Measured
/// per connection: mio about 1 KiB, tokio and smol about 4 KiB (read buffers are per thread),
/// std about 30 KiB (a thread: its stack's touched pages, and its read buffer).
const SLOWLORIS_ALLOWANCE: u64 = SLOW_CLIENTS as u64 * 48 * 1024;

#[test]
fn slowloris_clients_are_dropped_by_the_handshake_timeout() {
    let hard = getrlimit(Resource::Nofile).maximum.unwrap_or(u64::MAX);
    assert!(
        hard >= FDS_PER_SERVER,
        "this test needs {FDS_PER_SERVER} open files and the hard limit is {hard}; raise it \
         (ulimit -Hn)"
    );
    let timeout = format!("{}ms", HANDSHAKE_TIMEOUT.as_millis());
    let servers: Vec<Sockwright> = with_soft_limit(LOW_SOFT_LIMIT.min(hard), || {
        RUNTIMES
            .iter()
            .map(|runtime| {
                Sockwright::start(&[
                    "echo",
                    "--runtime",
                    runtime,
                    "--handshake-timeout",
                    &timeout,
                ])
            })
            .collect()
    });
    set_soft_limit(hard);
    for (server, runtime) in servers.iter().zip(RUNTIMES) {
        let (soft, server_hard) = Process::of(server).open_files_limit();
        assert_eq!(
            soft, server_hard,
            "{runtime}: the server did not raise its soft open-files limit"
        );
    }
    // As many servers at once as this process's descriptors allow.
    let at_once = ((hard.saturating_sub(256)) / FDS_PER_SERVER).clamp(1, 4) as usize;
    let targets: Vec<(SocketAddr, Process)> = servers
        .iter()
        .map(|server| (server.addr, Process::of(server)))
        .collect();
    for batch in RUNTIMES.chunks(at_once) {
        on_runtimes(batch, |runtime| {
            let index = RUNTIMES.iter().position(|r| *r == runtime).unwrap();
            let (addr, process) = targets[index];
            slowloris(addr, process, runtime);
        });
    }
}

/// One server under slowloris: connect the slow clients, feed each one byte of a valid
/// request head per second, and note when the server drops each.
fn slowloris(addr: SocketAddr, process: Process, runtime: &str) {
    let label = format!("{runtime}: slowloris");
    let watch = Watch::start_at(addr, process, &label, SLOWLORIS_ALLOWANCE, |_| "/ws".into());
    let request = raw::upgrade_request(addr, "/ws").into_bytes();
    let start = Instant::now();
    // From a few threads, so that they are all connected well within the timeout.
    let mut slow: Vec<Slow> = thread::scope(|scope| {
        let connecting: Vec<_> = (0..CONNECTING_THREADS)
            .map(|_| {
                scope.spawn(|| {
                    (0..SLOW_CLIENTS / CONNECTING_THREADS)
                        .map(|_| Slow::connect(addr, &request))
                        .collect::<std::io::Result<Vec<Slow>>>()
                })
            })
            .collect();
        connecting
            .into_iter()
            .flat_map(|thread| {
                let slow = thread.join().expect("a connecting thread");
                slow.unwrap_or_else(|e| panic!("{label}: a slow client cannot connect: {e}"))
            })
            .collect()
    });
    let connected = Instant::now();
    let connecting = connected - start;
    let mut peak_connections = process.tcp_connections();
    // Every slow client should be gone a handshake timeout after it connected; the bound on
    // this wait is far longer, and what is asserted is that they all went, not how fast.
    let give_up = connected + HANDSHAKE_TIMEOUT + 4 * STEP;
    while slow.iter().any(|s| s.dropped.is_none()) && Instant::now() < give_up {
        thread::sleep(Duration::from_secs(1));
        for client in slow.iter_mut().filter(|s| s.dropped.is_none()) {
            client.next_byte(&request);
        }
        peak_connections = peak_connections.max(process.tcp_connections());
    }
    let report = watch.finish();
    let held = slow.iter().filter(|s| s.dropped.is_none()).count();
    assert_eq!(held, 0, "{label}: {held} slow clients still connected");
    let early: Vec<Duration> = slow
        .iter()
        .filter_map(|s| s.lifetime())
        .filter(|lived| *lived < HANDSHAKE_TIMEOUT)
        .collect();
    assert!(
        early.is_empty(),
        "{label}: {} slow clients were dropped before the handshake timeout, e.g. after {:?}",
        early.len(),
        early.first()
    );
    let answered = slow.iter().filter(|s| s.answer > 0).count();
    assert_eq!(
        answered, 0,
        "{label}: the server answered {answered} slow clients"
    );
    process.wait_tcp_connections(0, STEP);
    let longest = slow
        .iter()
        .filter_map(Slow::lifetime)
        .max()
        .unwrap_or_default();
    notice(&format!(
        "{label}: {SLOW_CLIENTS} slow clients connected in {:.1} s (at most {peak_connections} \
         TCP connections at the server), all dropped without an answer after {:.1}-{:.1} s; peak RSS {:.1} MiB",
        connecting.as_secs_f64(),
        HANDSHAKE_TIMEOUT.as_secs_f64(),
        longest.as_secs_f64(),
        common::watch::mib(report.peak),
    ));
}

/// One slow client.
struct Slow {
    stream: TcpStream,
    connected: Instant,
    /// How much of the request head it has sent.
    sent: usize,
    /// When it saw the server close the connection (within a second of it).
    dropped: Option<Instant>,
    /// Bytes the server sent it (none expected: a handshake timeout just closes).
    answer: usize,
}

impl Slow {
    /// Connects and sends the first byte of `request`.
    fn connect(addr: SocketAddr, request: &[u8]) -> std::io::Result<Slow> {
        let mut stream = TcpStream::connect_timeout(&addr, STEP)?;
        let connected = Instant::now();
        stream.write_all(&request[..1])?;
        stream.set_nonblocking(true)?;
        Ok(Slow {
            stream,
            connected,
            sent: 1,
            dropped: None,
            answer: 0,
        })
    }

    /// Notes whether the server has closed the connection; if not, sends the next byte.
    fn next_byte(&mut self, request: &[u8]) {
        let mut buf = [0; 512];
        let closed = loop {
            match self.stream.read(&mut buf) {
                Ok(0) => break true,
                Ok(n) => self.answer += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break false,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => break true,
            }
        };
        let byte = request.get(self.sent..=self.sent).unwrap_or(b"X");
        if closed || self.stream.write(byte).is_err() {
            self.dropped = Some(Instant::now());
        } else {
            self.sent += 1;
        }
    }

    /// How long the server kept it, once dropped.
    fn lifetime(&self) -> Option<Duration> {
        self.dropped.map(|at| at - self.connected)
    }
}

/// Runs `start` with this process's soft open-files limit at `soft` (child processes started
/// meanwhile inherit it), then puts the limit back as it was.
fn with_soft_limit<T>(soft: u64, start: impl FnOnce() -> T) -> T {
    let before = getrlimit(Resource::Nofile);
    set_soft_limit(soft);
    let started = start();
    setrlimit(Resource::Nofile, before).expect("restore the open-files limit");
    started
}

fn set_soft_limit(soft: u64) {
    let hard = getrlimit(Resource::Nofile).maximum;
    let limit = Rlimit {
        current: Some(soft),
        maximum: hard,
    };
    setrlimit(Resource::Nofile, limit).expect("set the soft open-files limit");
}
