//! The `sockwright` command line: one subcommand per server, sharing the listener, runtime,
//! TLS, origin, limit, keepalive and logging options, and the run-until-signalled loop.

use std::io::{self, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use sockwright::handshake::{OriginPolicy, WsUrl};
use sockwright::hub::{HubConfig, SlowConsumerPolicy};
use sockwright::relay::RelayConfig;
use sockwright_driver::ServerOptions;
use tracing::level_filters::LevelFilter;
use tracing::{error, info, warn};

use crate::relay::{self, RelayOptions};
use crate::{echo, hub, open_files, App, RuntimeKind, Server};

/// WebSocket servers on the sockwright core: echo, hub and relay, on any of four
/// runtimes, with TLS, an origin allow-list, keepalive and graceful shutdown.
///
/// Prints `listening on ADDR` on standard output once bound; logs go to standard error.
/// SIGINT or SIGTERM closes every connection with 1001 and exits 0; a second signal exits at
/// once.
#[derive(Debug, Parser)]
#[command(name = "sockwright", version)]
pub struct Cli {
    /// The server to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The servers.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Echo server: every text or binary message comes back with its own type.
    ///
    /// WebSocket endpoint at /ws (a plain GET there gets 400 with the reason), `pong` at
    /// /ping, and a test page at / to connect, send and watch messages from a browser.
    Echo(ServeArgs),
    /// Push / broadcast hub: clients connect to /im?user_id=U[&topic=T]..., backends POST
    /// to /publish[?topic=T | ?user_id=U].
    ///
    /// A client's message goes, with its type, to every session in its topics (the sender
    /// included; no topic means the default room). Each message is encoded once and shared
    /// by all its recipients; a recipient whose queue is full (--max-queued) is closed with
    /// 1013, or skipped with --slow-consumer drop, without holding back the others.
    /// `Topic` and `Name` headers are accepted too (a relay forwards them). `pong` at /ping,
    /// a test page at /.
    Hub(HubArgs),
    /// Relay (reverse proxy): each route's WebSocket connections go on to its upstream.
    ///
    /// `--route /chat=ws://127.0.0.1:9001/ws` relays /chat to that upstream (wss:// too):
    /// the client's request is forwarded with Name, Topic and --forward-header headers and
    /// X-Forwarded-For, the upstream's 101 is passed back (subprotocol, headers), messages
    /// cross with their type and closes with their code. An upstream that refuses or cannot
    /// be reached gives the client 502 with the reason; one lost mid-stream, a 1011 or 1014
    /// close. `pong` at /ping, a test page at / (for the first route).
    Relay(RelayArgs),
}

/// The hub's options, besides every server's.
#[derive(Debug, Args)]
pub struct HubArgs {
    /// Every server's options.
    #[command(flatten)]
    pub serve: ServeArgs,

    /// What to do with a session whose outbound queue has no room for a message: close it
    /// (1013 "slow consumer: outbound queue full"; it may reconnect later) or drop the
    /// message for it and keep it open.
    #[arg(long, value_enum, value_name = "POLICY", default_value_t = SlowConsumer::Close)]
    pub slow_consumer: SlowConsumer,

    /// Most bytes of messages waiting to be written to one session before it counts as a
    /// slow consumer; also the largest message that can be published (413 above it). The
    /// connection's own outbound limit (twice --max-message-size, at least 32MiB) applies
    /// too; the smaller one wins.
    #[arg(long, value_name = "SIZE", default_value = "1MiB", value_parser = parse_size)]
    pub max_queued: usize,
}

/// `--slow-consumer`: the core's [`SlowConsumerPolicy`], by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SlowConsumer {
    /// Close the session with 1013 (try again later).
    Close,
    /// Drop the message for that session; it stays open.
    Drop,
}

impl HubArgs {
    /// The core's hub configuration these arguments ask for; every other field keeps the
    /// core's default.
    pub fn hub_config(&self) -> HubConfig {
        let mut config = HubConfig::default();
        config.slow_consumer = match self.slow_consumer {
            SlowConsumer::Close => SlowConsumerPolicy::default(),
            SlowConsumer::Drop => SlowConsumerPolicy::DropMessage,
        };
        config.max_queued_bytes = self.max_queued;
        config
    }
}

/// The relay's options, besides the common ones.
#[derive(Debug, Args)]
pub struct RelayArgs {
    /// Relay requests to PATH to the upstream URL (ws:// or wss://), e.g.
    /// `/chat=ws://127.0.0.1:9001/ws`; repeat for more routes. The client's query is appended
    /// to the URL's.
    #[arg(long = "route", value_name = "PATH=URL", required = true, value_parser = relay::parse_route)]
    pub routes: Vec<(String, WsUrl)>,

    /// Trust the CA certificates in this PEM file for wss:// upstreams (e.g. a private CA)
    /// instead of the system's roots.
    #[arg(long, value_name = "PEM")]
    pub upstream_ca: Option<PathBuf>,

    /// Forward this request header to the upstream too (repeat for more). Name and Topic
    /// always are; hop-by-hop headers never are.
    #[arg(long = "forward-header", value_name = "NAME")]
    pub forward_headers: Vec<String>,

    /// How long an upstream has to accept the TCP (and TLS) connection and answer the
    /// handshake before the client gets 502.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub upstream_timeout: Duration,

    /// The common server options.
    #[command(flatten)]
    pub serve: ServeArgs,
}

impl RelayArgs {
    /// The relay settings these arguments ask for. Reads `--upstream-ca`, or loads the
    /// system's roots when a route is wss:// and no CA is given.
    pub fn relay_options(&self) -> Result<RelayOptions, String> {
        for (n, (path, _)) in self.routes.iter().enumerate() {
            if self.routes[..n].iter().any(|(p, _)| p == path) {
                return Err(format!("--route {path} is given twice"));
            }
        }
        let mut config = RelayConfig::default();
        for name in &self.forward_headers {
            if !config
                .forward_headers
                .iter()
                .any(|h| h.eq_ignore_ascii_case(name))
            {
                config.forward_headers.push(name.clone());
            }
        }
        config
            .check()
            .map_err(|e| format!("--forward-header {e}"))?;
        if self.upstream_timeout.is_zero() {
            return Err("--upstream-timeout must be more than 0".into());
        }
        config.upstream_timeout = self.upstream_timeout;
        let upstream_tls = match &self.upstream_ca {
            Some(path) => {
                let pem = std::fs::read(path)
                    .map_err(|e| format!("cannot read --upstream-ca {}: {e}", path.display()))?;
                let config = sockwright_driver::tls::client_config_with_roots(&pem)
                    .map_err(|e| format!("--upstream-ca {}: {e}", path.display()))?;
                Some(config)
            }
            None if self.routes.iter().any(|(_, url)| url.is_secure()) => Some(
                sockwright_driver::tls::client_config()
                    .map_err(|e| format!("wss:// routes: {e}; or give --upstream-ca"))?,
            ),
            None => None,
        };
        Ok(RelayOptions {
            routes: self.routes.clone(),
            config,
            upstream_tls,
        })
    }
}

/// What every server is configured with.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; see the `listening on` line).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9001")]
    pub listen: String,

    /// Which adapter runs the server (all four serve the same way).
    #[arg(long, value_enum, default_value_t = RuntimeKind::DEFAULT)]
    pub runtime: RuntimeKind,

    /// PEM certificate chain (leaf first): serve wss/https (needs --tls-key).
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Allow WebSocket connections from browser pages of this origin only, e.g.
    /// `https://example.com` (repeat for more). Others get 403. Requests without an Origin
    /// header (non-browser clients) are always allowed. Default: every origin.
    #[arg(long = "origin", value_name = "ORIGIN")]
    pub origins: Vec<String>,

    /// Largest message (and frame) accepted; a larger one closes the connection with 1009.
    /// Units: bytes, or KiB, MiB, GiB (K, M, G for short).
    #[arg(long, value_name = "SIZE", default_value = "16MiB", value_parser = parse_size)]
    pub max_message_size: usize,

    /// Ping a peer after this long without hearing from it (0 turns keepalive off).
    /// Units: ms, s, m, h (a bare number is seconds).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub ping_interval: Duration,

    /// After a keepalive ping, close the connection (1011) if nothing at all arrives within
    /// this long. A silent peer is dropped after --ping-interval plus this.
    #[arg(long, value_name = "DURATION", default_value = "20s", value_parser = parse_duration)]
    pub idle_timeout: Duration,

    /// How long a client may take to complete the upgrade (TLS included) after it connects;
    /// one that has not finished by then (e.g. a slowloris client trickling its request) is
    /// dropped.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_timeout)]
    pub handshake_timeout: Duration,

    /// On SIGINT/SIGTERM, how long connections get to finish their close handshake before
    /// the process exits anyway.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,

    /// Log level (to standard error): one line per connection opened, closed or refused at
    /// info; plain HTTP requests and failed handshakes at debug.
    #[arg(long, value_enum, value_name = "LEVEL", default_value_t = LogLevel::Info)]
    pub log: LogLevel,
}

/// How much is logged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    /// Nothing.
    Off,
    /// Failures of the server itself.
    Error,
    /// And undelivered messages, failed accepts.
    Warn,
    /// And each connection's open, close and refusal, startup and shutdown.
    Info,
    /// And plain HTTP requests and failed handshakes.
    Debug,
    /// Everything.
    Trace,
}

impl From<LogLevel> for LevelFilter {
    fn from(level: LogLevel) -> LevelFilter {
        match level {
            LogLevel::Off => LevelFilter::OFF,
            LogLevel::Error => LevelFilter::ERROR,
            LogLevel::Warn => LevelFilter::WARN,
            LogLevel::Info => LevelFilter::INFO,
            LogLevel::Debug => LevelFilter::DEBUG,
            LogLevel::Trace => LevelFilter::TRACE,
        }
    }
}

impl ServeArgs {
    /// The adapters' server options these arguments ask for.
    pub fn server_options(&self) -> Result<ServerOptions, String> {
        let mut options = ServerOptions::default();
        if !self.origins.is_empty() {
            options.handshake.origin = OriginPolicy::AllowList(self.origins.clone());
        }
        let connection = &mut options.connection;
        connection.max_message_size = self.max_message_size;
        connection.max_frame_size = self.max_message_size;
        // Room for the echo of one largest message while the previous one is written.
        connection.max_outbound_bytes = connection
            .max_outbound_bytes
            .max(self.max_message_size.saturating_mul(2));
        connection.ping_interval = Some(self.ping_interval).filter(|d| !d.is_zero());
        connection.pong_timeout = self.idle_timeout;
        options.handshake_timeout = self.handshake_timeout;
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            let tls =
                sockwright_driver::tls::server_config(cert, key).map_err(|e| e.to_string())?;
            options.tls = Some(tls);
        }
        Ok(options)
    }
}

/// Parses the command line and runs the server it names until SIGINT or SIGTERM.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Echo(args) => serve(Arc::new(echo::Echo), "echo", echo::WS_PATH, &args),
        Command::Hub(args) => match hub::HubServer::new(args.hub_config()) {
            Ok(app) => serve(Arc::new(app), "hub", hub::WS_PATH, &args.serve),
            Err(e) => {
                eprintln!("sockwright: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Relay(args) => serve_relay(&args),
    }
}

/// Runs `app` as configured by `args` until SIGINT or SIGTERM, then shuts down gracefully.
/// `ws_path` is only for the startup log line.
pub fn serve(app: Arc<dyn App>, name: &str, ws_path: &str, args: &ServeArgs) -> ExitCode {
    serve_with(name, ws_path, args, |options, addr| {
        Server::start(app, args.runtime, addr, options)
    })
}

/// Runs the relay as configured by `args` until SIGINT or SIGTERM, then shuts down
/// gracefully.
pub fn serve_relay(args: &RelayArgs) -> ExitCode {
    let relay = match args.relay_options() {
        Ok(relay) => relay,
        Err(why) => {
            eprintln!("sockwright: {why}");
            return ExitCode::FAILURE;
        }
    };
    let first = args.routes.first().map_or("/", |(path, _)| path.as_str());
    serve_with("relay", first, &args.serve, |options, addr| {
        Server::start_relay(relay, args.serve.runtime, addr, options)
    })
}

/// Runs the server `start` starts as configured by `args` until SIGINT or SIGTERM, then
/// shuts down gracefully. `ws_path` is only for the startup log line.
fn serve_with(
    name: &str,
    ws_path: &str,
    args: &ServeArgs,
    start: impl FnOnce(ServerOptions, SocketAddr) -> io::Result<Server>,
) -> ExitCode {
    tracing_subscriber::fmt()
        .with_max_level(LevelFilter::from(args.log))
        .with_writer(io::stderr)
        .with_ansi(false)
        .with_target(false)
        .init();
    match run(name, ws_path, args, start) {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            error!("{why}");
            eprintln!("sockwright: {why}");
            ExitCode::FAILURE
        }
    }
}

fn run(
    name: &str,
    ws_path: &str,
    args: &ServeArgs,
    start: impl FnOnce(ServerOptions, SocketAddr) -> io::Result<Server>,
) -> Result<(), String> {
    let options = args.server_options()?;
    match open_files::raise_to_hard_limit() {
        Ok(open) if open.was != open.soft => info!(
            "open files limit raised from {} to {}",
            limit_text(open.was),
            limit_text(open.soft)
        ),
        Ok(_) => {}
        Err((open, e)) => warn!(
            "open files limit stays at {} (hard limit {}): {e}",
            limit_text(open.soft),
            limit_text(open.hard)
        ),
    }
    let secure = options.tls.is_some();
    let addr = resolve(&args.listen)?;
    // Registered before the server starts: a signal right after `listening on` is graceful.
    let mut signals = Signals::new([SIGINT, SIGTERM])
        .map_err(|e| format!("cannot handle SIGINT/SIGTERM: {e}"))?;
    let server = start(options, addr).map_err(|e| format!("cannot serve on {addr}: {e}"))?;
    let addr = server.local_addr();
    let mut stdout = io::stdout().lock();
    let _ = writeln!(stdout, "listening on {addr}").and_then(|()| stdout.flush());
    drop(stdout);
    let (ws, http) = if secure {
        ("wss", "https")
    } else {
        ("ws", "http")
    };
    info!(
        "{name} server on {ws}://{addr}{ws_path} (runtime {}); test page at {http}://{addr}/",
        args.runtime.name()
    );
    let signal = signals.forever().next().unwrap_or(SIGTERM);
    info!(
        "{} received",
        if signal == SIGINT {
            "SIGINT"
        } else {
            "SIGTERM"
        }
    );
    // A second signal means now.
    let _ = thread::Builder::new()
        .name("sockwright-signals".into())
        .spawn(move || {
            if signals.forever().next().is_some() {
                warn!("second signal: exiting without waiting");
                std::process::exit(130);
            }
        });
    server.shutdown(args.shutdown_timeout);
    info!("stopped");
    Ok(())
}

fn limit_text(limit: Option<u64>) -> String {
    limit.map_or_else(|| "unlimited".into(), |n| n.to_string())
}

fn resolve(listen: &str) -> Result<SocketAddr, String> {
    listen
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve --listen {listen:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("--listen {listen:?} has no address"))
}

/// Parses a size: bytes, or a number with `KiB`, `MiB`, `GiB` (`K`, `M`, `G`), e.g. `64KiB`.
pub fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let number: usize = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a size such as 65536, 64KiB or 16MiB"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kib" => 10,
        "m" | "mib" => 20,
        "g" | "gib" => 30,
        other => return Err(format!("unknown size unit {other:?}; use KiB, MiB or GiB")),
    };
    let size = number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("{text:?} is too large"))?;
    if size == 0 {
        return Err("the size must be at least 1 byte".into());
    }
    Ok(size)
}

/// Parses a duration: a number with `ms`, `s`, `m` or `h` (a bare number is seconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a duration such as 30s, 500ms or 2m"))?;
    let duration = match unit.trim() {
        "ms" => Some(Duration::from_millis(number)),
        "" | "s" => Some(Duration::from_secs(number)),
        "m" => number.checked_mul(60).map(Duration::from_secs),
        "h" => number.checked_mul(3600).map(Duration::from_secs),
        other => {
            return Err(format!(
                "unknown duration unit {other:?}; use ms, s, m or h"
            ))
        }
    };
    duration.ok_or_else(|| format!("{text:?} is too long"))
}

/// Parses a duration that must not be zero (a zero timeout would drop every client).
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    let duration = parse_duration(text)?;
    if duration.is_zero() {
        return Err("the timeout must be longer than 0".into());
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("65536"), Ok(65536));
        assert_eq!(parse_size("64KiB"), Ok(64 << 10));
        assert_eq!(parse_size("16MiB"), Ok(16 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert!(parse_size("0").is_err());
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("99999999999999999999G").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("1.5s").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn options_from_arguments() {
        let cli = Cli::try_parse_from([
            "sockwright",
            "echo",
            "--origin",
            "https://a.example",
            "--origin",
            "https://b.example",
            "--max-message-size",
            "32MiB",
            "--ping-interval",
            "0",
            "--idle-timeout",
            "7s",
            "--handshake-timeout",
            "1500ms",
        ])
        .unwrap();
        let Command::Echo(args) = cli.command else {
            panic!("echo");
        };
        // tokio when it is built in, as it is by default.
        assert_eq!(args.runtime, RuntimeKind::DEFAULT);
        assert_eq!(
            RuntimeKind::DEFAULT == RuntimeKind::Tokio,
            cfg!(feature = "rt-tokio")
        );
        assert!(args.runtime.is_built());
        assert_eq!(args.listen, "127.0.0.1:9001");
        let options = args.server_options().unwrap();
        assert_eq!(
            options.handshake.origin,
            OriginPolicy::AllowList(vec!["https://a.example".into(), "https://b.example".into()])
        );
        assert_eq!(options.connection.max_message_size, 32 << 20);
        assert_eq!(options.connection.max_frame_size, 32 << 20);
        assert_eq!(options.connection.max_outbound_bytes, 64 << 20);
        assert_eq!(options.connection.ping_interval, None);
        assert_eq!(options.connection.pong_timeout, Duration::from_secs(7));
        assert_eq!(options.handshake_timeout, Duration::from_millis(1500));
        assert!(options.tls.is_none());
    }

    #[test]
    fn hub_options() {
        let cli = Cli::try_parse_from(["sockwright", "hub", "--runtime", "mio"]).unwrap();
        let Command::Hub(args) = cli.command else {
            panic!("hub");
        };
        assert_eq!(args.serve.runtime, RuntimeKind::Mio);
        assert_eq!(args.hub_config(), HubConfig::default());
        let cli = Cli::try_parse_from([
            "sockwright",
            "hub",
            "--slow-consumer",
            "drop",
            "--max-queued",
            "64KiB",
        ])
        .unwrap();
        let Command::Hub(args) = cli.command else {
            panic!("hub");
        };
        let config = args.hub_config();
        assert_eq!(config.slow_consumer, SlowConsumerPolicy::DropMessage);
        assert_eq!(config.max_queued_bytes, 64 << 10);
        assert!(Cli::try_parse_from(["sockwright", "hub", "--slow-consumer", "wait"]).is_err());
    }

    #[test]
    fn relay_options_from_arguments() {
        let parse = |args: &[&str]| {
            let cli = Cli::try_parse_from(["sockwright", "relay"].iter().chain(args))?;
            let Command::Relay(args) = cli.command else {
                panic!("not relay");
            };
            Ok::<_, clap::Error>(args)
        };
        let args = parse(&[
            "--route",
            "/chat=ws://127.0.0.1:9001/ws",
            "--route",
            "/b=ws://10.0.0.2/b",
            "--forward-header",
            "Authorization",
            "--forward-header",
            "name",
            "--upstream-timeout",
            "3s",
            "--runtime",
            "mio",
        ])
        .unwrap();
        assert_eq!(args.serve.runtime, RuntimeKind::Mio);
        let relay = args.relay_options().unwrap();
        assert_eq!(relay.routes.len(), 2);
        assert_eq!(relay.routes[1].1.host(), "10.0.0.2");
        assert_eq!(
            relay.config.forward_headers,
            ["Name", "Topic", "Authorization"]
        );
        assert_eq!(relay.config.upstream_timeout, Duration::from_secs(3));
        assert!(relay.upstream_tls.is_none());

        assert!(parse(&[]).is_err(), "a route is required");
        assert!(parse(&["--route", "/chat"]).is_err());
        let twice = parse(&["--route", "/a=ws://x/", "--route", "/a=ws://y/"]).unwrap();
        assert!(twice.relay_options().unwrap_err().contains("twice"));
        let zero = parse(&["--route", "/a=ws://x/", "--upstream-timeout", "0"]).unwrap();
        assert!(zero.relay_options().is_err());
        let hop = parse(&["--route", "/a=ws://x/", "--forward-header", "Upgrade"]).unwrap();
        assert!(hop.relay_options().unwrap_err().contains("hop-by-hop"));
        let ca = parse(&["--route", "/a=wss://x/", "--upstream-ca", "/no/such.pem"]).unwrap();
        assert!(ca.relay_options().unwrap_err().contains("/no/such.pem"));
    }

    #[test]
    fn the_handshake_timeout_defaults_to_the_library_s_and_is_never_zero() {
        let cli = Cli::try_parse_from(["sockwright", "echo"]).unwrap();
        let Command::Echo(args) = cli.command else {
            panic!("echo");
        };
        let options = args.server_options().unwrap();
        assert_eq!(
            options.handshake_timeout,
            sockwright_driver::DEFAULT_HANDSHAKE_TIMEOUT
        );
        let zero = Cli::try_parse_from(["sockwright", "echo", "--handshake-timeout", "0"]);
        assert!(zero.is_err());
    }

    #[test]
    fn tls_needs_both_files() {
        let only_cert = Cli::try_parse_from(["sockwright", "echo", "--tls-cert", "c.pem"]);
        assert!(only_cert.is_err());
    }
}
