//! Helpers for the binary's tests: start `sockwright` as a child process and read its
//! `listening on` line, talk to it with tungstenite (plain or over rustls) and with raw
//! HTTP, and send it SIGTERM. `peers` finds and runs outside programs (nginx, chromium);
//! `certs` makes a self-signed certificate at test time; `checks` holds assertions shared
//! by several test files.

#![allow(dead_code)]

pub mod certs;
pub mod checks;
pub mod peers;
pub mod raw;
pub mod watch;

#[path = "../../../tests/src/restarting.rs"]
pub mod restarting;

pub use restarting::Restarting;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use tungstenite::client::IntoClientRequest;
use tungstenite::http::HeaderValue;
use tungstenite::WebSocket;

/// The longest any single step of a test waits.
pub const STEP: Duration = Duration::from_secs(10);

/// A running `sockwright` process, killed (by its id) when dropped.
pub struct Sockwright {
    child: Child,
    pub addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
    /// Signalled once standard error has been read to its end.
    stderr_done: mpsc::Receiver<()>,
}

impl Sockwright {
    /// Starts `sockwright echo --listen 127.0.0.1:0 ARGS...` and waits for its
    /// `listening on ADDR` line.
    pub fn echo(args: &[&str]) -> Sockwright {
        let command: Vec<&str> = ["echo"].iter().chain(args).copied().collect();
        Sockwright::start(&command)
    }

    /// Starts `sockwright hub --listen 127.0.0.1:0 ARGS...` and waits for its
    /// `listening on ADDR` line.
    pub fn hub(args: &[&str]) -> Sockwright {
        let command: Vec<&str> = ["hub"].iter().chain(args).copied().collect();
        Sockwright::start(&command)
    }

    /// Starts `sockwright COMMAND... --listen 127.0.0.1:0` (the subcommand first, e.g.
    /// `["echo", "--runtime", "mio"]`) and waits for its `listening on ADDR` line.
    pub fn start(command: &[&str]) -> Sockwright {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sockwright"))
            .args(command)
            .args(["--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start sockwright");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let log = stderr.clone();
        let pipe = child.stderr.take().expect("stderr");
        let (done, stderr_done) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                let mut log = log.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
            let _ = done.send(());
        });
        let mut server = Sockwright {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            stderr,
            stderr_done,
        };
        let line = rx
            .recv_timeout(STEP)
            .unwrap_or_else(|e| panic!("no `listening on` line ({e}); stderr:\n{}", server.log()));
        let addr = line
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("first line {line:?}"));
        server.addr = addr.parse().expect("an address");
        server
    }

    /// The process's id (for /proc).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the server logged so far.
    pub fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Sends SIGTERM to the process (by its id).
    pub fn sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// Waits for the process to exit, at most `timeout`; then [`Sockwright::log`] holds
    /// everything it wrote.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                // The last lines may still be on their way through the pipe.
                let _ = self.stderr_done.recv_timeout(STEP);
                return Some(status);
            }
            thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Whether the process has exited.
    pub fn has_exited(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_some()
    }

    /// Waits until the log contains `text`.
    pub fn wait_log(&self, text: &str) {
        let deadline = Instant::now() + STEP;
        while !self.log().contains(text) {
            assert!(
                Instant::now() < deadline,
                "no {text:?} in the log:\n{}",
                self.log()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Sockwright {
    fn drop(&mut self) {
        if thread::panicking() {
            peers::notice(&format!("the server's log:\n{}", self.log()));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A test's TCP connection: its reads and writes give up after [`STEP`], and are tried again
/// after `EINTR` (see [`restarting`]).
pub type Tcp = Restarting<TcpStream>;

/// A TCP connection to `addr` whose reads and writes give up after [`STEP`].
pub fn tcp(addr: SocketAddr) -> Tcp {
    let stream = TcpStream::connect_timeout(&addr, STEP).expect("connect");
    stream.set_read_timeout(Some(STEP)).unwrap();
    stream.set_write_timeout(Some(STEP)).unwrap();
    Restarting(stream)
}

/// Waits (at most [`STEP`]) until connecting to `addr` is refused.
pub fn wait_refused(addr: SocketAddr) {
    let deadline = Instant::now() + STEP;
    loop {
        match TcpStream::connect_timeout(&addr, STEP) {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return,
            other => assert!(
                Instant::now() < deadline,
                "{addr} still accepts connections: {other:?}"
            ),
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// A WebSocket client for `url` over `stream`, with an `Origin` header if given.
pub fn ws_over<S: Read + Write>(
    stream: S,
    url: &str,
    origin: Option<&str>,
) -> Result<WebSocket<S>, tungstenite::Error> {
    let mut request = url.into_client_request()?;
    if let Some(origin) = origin {
        let value = HeaderValue::from_str(origin).unwrap();
        request.headers_mut().insert("Origin", value);
    }
    tungstenite::client(request, stream)
        .map(|(ws, _)| ws)
        .map_err(|e| match e {
            tungstenite::HandshakeError::Failure(e) => e,
            tungstenite::HandshakeError::Interrupted(_) => panic!("blocking handshake"),
        })
}

/// A plain WebSocket client for `path` on `addr`.
pub fn ws(
    addr: SocketAddr,
    path: &str,
    origin: Option<&str>,
) -> Result<WebSocket<Tcp>, tungstenite::Error> {
    ws_over(tcp(addr), &format!("ws://{addr}{path}"), origin)
}

/// Writes `request` as is and reads the whole response (the server closes after it).
pub fn http<S: Read + Write>(mut stream: S, request: &str) -> String {
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    match stream.read_to_end(&mut response) {
        Ok(_) => {}
        // rustls reports a peer that closed without close_notify; what came is complete.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {}
        Err(e) => panic!("reading the response: {e}"),
    }
    String::from_utf8(response).expect("a UTF-8 response")
}

/// `POST path` on `addr` over plain TCP with `body` (and a `Content-Type` if given); the
/// whole response.
pub fn post(addr: SocketAddr, path: &str, content_type: Option<&str>, body: &[u8]) -> String {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(content_type) = content_type {
        request.push_str(&format!("Content-Type: {content_type}\r\n"));
    }
    request.push_str("\r\n");
    let mut stream = tcp(addr);
    stream.write_all(request.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .expect("read the response");
    String::from_utf8(response).expect("a UTF-8 response")
}

/// `GET path` on `addr` over plain TCP.
pub fn get(addr: SocketAddr, path: &str) -> String {
    http(
        tcp(addr),
        &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: */*\r\n\r\n"),
    )
}

fn cert(name: &str) -> String {
    format!("{}/../tests/certs/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// The `--tls-cert` and `--tls-key` arguments for the test certificate (localhost,
/// 127.0.0.1).
pub fn tls_args() -> Vec<String> {
    vec![
        "--tls-cert".into(),
        cert("server.pem"),
        "--tls-key".into(),
        cert("server.key"),
    ]
}

/// A TLS client stream to `addr` for `localhost`, trusting the test CA.
pub fn tls(addr: SocketAddr) -> rustls::StreamOwned<rustls::ClientConnection, Tcp> {
    let ca = std::fs::read(cert("ca.pem")).unwrap();
    let config = sockwright_driver::tls::client_config_with_roots(&ca).unwrap();
    let name = "localhost".try_into().unwrap();
    let conn = rustls::ClientConnection::new(config, name).unwrap();
    rustls::StreamOwned::new(conn, tcp(addr))
}
