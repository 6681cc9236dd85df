//! The suite: every scenario against sockwright (each runtime) and its peers, interleaved
//! (round 1: row 1 on A B C …, row 2 on A B C …; round 2: the same again), each run on a fresh
//! server process, optionally pinned to its own CPU; then `BENCHMARKS.md`.

use std::fmt::Write as _;
use std::fs::{self, OpenOptions};
use std::io::{self, BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use crate::report::{self, Row, Sample};
use crate::scenario::echo::{self, EchoConfig};
use crate::scenario::fanout::{self, FanoutConfig};
use crate::scenario::handshakes::{self, HandshakeConfig};
use crate::scenario::idle::{self, IdleConfig};
use crate::scenario::Window;

/// How long a server may take to print `listening on`.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// What the suite runs and where it writes.
#[derive(Clone, Debug)]
pub struct SuiteConfig {
    /// One round, short windows, fewer rows.
    pub quick: bool,
    /// Rounds (default 3, or 1 with `quick`).
    pub rounds: Option<usize>,
    /// Where `sockwright` is.
    pub bin_dir: PathBuf,
    /// Where the peers are.
    pub peers_dir: PathBuf,
    /// Pin every server to this CPU (taskset).
    pub server_cpu: Option<usize>,
    /// Only these scenarios (`echo`) or rows (`echo:100x20`, see [`Load::key`]); empty: all.
    pub only: Vec<String>,
    /// The Markdown file.
    pub out: PathBuf,
    /// The command that reproduces the file, printed in it.
    pub command_line: String,
    /// Markdown files appended at the end, in order (what the profiles said).
    pub notes: Vec<PathBuf>,
}

/// A server the suite can start.
#[derive(Clone, Copy, Debug)]
enum Launch {
    /// `sockwright SUBCOMMAND --runtime RUNTIME`.
    Sockwright(&'static str, &'static str),
    /// A peer binary.
    Peer(&'static str),
    /// `sockwright relay --runtime RUNTIME` in front of `sockwright echo --runtime mio`.
    Relay(&'static str),
    /// `sockwright-mio-only SUBCOMMAND --runtime mio`: the binary built with the mio runtime
    /// alone (`--no-default-features --features rt-mio`), which `bench/run.sh` builds.
    MioOnly(&'static str),
}

const ECHO_SERVERS: &[(&str, Launch)] = &[
    ("sockwright-std", Launch::Sockwright("echo", "std")),
    ("sockwright-mio", Launch::Sockwright("echo", "mio")),
    ("sockwright-smol", Launch::Sockwright("echo", "smol")),
    ("sockwright-tokio", Launch::Sockwright("echo", "tokio")),
    ("tokio-tungstenite", Launch::Peer("tungstenite-echo")),
    ("fastwebsockets", Launch::Peer("fastwebsockets-echo")),
    ("tokio-websockets", Launch::Peer("tokio-websockets-echo")),
];
const ECHO_PEERS: &[&str] = &["tokio-tungstenite", "fastwebsockets", "tokio-websockets"];

/// The echo servers, and the mio-only build: what a binary with one runtime starts at.
const IDLE_SERVERS: &[(&str, Launch)] = &[
    ("sockwright-std", Launch::Sockwright("echo", "std")),
    ("sockwright-mio", Launch::Sockwright("echo", "mio")),
    ("sockwright-mio-only", Launch::MioOnly("echo")),
    ("sockwright-smol", Launch::Sockwright("echo", "smol")),
    ("sockwright-tokio", Launch::Sockwright("echo", "tokio")),
    ("tokio-tungstenite", Launch::Peer("tungstenite-echo")),
    ("fastwebsockets", Launch::Peer("fastwebsockets-echo")),
    ("tokio-websockets", Launch::Peer("tokio-websockets-echo")),
];

// std is left out: a thread per connection and one more per writer is 20,000 threads at
// 10,000 subscribers.
const HUB_SERVERS: &[(&str, Launch)] = &[
    ("sockwright-hub-mio", Launch::Sockwright("hub", "mio")),
    ("sockwright-hub-tokio", Launch::Sockwright("hub", "tokio")),
    ("sockwright-hub-smol", Launch::Sockwright("hub", "smol")),
    ("tokio-tungstenite-hub", Launch::Peer("tungstenite-hub")),
];
const HUB_PEERS: &[&str] = &["tokio-tungstenite-hub"];

const RELAY_SERVERS: &[(&str, Launch)] = &[
    (
        "direct (sockwright-mio echo)",
        Launch::Sockwright("echo", "mio"),
    ),
    ("relay-mio → echo", Launch::Relay("mio")),
    ("relay-tokio → echo", Launch::Relay("tokio")),
];
const RELAY_PEERS: &[&str] = &["direct (sockwright-mio echo)"];

/// One row: a scenario at one load.
#[derive(Clone, Copy, Debug)]
enum Load {
    Echo { connections: usize, payload: usize },
    Fanout { subscribers: usize },
    Relay { connections: usize, payload: usize },
    Idle { connections: usize },
    Handshakes { concurrency: usize },
}

impl Load {
    fn scenario(self) -> &'static str {
        match self {
            Load::Echo { .. } => "echo",
            Load::Fanout { .. } => "fanout",
            Load::Relay { .. } => "relay",
            Load::Idle { .. } => "idle",
            Load::Handshakes { .. } => "handshakes",
        }
    }

    /// The row's name for `--only`: `echo:100x20`, `relay:100x16384`, `fanout:1000`,
    /// `idle:1000`, `handshakes:32` (payloads in bytes).
    fn key(self) -> String {
        match self {
            Load::Echo {
                connections,
                payload,
            }
            | Load::Relay {
                connections,
                payload,
            } => format!("{}:{connections}x{payload}", self.scenario()),
            Load::Fanout { subscribers: n }
            | Load::Idle { connections: n }
            | Load::Handshakes { concurrency: n } => format!("{}:{n}", self.scenario()),
        }
    }

    /// Whether `--only` selects this row: by its scenario or its [`key`](Load::key).
    fn selected(self, only: &[String]) -> bool {
        only.is_empty()
            || only
                .iter()
                .any(|o| o == self.scenario() || *o == self.key())
    }

    fn label(self) -> String {
        match self {
            Load::Echo {
                connections,
                payload,
            }
            | Load::Relay {
                connections,
                payload,
            } => format!("{connections} connections × {}", size(payload)),
            Load::Fanout { subscribers } => format!("1 publisher → {subscribers} subscribers"),
            Load::Idle { connections } => format!("{connections} idle connections"),
            Load::Handshakes { concurrency } => format!("{concurrency} at a time"),
        }
    }

    fn servers(self) -> (&'static [(&'static str, Launch)], &'static [&'static str]) {
        match self {
            Load::Fanout { .. } => (HUB_SERVERS, HUB_PEERS),
            Load::Relay { .. } => (RELAY_SERVERS, RELAY_PEERS),
            Load::Idle { .. } => (IDLE_SERVERS, ECHO_PEERS),
            _ => (ECHO_SERVERS, ECHO_PEERS),
        }
    }
}

fn size(bytes: usize) -> String {
    match bytes {
        b if b >= 1024 && b.is_multiple_of(1024) => format!("{} KiB", b / 1024),
        b => format!("{b} B"),
    }
}

fn loads(quick: bool) -> Vec<Load> {
    let mut loads = Vec::new();
    let echo: &[(usize, usize)] = if quick {
        &[(100, 20), (1000, 1024)]
    } else {
        &[
            (100, 20),
            (500, 20),
            (1000, 20),
            (100, 1024),
            (500, 1024),
            (1000, 1024),
            (100, 16384),
            (500, 16384),
            (1000, 16384),
        ]
    };
    for &(connections, payload) in echo {
        loads.push(Load::Echo {
            connections,
            payload,
        });
    }
    let subscribers: &[usize] = if quick { &[1000] } else { &[1000, 10_000] };
    loads.extend(subscribers.iter().map(|&s| Load::Fanout { subscribers: s }));
    let relay: &[(usize, usize)] = if quick {
        &[(100, 20)]
    } else {
        &[(100, 20), (100, 16384)]
    };
    for &(connections, payload) in relay {
        loads.push(Load::Relay {
            connections,
            payload,
        });
    }
    let idle: &[usize] = if quick { &[1000] } else { &[1000, 10_000] };
    loads.extend(idle.iter().map(|&c| Load::Idle { connections: c }));
    loads.push(Load::Handshakes { concurrency: 32 });
    loads
}

/// Every row of the full suite and of `--quick`.
fn loads_of_both_sizes() -> Vec<Load> {
    let mut all = loads(false);
    for load in loads(true) {
        if !all.iter().any(|l| l.key() == load.key()) {
            all.push(load);
        }
    }
    all
}

/// Runs the suite and writes the Markdown file.
pub fn run(config: &SuiteConfig) -> io::Result<()> {
    let rounds = config.rounds.unwrap_or(if config.quick { 1 } else { 3 });
    let window = if config.quick {
        Window {
            warmup: Duration::from_millis(300),
            duration: Duration::from_secs(1),
        }
    } else {
        Window {
            warmup: Duration::from_secs(1),
            duration: Duration::from_secs(3),
        }
    };
    let loads: Vec<Load> = loads(config.quick)
        .into_iter()
        .filter(|l| l.selected(&config.only))
        .collect();
    if loads.is_empty() {
        let known: Vec<String> = loads_of_both_sizes().iter().map(|l| l.key()).collect();
        return Err(io::Error::other(format!(
            "--only {} selects no row; rows: {}",
            config.only.join(","),
            known.join(", ")
        )));
    }
    let launcher = Launcher::new(config)?;
    let load_before = load_average();
    let mut rows: Vec<Row> = loads
        .iter()
        .map(|load| Row {
            label: load.label(),
            servers: load
                .servers()
                .0
                .iter()
                .map(|(name, _)| (name.to_string(), Ok(Vec::new())))
                .collect(),
        })
        .collect();
    for round in 1..=rounds {
        for (load, row) in loads.iter().zip(&mut rows) {
            for (index, (name, launch)) in load.servers().0.iter().enumerate() {
                let slot = &mut row.servers[index].1;
                let Ok(runs) = slot else { continue };
                match run_once(&launcher, *launch, *load, window) {
                    Ok(sample) => {
                        eprintln!(
                            "[round {round}/{rounds}] {} {} on {name}: {}",
                            load.scenario(),
                            load.label(),
                            sample.line()
                        );
                        runs.push(sample);
                    }
                    Err(e) => {
                        eprintln!(
                            "[round {round}/{rounds}] {} {} on {name}: FAILED: {e}",
                            load.scenario(),
                            load.label()
                        );
                        *slot = Err(format!("failed: {e}"));
                    }
                }
            }
        }
    }
    let load = [load_before, load_average()];
    let mut markdown = render(config, rounds, window, &loads, &rows, &launcher, load);
    for notes in &config.notes {
        markdown.push_str(&fs::read_to_string(notes)?);
    }
    fs::write(&config.out, markdown)?;
    eprintln!("wrote {}", config.out.display());
    Ok(())
}

/// One run: a fresh server (or relay and echo), one scenario run against it, the server gone.
fn run_once(launcher: &Launcher, launch: Launch, load: Load, window: Window) -> io::Result<Sample> {
    let server = launcher.start(launch)?;
    let url = format!("ws://{}", server.addr);
    let pid = Some(server.pid);
    match load {
        Load::Echo {
            connections,
            payload,
        }
        | Load::Relay {
            connections,
            payload,
        } => echo::run(&EchoConfig {
            url: format!("{url}/ws"),
            connections,
            payload,
            window,
            server_pid: pid,
        })
        .map(|r| Sample::from_echo(&r)),
        Load::Fanout { subscribers } => fanout::run(&FanoutConfig {
            url,
            subscribers,
            payload: 64,
            in_flight: 16,
            window,
            server_pid: pid,
        })
        .map(|r| Sample::from_fanout(&r)),
        Load::Idle { connections } => idle::run(&IdleConfig {
            url: format!("{url}/ws"),
            connections,
            server_pid: server.pid,
        })
        .map(|r| Sample::from_idle(&r)),
        Load::Handshakes { concurrency } => handshakes::run(&HandshakeConfig {
            url: format!("{url}/ws"),
            concurrency,
            window,
            server_pid: pid,
        })
        .map(|r| Sample::from_handshakes(&r)),
    }
}

/// Starts servers: knows the binaries, the CPU to pin them to, where their logs go, and which
/// sockwright subcommands this build has.
struct Launcher {
    sockwright: PathBuf,
    peers_dir: PathBuf,
    server_cpu: Option<usize>,
    log: PathBuf,
    missing: Vec<&'static str>,
}

impl Launcher {
    fn new(config: &SuiteConfig) -> io::Result<Launcher> {
        let sockwright = config.bin_dir.join("sockwright");
        let missing = ["hub", "relay"]
            .into_iter()
            .filter(|sub| {
                !Command::new(&sockwright)
                    .args([sub, "--help"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            })
            .collect();
        Ok(Launcher {
            sockwright,
            peers_dir: config.peers_dir.clone(),
            server_cpu: config.server_cpu,
            log: std::env::temp_dir().join("sockwright-bench-servers.log"),
            missing,
        })
    }

    fn start(&self, launch: Launch) -> io::Result<Running> {
        match launch {
            Launch::Sockwright(sub, runtime) => {
                self.require(sub)?;
                self.spawn(&self.sockwright, &sockwright_args(sub, runtime, &[]))
            }
            Launch::Peer(binary) => self.spawn(&self.peers_dir.join(binary), &[]),
            Launch::Relay(runtime) => {
                self.require("relay")?;
                let backend = self.spawn(&self.sockwright, &sockwright_args("echo", "mio", &[]))?;
                let route = format!("/ws=ws://{}/ws", backend.addr);
                let mut relay = self.spawn(
                    &self.sockwright,
                    &sockwright_args("relay", runtime, &["--route", &route]),
                )?;
                relay.others.push(backend);
                Ok(relay)
            }
            Launch::MioOnly(sub) => {
                let program = self.sockwright.with_file_name("sockwright-mio-only");
                if !program.exists() {
                    return Err(io::Error::other(format!(
                        "{} is missing: bench/run.sh builds it",
                        program.display()
                    )));
                }
                self.spawn(&program, &sockwright_args(sub, "mio", &[]))
            }
        }
    }

    fn require(&self, sub: &str) -> io::Result<()> {
        if self.missing.contains(&sub) {
            return Err(io::Error::other(format!(
                "`sockwright {sub}` is not in this build"
            )));
        }
        Ok(())
    }

    fn spawn(&self, program: &Path, args: &[String]) -> io::Result<Running> {
        let mut command = match self.server_cpu {
            Some(cpu) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(cpu.to_string()).arg(program);
                c
            }
            None => Command::new(program),
        };
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let mut child = command
            .args(args)
            .args(["--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .map_err(|e| io::Error::other(format!("{}: {e}", program.display())))?;
        let stdout = child.stdout.take().expect("piped stdout");
        let pid = child.id();
        let mut running = Running {
            child,
            pid,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            others: Vec::new(),
        };
        running.addr = listening_addr(stdout, program)?;
        Ok(running)
    }
}

fn sockwright_args(sub: &str, runtime: &str, extra: &[&str]) -> Vec<String> {
    // Keepalive off (the generator counts any frame that is not an echo) and no per-connection
    // log lines: the peers log nothing either.
    let mut args: Vec<String> = [
        sub,
        "--runtime",
        runtime,
        "--ping-interval",
        "0",
        "--log",
        "warn",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// Waits for the `listening on ADDR` line, then keeps draining standard output on a thread so
/// the server never blocks writing to it.
fn listening_addr(stdout: std::process::ChildStdout, program: &Path) -> io::Result<SocketAddr> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        for line in lines.by_ref() {
            let Ok(line) = line else { return };
            if let Some(addr) = line.strip_prefix("listening on ") {
                let _ = tx.send(addr.trim().to_string());
                break;
            }
        }
        for _ in lines {}
    });
    let line = rx.recv_timeout(START_TIMEOUT).map_err(|_| {
        io::Error::other(format!(
            "{} did not print `listening on ADDR` within {START_TIMEOUT:?}",
            program.display()
        ))
    })?;
    line.parse()
        .map_err(|e| io::Error::other(format!("{}: `listening on {line}`: {e}", program.display())))
}

/// A started server; killed (by its pid, SIGKILL) and reaped when dropped.
struct Running {
    child: Child,
    pid: u32,
    addr: SocketAddr,
    /// Processes it needs (the relay's upstream echo).
    others: Vec<Running>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn render(
    config: &SuiteConfig,
    rounds: usize,
    window: Window,
    loads: &[Load],
    rows: &[Row],
    launcher: &Launcher,
    load: [String; 2],
) -> String {
    let mut out = String::from("# Benchmarks\n\n");
    out.push_str(
        "Generated by `bench/run.sh` (the load generator `sockwright-bench`, crate `bench/`, and \
         the peer servers of `bench/peers/`); edit the generator, not this file.\n\n",
    );
    let _ = writeln!(out, "Reproduce: `{}`\n", config.command_line);
    out.push_str("## Machine and method\n\n");
    for line in machine() {
        let _ = writeln!(out, "- {line}");
    }
    let _ = writeln!(
        out,
        "- load average (`/proc/loadavg`, 1/5/15 min) when the run started: {}; when it \
         ended: {}",
        load[0], load[1]
    );
    if !config.only.is_empty() {
        let _ = writeln!(
            out,
            "- **a partial run**: only the rows `--only {}` selects; rows of other runs, if \
             any, are in the sections appended below, with their own method",
            config.only.join(",")
        );
    }
    let pinning = match config.server_cpu {
        Some(cpu) => format!(
            "each server pinned to CPU {cpu} with `taskset`, the generator to the other CPU(s), \
             so neither takes the other's core (tokio and sockwright's mio size themselves to \
             the one CPU they are given)"
        ),
        None => "no pinning: servers and the generator share every CPU".to_string(),
    };
    let _ = writeln!(
        out,
        "- {rounds} round(s); in each, every row runs once on every server in table order \
         (A B C … A B C …), each run on a freshly started server; values are the median over \
         rounds with [min–max].\n\
         - {pinning}.\n\
         - Warm-up {:?} (not counted), then {:?} measured per run. Echo: every connection \
         keeps exactly one binary message in flight, every echo checked byte for byte. \
         Fan-out: payload 64 B, 16 publishes in flight, a publish leaves the window once every \
         subscriber has it; so no subscriber ever has more than 16 frames (about 1 KiB) waiting, \
         far below the hub's `--max-queued` (1 MiB, left at its default), and a subscriber \
         closed by the hub (e.g. 1013, slow consumer) fails the run rather than being left \
         out; deliveries that never came within 2 s are counted in the `lost` column. Relay: the relay and its upstream `sockwright echo --runtime mio` \
         both run on the servers' CPU. Idle: each connection echoes one 20 B message, then stays quiet \
         1 s before the server's RSS is read. Handshakes: connect, upgrade, close handshake, \
         server's FIN.\n\
         - sockwright servers run with `--ping-interval 0 --log warn` (no keepalive pings, \
         no per-connection log lines; the peers log nothing).\n\
         - **This machine is shared with other work and noisy**: read ratios within one row, \
         not absolute numbers across rows; a [min–max] that spans the other servers' \
         medians means the difference is noise.\n\
         - Ratios `÷ peer` are this server's median headline value (first column) over the \
         peer's.\n",
        window.warmup, window.duration
    );
    if !launcher.missing.is_empty() {
        let _ = writeln!(
            out,
            "Not in the measured build: {}; their rows say so.\n",
            launcher
                .missing
                .iter()
                .map(|s| format!("`sockwright {s}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    render_targets(&mut out, loads, rows);
    let sections = [
        ("echo", "Echo (messages/s, one in flight per connection)"),
        ("fanout", "Fan-out over the hub protocol (deliveries/s)"),
        ("relay", "Relay: echo through `sockwright relay` vs direct"),
        (
            "idle",
            "Idle memory (server RSS over its baseline, per connection)",
        ),
        (
            "handshakes",
            "Handshakes (connect + upgrade + close per second)",
        ),
    ];
    for (scenario, title) in sections {
        let mut first = true;
        for (load, row) in loads.iter().zip(rows) {
            if load.scenario() != scenario {
                continue;
            }
            if first {
                let _ = writeln!(out, "## {title}\n");
                first = false;
            }
            report::markdown_row(&mut out, row, load.servers().1);
        }
    }
    out
}

/// The issue's targets, checked against this run.
fn render_targets(out: &mut String, loads: &[Load], rows: &[Row]) {
    out.push_str("## Targets\n\n| target | measured | met |\n|---|---|---|\n");
    let of = |scenario: &str| -> Vec<&Row> {
        loads
            .iter()
            .zip(rows)
            .filter(|(l, _)| l.scenario() == scenario)
            .map(|(_, r)| r)
            .collect()
    };
    let worst = |rows: &[&Row], mine: &str, theirs: &str, value: Option<&str>| -> Option<f64> {
        rows.iter()
            .map(|row| {
                let (a, b) = match value {
                    None => (report::headline(row, mine), report::headline(row, theirs)),
                    Some(name) => (
                        report::median_of(row, mine, name),
                        report::median_of(row, theirs, name),
                    ),
                };
                Some(a? / b?)
            })
            .collect::<Option<Vec<f64>>>()
            .and_then(|ratios| ratios.into_iter().reduce(f64::min))
    };
    let mut line = |target: String, measured: Option<f64>, met: &dyn Fn(f64) -> bool| {
        let (shown, verdict) = match measured {
            Some(v) => (format!("{v:.2}"), if met(v) { "yes" } else { "**no**" }),
            None => ("not measured".to_string(), "–"),
        };
        let _ = writeln!(out, "| {target} | {shown} | {verdict} |");
    };
    let echo = of("echo");
    for runtime in ["mio", "tokio"] {
        let mine = format!("sockwright-{runtime}");
        line(
            format!("echo ≥ 1.1 × fastwebsockets on every row, {runtime} (worst row's ratio)"),
            worst(&echo, &mine, "fastwebsockets", None),
            &|v| v >= 1.1,
        );
        let cpu = "server CPU µs/msg";
        let highest = echo
            .iter()
            .map(|row| {
                Some(
                    report::median_of(row, &mine, cpu)?
                        / report::median_of(row, "fastwebsockets", cpu)?,
                )
            })
            .collect::<Option<Vec<f64>>>()
            .and_then(|r| r.into_iter().reduce(f64::max));
        line(
            format!("server CPU per message < fastwebsockets', {runtime} (highest row's ratio)"),
            highest,
            &|v| v < 1.0,
        );
    }
    for (load, row) in loads.iter().zip(rows) {
        if let Load::Idle { connections: 1000 } = load {
            for runtime in ["std", "mio", "mio-only", "smol", "tokio"] {
                line(
                    format!("peak RSS with 1,000 idle connections ≤ 4 MiB, {runtime} (MiB)"),
                    report::median_of(row, &format!("sockwright-{runtime}"), "peak MiB"),
                    &|v| v <= 4.0,
                );
            }
        }
    }
    let fanout = of("fanout");
    for runtime in ["mio", "tokio", "smol"] {
        line(
            format!("hub fan-out ≥ the tokio-tungstenite hub, {runtime} (worst row's ratio)"),
            worst(
                &fanout,
                &format!("sockwright-hub-{runtime}"),
                "tokio-tungstenite-hub",
                None,
            ),
            &|v| v >= 1.0,
        );
    }
    let relay = of("relay");
    for runtime in ["mio", "tokio"] {
        line(
            format!("relay ≥ 0.8 × direct, {runtime} (worst row's ratio)"),
            worst(
                &relay,
                &format!("relay-{runtime} → echo"),
                "direct (sockwright-mio echo)",
                None,
            ),
            &|v| v >= 0.8,
        );
    }
    out.push('\n');
}

/// `/proc/loadavg`'s three load averages.
fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "(unavailable)".to_string())
}

/// `nproc`, the CPU model, the kernel and rustc, each from its own command.
fn machine() -> Vec<String> {
    let output = |program: &str, args: &[&str]| -> String {
        Command::new(program)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_else(|| format!("({program} unavailable)"))
    };
    let model = output("lscpu", &[])
        .lines()
        .find_map(|l| l.strip_prefix("Model name:").map(|m| m.trim().to_string()))
        .unwrap_or_else(|| "(unknown)".to_string());
    vec![
        format!("CPUs (`nproc --all`): {}", output("nproc", &["--all"])),
        format!("CPU model (`lscpu`): {model}"),
        format!("kernel (`uname -r`): {}", output("uname", &["-r"])),
        format!("compiler: {}", output("rustc", &["-V"])),
        format!(
            "memory: {}",
            fs::read_to_string("/proc/meminfo")
                .ok()
                .and_then(|m| m.lines().next().map(|l| l
                    .split_whitespace()
                    .skip(1)
                    .collect::<Vec<_>>()
                    .join(" ")))
                .unwrap_or_default()
        ),
    ]
}
