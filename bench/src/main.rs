//! `sockwright-bench`: one scenario against one running server, or the whole suite.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use sockwright_bench::scenario::echo::{self, EchoConfig};
use sockwright_bench::scenario::fanout::{self, FanoutConfig};
use sockwright_bench::scenario::handshakes::{self, HandshakeConfig};
use sockwright_bench::scenario::idle::{self, IdleConfig};
use sockwright_bench::scenario::Window;
use sockwright_bench::suite::{self, SuiteConfig};
use sockwright_bench::{parse_duration, pool, report};

/// Load generator for WebSocket servers on loopback. Each scenario warms up, measures for a
/// fixed time, closes its connections and stops; `--runs N` repeats it and prints the median
/// and the range. `suite` runs everything against sockwright and its peers and writes
/// BENCHMARKS.md.
#[derive(Debug, Parser)]
#[command(name = "sockwright-bench", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// N connections, one binary message in flight each, every echo checked: msg/s, latency.
    Echo {
        /// The echo endpoint, e.g. ws://127.0.0.1:9001/ws.
        #[arg(long)]
        url: String,
        #[arg(long, default_value_t = 100)]
        connections: usize,
        /// Payload bytes per message.
        #[arg(long, default_value_t = 20)]
        payload: usize,
        #[command(flatten)]
        common: Common,
    },
    /// One publisher, N subscribers on one topic of a hub (/im?user_id=…&topic=…).
    Fanout {
        /// The hub's base URL, e.g. ws://127.0.0.1:9001.
        #[arg(long)]
        url: String,
        #[arg(long, default_value_t = 1000)]
        subscribers: usize,
        /// Payload bytes per message (at least 16).
        #[arg(long, default_value_t = 64)]
        payload: usize,
        /// Publishes in flight at once.
        #[arg(long, default_value_t = 16)]
        in_flight: usize,
        #[command(flatten)]
        common: Common,
    },
    /// The server's resident memory with N quiet connections (needs --server-pid).
    Idle {
        /// The echo endpoint.
        #[arg(long)]
        url: String,
        #[arg(long, default_value_t = 1000)]
        connections: usize,
        #[command(flatten)]
        common: Common,
    },
    /// Connect, upgrade, close, again: handshakes per second.
    Handshakes {
        /// The WebSocket endpoint.
        #[arg(long)]
        url: String,
        /// Connections in progress at once.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        #[command(flatten)]
        common: Common,
    },
    /// Every scenario against every server, interleaved over rounds; writes the table.
    Suite(SuiteArgs),
}

#[derive(Debug, Args)]
struct Common {
    /// Measured time per run.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    duration: Duration,
    /// Uncounted time before it.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    warmup: Duration,
    /// The server's process id: its CPU time per message (and memory, for idle).
    #[arg(long)]
    server_pid: Option<u32>,
    /// Runs; with more than one, the median and range are printed too.
    #[arg(long, default_value_t = 1)]
    runs: usize,
}

#[derive(Debug, Args)]
struct SuiteArgs {
    /// A short smoke run: one round, short windows, a few rows.
    #[arg(long)]
    quick: bool,
    /// Rounds (each runs every row on every server once).
    #[arg(long)]
    rounds: Option<usize>,
    /// Where the `sockwright` binary is.
    #[arg(long)]
    bin_dir: PathBuf,
    /// Where the peer binaries are (bench/peers).
    #[arg(long)]
    peers_dir: PathBuf,
    /// Pin servers to this CPU with taskset (the generator pins itself elsewhere).
    #[arg(long)]
    server_cpu: Option<usize>,
    /// Only these scenarios (echo, fanout, relay, idle, handshakes) or rows (echo:100x20,
    /// relay:100x16384, fanout:10000, idle:1000, handshakes:32; payloads in bytes), comma
    /// separated.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// The Markdown file to write.
    #[arg(long)]
    out: PathBuf,
    /// The command line to print in the file (what reproduces it).
    #[arg(long, default_value = "bench/run.sh")]
    command_line: String,
    /// A Markdown file appended to the output (findings that outlive one run); repeat for
    /// more, appended in order.
    #[arg(long)]
    notes: Vec<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = pool::raise_file_limit() {
        eprintln!("warning: could not raise the open-file limit: {e}");
    }
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<(), String> {
    let window = |c: &Common| Window {
        warmup: c.warmup,
        duration: c.duration,
    };
    match command {
        Command::Echo {
            url,
            connections,
            payload,
            common,
        } => {
            let config = EchoConfig {
                url,
                connections,
                payload,
                window: window(&common),
                server_pid: common.server_pid,
            };
            repeat(common.runs, || {
                echo::run(&config).map(|r| report::Sample::from_echo(&r))
            })
        }
        Command::Fanout {
            url,
            subscribers,
            payload,
            in_flight,
            common,
        } => {
            let config = FanoutConfig {
                url,
                subscribers,
                payload,
                in_flight,
                window: window(&common),
                server_pid: common.server_pid,
            };
            repeat(common.runs, || {
                fanout::run(&config).map(|r| report::Sample::from_fanout(&r))
            })
        }
        Command::Idle {
            url,
            connections,
            common,
        } => {
            let server_pid = common
                .server_pid
                .ok_or("idle needs --server-pid (its memory is what is measured)")?;
            let config = IdleConfig {
                url,
                connections,
                server_pid,
            };
            repeat(common.runs, || {
                idle::run(&config).map(|r| report::Sample::from_idle(&r))
            })
        }
        Command::Handshakes {
            url,
            concurrency,
            common,
        } => {
            let config = HandshakeConfig {
                url,
                concurrency,
                window: window(&common),
                server_pid: common.server_pid,
            };
            repeat(common.runs, || {
                handshakes::run(&config).map(|r| report::Sample::from_handshakes(&r))
            })
        }
        Command::Suite(args) => suite::run(&SuiteConfig {
            quick: args.quick,
            rounds: args.rounds,
            bin_dir: args.bin_dir,
            peers_dir: args.peers_dir,
            server_cpu: args.server_cpu,
            only: args.only,
            out: args.out,
            command_line: args.command_line,
            notes: args.notes,
        })
        .map_err(|e| e.to_string()),
    }
}

/// Runs a scenario `runs` times, printing each run, then the median and range of each value.
fn repeat(
    runs: usize,
    mut once: impl FnMut() -> std::io::Result<report::Sample>,
) -> Result<(), String> {
    let mut samples = Vec::new();
    for run in 1..=runs.max(1) {
        let sample = once().map_err(|e| format!("run {run}: {e}"))?;
        println!("run {run}: {}", sample.line());
        samples.push(sample);
    }
    if samples.len() > 1 {
        println!("{}", report::summary_line(&samples));
    }
    Ok(())
}
