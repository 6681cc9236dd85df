//! Watching a server under attack from the outside, trusting nothing it says about itself:
//! its memory (VmRSS from /proc/PID/status), its TCP connections (its socket descriptors in
//! /proc/PID/fd matched against /proc/PID/net/tcp and tcp6), and whether it still serves
//! well-behaved clients meanwhile: a probe that opens a fresh connection for an echo round
//! trip every [`PROBE_EVERY`], and talkers, connections open through the whole attack that
//! echo a numbered sequence and check every reply.

use std::collections::HashSet;
use std::fs;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use tungstenite::{Error as WsError, Message};

use super::peers::notice;
use super::{ws, Sockwright};

/// How often the probe opens a fresh connection.
pub const PROBE_EVERY: Duration = Duration::from_millis(250);

/// How many connections echo a numbered sequence through an attack.
pub const TALKERS: usize = 3;

/// How long a talker waits between messages.
const TALK_EVERY: Duration = Duration::from_millis(20);

/// How often memory is sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(20);

/// A mebibyte.
pub const MIB: u64 = 1 << 20;

/// A process seen through /proc.
#[derive(Clone, Copy, Debug)]
pub struct Process {
    /// Its id.
    pub pid: u32,
}

impl Process {
    /// The server's process.
    pub fn of(server: &Sockwright) -> Process {
        Process { pid: server.pid() }
    }

    /// Its resident memory, in bytes (`VmRSS`); 0 once it has exited.
    pub fn rss(&self) -> u64 {
        let status = fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap_or_default();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.trim().strip_suffix("kB"))
            .and_then(|kib| kib.trim().parse::<u64>().ok())
            .map_or(0, |kib| kib * 1024)
    }

    /// How many TCP connections it holds open: its socket descriptors that are TCP sockets
    /// in any state but LISTEN (a connection the peer has left but the server has not closed
    /// is counted: that is a leak).
    pub fn tcp_connections(&self) -> usize {
        let sockets = self.socket_inodes();
        let mut count = 0;
        for table in ["tcp", "tcp6"] {
            let text = read_large(&format!("/proc/{}/net/{table}", self.pid));
            for line in text.lines().skip(1) {
                // sl local remote state tx:rx tr:when retransmits uid timeout inode ...
                let mut fields = line.split_whitespace();
                let state = fields.nth(3);
                let inode = fields.nth(5).and_then(|inode| inode.parse::<u64>().ok());
                const LISTEN: &str = "0A";
                if state != Some(LISTEN) && inode.is_some_and(|inode| sockets.contains(&inode)) {
                    count += 1;
                }
            }
        }
        count
    }

    /// The inodes of its open socket descriptors.
    fn socket_inodes(&self) -> HashSet<u64> {
        let Ok(fds) = fs::read_dir(format!("/proc/{}/fd", self.pid)) else {
            return HashSet::new();
        };
        fds.filter_map(|fd| fs::read_link(fd.ok()?.path()).ok())
            .filter_map(|target| {
                let target = target.to_str()?;
                target
                    .strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .parse()
                    .ok()
            })
            .collect()
    }

    /// Waits (at most `timeout`) until it holds at most `most` TCP connections; panics with
    /// the count otherwise. Returns how long it took.
    pub fn wait_tcp_connections(&self, most: usize, timeout: Duration) -> Duration {
        let start = Instant::now();
        loop {
            let count = self.tcp_connections();
            if count <= most {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < timeout,
                "the server still holds {count} TCP connections after {timeout:?} (at most \
                 {most} expected)"
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Its soft and hard limits on open files (`None` for unlimited).
    pub fn open_files_limit(&self) -> (Option<u64>, Option<u64>) {
        let limits = fs::read_to_string(format!("/proc/{}/limits", self.pid)).unwrap();
        let line = limits
            .lines()
            .find(|line| line.starts_with("Max open files"))
            .expect("a Max open files line");
        let fields: Vec<&str> = line.split_whitespace().collect();
        let value = |text: &str| text.parse().ok();
        (value(fields[3]), value(fields[4]))
    }
}

/// A /proc file of possibly thousands of lines, read in large pieces: the kernel makes each
/// read of such a file walk its table again, so small reads take long.
fn read_large(path: &str) -> String {
    let mut text = Vec::with_capacity(4 << 20);
    let _ = fs::File::open(path).and_then(|mut file| file.read_to_end(&mut text));
    String::from_utf8(text).unwrap_or_default()
}

/// Runs for the length of an attack on one server: samples its memory, probes it with
/// fresh clients, and keeps [`TALKERS`] connections echoing numbered messages. See
/// [`Watch::finish`] for what is asserted.
pub struct Watch {
    label: String,
    process: Process,
    baseline: u64,
    bound: u64,
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    sampler: JoinHandle<()>,
    probe: JoinHandle<Result<u32, String>>,
    talkers: Vec<JoinHandle<Result<u32, String>>>,
}

/// What a watch saw.
#[derive(Clone, Copy, Debug)]
pub struct Report {
    /// Resident memory when the watch started (after a warm-up echo), bytes.
    pub baseline: u64,
    /// The most seen while it ran, bytes.
    pub peak: u64,
    /// Fresh connections that each completed an echo round trip.
    pub probes: u32,
    /// Messages the talkers sent and got back, in order.
    pub echoed: u32,
}

impl Watch {
    /// Starts watching `server` (the echo server at `/ws`), whose memory must stay within
    /// `allowance` bytes above what it uses now; `label` names the attack and runtime in
    /// messages. The talkers are connected before this returns.
    pub fn start(server: &Sockwright, label: &str, allowance: u64) -> Watch {
        Watch::start_on(server, label, allowance, |_| "/ws".to_owned())
    }

    /// [`Watch::start`] on a server whose WebSocket path depends on the client, e.g. a hub:
    /// `path(name)` is where the client called `name` (`probe-N`, `talker-T`) connects; each
    /// message sent there must come back to its sender alone.
    pub fn start_on(
        server: &Sockwright,
        label: &str,
        allowance: u64,
        path: fn(&str) -> String,
    ) -> Watch {
        Watch::start_at(server.addr, Process::of(server), label, allowance, path)
    }

    /// [`Watch::start_on`] the server at `addr` run by `process` (for a thread that does not
    /// hold the [`Sockwright`]).
    pub fn start_at(
        addr: SocketAddr,
        process: Process,
        label: &str,
        allowance: u64,
        path: fn(&str) -> String,
    ) -> Watch {
        // Warm up: the first connection allocates what every later one reuses.
        probe(addr, path, 0).unwrap_or_else(|e| panic!("{label}: the warm-up echo failed: {e}"));
        let talkers: Vec<_> = (0..TALKERS)
            .map(|t| {
                ws(addr, &path(&format!("talker-{t}")), None)
                    .unwrap_or_else(|e| panic!("{label}: talker {t} cannot connect: {e}"))
            })
            .collect();
        let baseline = process.rss();
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(baseline));
        let sampler = {
            let (stop, peak) = (stop.clone(), peak.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::Acquire) {
                    peak.fetch_max(process.rss(), Ordering::AcqRel);
                    thread::sleep(SAMPLE_EVERY);
                }
            })
        };
        let probe = {
            let stop = stop.clone();
            thread::spawn(move || {
                let mut n = 0;
                loop {
                    n += 1;
                    probe(addr, path, n).map_err(|e| format!("probe {n}: {e}"))?;
                    if stop.load(Ordering::Acquire) {
                        return Ok(n);
                    }
                    thread::sleep(PROBE_EVERY);
                }
            })
        };
        let talkers = talkers
            .into_iter()
            .enumerate()
            .map(|(t, client)| {
                let stop = stop.clone();
                thread::spawn(move || talk(client, t, &stop))
            })
            .collect();
        Watch {
            label: label.to_owned(),
            process,
            baseline,
            bound: baseline + allowance,
            stop,
            peak,
            sampler,
            probe,
            talkers,
        }
    }

    /// The server's memory limit for this watch: the baseline plus the allowance.
    pub fn bound(&self) -> u64 {
        self.bound
    }

    /// Ends the watch and asserts what held throughout: every probe completed its echo (so
    /// the server answered fresh clients all along; at least one ran after the attack),
    /// every talker got every message back in order and closed cleanly, and the server's
    /// resident memory never went over the bound. The measurements are printed.
    pub fn finish(self) -> Report {
        // One more probe round, after the attack: the server still serves.
        thread::sleep(PROBE_EVERY);
        self.stop.store(true, Ordering::Release);
        let label = &self.label;
        let probes = join(self.probe).unwrap_or_else(|e| panic!("{label}: {e}"));
        let mut echoed = 0;
        for (t, talker) in self.talkers.into_iter().enumerate() {
            let sent = join(talker).unwrap_or_else(|e| panic!("{label}: talker {t}: {e}"));
            assert!(sent > 0, "{label}: talker {t} sent nothing");
            echoed += sent;
        }
        let _ = self.sampler.join();
        let peak = self.peak.load(Ordering::Acquire).max(self.process.rss());
        let report = Report {
            baseline: self.baseline,
            peak,
            probes,
            echoed,
        };
        notice(&format!(
            "{label}: RSS baseline {:.1} MiB, peak {:.1} MiB (bound {:.1} MiB); {probes} \
             probes and {echoed} talker messages echoed",
            mib(report.baseline),
            mib(report.peak),
            mib(self.bound),
        ));
        assert!(
            peak <= self.bound,
            "{label}: the server's RSS reached {:.1} MiB, over its bound of {:.1} MiB \
             (baseline {:.1} MiB)",
            mib(peak),
            mib(self.bound),
            mib(self.baseline)
        );
        report
    }
}

/// The runtimes `--runtime` takes.
pub const RUNTIMES: [&str; 4] = ["std", "mio", "smol", "tokio"];

/// Runs `attack(runtime)` for every runtime at once; see [`on_runtimes`].
pub fn on_every_runtime(attack: impl Fn(&str) + Sync) {
    on_runtimes(&RUNTIMES, attack);
}

/// Runs `attack(runtime)` for each of `runtimes` at once, each on its own thread (each
/// starts its own server, so they share nothing but the machine), and fails naming the
/// runtimes whose attack panicked (their panic messages are printed above).
pub fn on_runtimes(runtimes: &[&str], attack: impl Fn(&str) + Sync) {
    let failed: Vec<&str> = thread::scope(|scope| {
        let runs: Vec<_> = runtimes
            .iter()
            .map(|runtime| {
                let attack = &attack;
                (*runtime, scope.spawn(move || attack(runtime)))
            })
            .collect();
        runs.into_iter()
            .filter_map(|(runtime, run)| run.join().is_err().then_some(runtime))
            .collect()
    });
    assert!(failed.is_empty(), "failed on {failed:?}");
}

/// Bytes in MiB, for messages.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / MIB as f64
}

fn join<T>(handle: JoinHandle<Result<T, String>>) -> Result<T, String> {
    handle
        .join()
        .unwrap_or_else(|_| Err("the thread panicked".into()))
}

/// A fresh connection: one echo round trip, then a clean close.
fn probe(addr: SocketAddr, path: fn(&str) -> String, n: u32) -> Result<(), String> {
    let mut client =
        ws(addr, &path(&format!("probe-{n}")), None).map_err(|e| format!("connect: {e}"))?;
    let text = format!("probe {n}");
    client
        .send(Message::text(text.clone()))
        .map_err(|e| format!("send: {e}"))?;
    match read_data(&mut client)? {
        Message::Text(echo) if echo.as_str() == text => {}
        other => return Err(format!("expected the echo {text:?}, got {other:?}")),
    }
    close(client)
}

/// Talker `t`: numbered messages, each echo checked, until `stop`; then a clean close.
/// Returns how many messages came back.
fn talk(
    mut client: tungstenite::WebSocket<super::Tcp>,
    t: usize,
    stop: &AtomicBool,
) -> Result<u32, String> {
    let mut n = 0;
    while !stop.load(Ordering::Acquire) {
        let text = format!("talker {t} message {n}");
        client
            .send(Message::text(text.clone()))
            .map_err(|e| format!("sending message {n}: {e}"))?;
        match read_data(&mut client).map_err(|e| format!("message {n}: {e}"))? {
            Message::Text(echo) if echo.as_str() == text => n += 1,
            other => return Err(format!("expected the echo {text:?}, got {other:?}")),
        }
        thread::sleep(TALK_EVERY);
    }
    close(client)?;
    Ok(n)
}

/// The next message that is not a ping or pong.
fn read_data(client: &mut tungstenite::WebSocket<super::Tcp>) -> Result<Message, String> {
    loop {
        match client.read().map_err(|e| format!("read: {e}"))? {
            Message::Ping(_) | Message::Pong(_) => {}
            other => return Ok(other),
        }
    }
}

/// The close handshake from the client's side.
fn close(mut client: tungstenite::WebSocket<super::Tcp>) -> Result<(), String> {
    client.close(None).map_err(|e| format!("close: {e}"))?;
    loop {
        match client.read() {
            Ok(_) => {}
            Err(WsError::ConnectionClosed) => return Ok(()),
            Err(e) => return Err(format!("the close handshake failed: {e}")),
        }
    }
}
