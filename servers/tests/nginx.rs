//! The servers behind a real nginx, with the two configurations people copy (README, "Behind
//! nginx"): `proxy_set_header Connection $connection_upgrade` with the usual `map`, and
//! `proxy_set_header Connection "upgrade"`. One nginx per configuration proxies to every
//! backend (each runtime's echo server, on its own port) under a location of its own, over
//! plain HTTP and with nginx terminating TLS (a certificate made by the test). A capturing
//! upstream records what nginx actually sends.
//!
//! Needs `nginx` (Debian package `nginx`): without it the tests print a notice and pass,
//! unless `SOCKWRIGHT_REQUIRE_PEERS=1`, which makes them fail.

mod common;

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use common::certs::SelfSigned;
use common::checks::{assert_echoes, close_and_get_code_back};
use common::peers::{self, Killed, TempDir};
use common::{http, tcp, ws_over, Sockwright, Tcp, STEP};
use tungstenite::{Error as WsError, Message, WebSocket};

/// The two ways of setting the upgrade headers that the servers must work behind.
#[derive(Clone, Copy, Debug)]
enum Seed {
    /// `map $http_upgrade $connection_upgrade { default upgrade; '' close; }` and
    /// `proxy_set_header Connection $connection_upgrade`.
    MapConnectionUpgrade,
    /// `proxy_set_header Connection "upgrade"` on every request.
    ConnectionUpgrade,
}

impl Seed {
    /// What goes in the `http` block before the server.
    fn http_prelude(self) -> &'static str {
        match self {
            Seed::MapConnectionUpgrade => {
                "map $http_upgrade $connection_upgrade {\n        default upgrade;\n        '' close;\n    }"
            }
            Seed::ConnectionUpgrade => "",
        }
    }

    /// The `Connection` header nginx is told to send.
    fn connection(self) -> &'static str {
        match self {
            Seed::MapConnectionUpgrade => "$connection_upgrade",
            Seed::ConnectionUpgrade => "\"upgrade\"",
        }
    }
}

/// A server behind nginx: where nginx puts it, how it is started, what is checked through
/// the proxy. Another server (hub, relay) is one more entry in [`backends`].
struct Backend {
    location: String,
    command: Vec<String>,
    /// More directives for its `location` block.
    directives: &'static str,
    check: fn(&Proxied<'_>),
}

/// nginx's idle timeout for the keepalive backends: short, so that the test need not wait
/// the default minute.
const SHORT_READ_TIMEOUT: &str = "proxy_read_timeout 1s;";

/// Every backend: the echo server on each runtime; and twice more on the default runtime
/// behind a short `proxy_read_timeout`, with keepalive pings more frequent than it, and
/// without them.
fn backends() -> Vec<Backend> {
    let words = |line: &str| line.split(' ').map(String::from).collect::<Vec<_>>();
    let mut backends: Vec<Backend> = ["std", "mio", "smol", "tokio"]
        .into_iter()
        .map(|runtime| Backend {
            location: format!("echo-{runtime}"),
            command: words(&format!("echo --runtime {runtime}")),
            directives: "",
            check: echo_through_nginx,
        })
        .collect();
    backends.extend(["mio", "tokio"].into_iter().map(|runtime| Backend {
        location: format!("hub-{runtime}"),
        command: words(&format!("hub --runtime {runtime}")),
        directives: "",
        check: hub_through_nginx,
    }));
    backends.push(Backend {
        location: "keepalive".into(),
        command: words("echo --ping-interval 300ms"),
        directives: SHORT_READ_TIMEOUT,
        check: idle_but_pinged_stays_open,
    });
    backends.push(Backend {
        location: "no-keepalive".into(),
        command: words("echo --ping-interval 0"),
        directives: SHORT_READ_TIMEOUT,
        check: idle_is_closed_by_nginx,
    });
    backends
}

/// The echo server through nginx: echoes (a 1 MiB message too), a close code that comes
/// back, `/ping`, a plain GET to the WebSocket path, and the same over nginx's TLS.
fn echo_through_nginx(proxied: &Proxied<'_>) {
    let mut ws = proxied.ws("/ws");
    assert_echoes(&mut ws, "through nginx", 1 << 20);
    close_and_get_code_back(&mut ws, 4000, "done");

    let pong = proxied.get("/ping");
    assert!(pong.starts_with("HTTP/1.1 200 OK\r\n"), "{pong}");
    assert!(pong.ends_with("\r\n\r\npong\n"), "{pong}");

    let plain = proxied.get("/ws");
    assert!(plain.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{plain}");
    assert!(plain.contains("Upgrade header is missing"), "{plain}");

    let mut wss = proxied.wss("/ws");
    assert_echoes(&mut wss, "through nginx over TLS", 100_000);
    close_and_get_code_back(&mut wss, 1000, "");
    proxied.server.wait_log("closed 4000");
}

/// The hub through nginx: a user's message reaches another user in the default room (over
/// nginx's TLS too), a backend's `POST /publish` reaches both, and `/im` without a user id
/// gets the hub's 400.
fn hub_through_nginx(proxied: &Proxied<'_>) {
    let mut ann = proxied.ws("/im?user_id=ann");
    let mut bob = proxied.wss("/im?user_id=bob");
    // Both are registered once each has had its own first message back.
    read_until(ann.send_text("ann here"), "ann here");
    read_until(bob.send_text("bob here"), "bob here");
    ann.send(Message::text("hello bob")).expect("send");
    assert_eq!(bob.read().expect("read"), Message::text("hello bob"));

    let body = "from the backend";
    let request = format!(
        "POST /{}/publish HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\
         Content-Length: {}\r\n\r\n{body}",
        proxied.location,
        proxied.nginx.addr,
        body.len()
    );
    let reply = http(tcp(proxied.nginx.addr), &request);
    assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
    assert!(reply.contains("\"recipients\":2"), "{reply}");
    read_until(&mut ann, body);
    read_until(&mut bob, body);

    let refused = proxied.get("/im");
    assert!(
        refused.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{refused}"
    );
    assert!(refused.contains("user_id is required"), "{refused}");
    close_and_get_code_back(&mut ann, 1000, "");
    close_and_get_code_back(&mut bob, 1000, "");
}

/// Reads text messages until `wanted`; the only others allowed are what the hub test sends
/// before it (the users' first messages, "hello bob").
fn read_until<S: Read + Write>(ws: &mut WebSocket<S>, wanted: &str) {
    loop {
        match ws.read().expect("read") {
            Message::Text(text) if text.as_str() == wanted => return,
            Message::Text(text) if text.ends_with(" here") || text.as_str() == "hello bob" => {}
            other => panic!("waiting for {wanted:?}, got {other:?}"),
        }
    }
}

/// Sends a text message and gives the client back, for chaining.
trait SendText: Sized {
    fn send_text(&mut self, text: &str) -> &mut Self;
}

impl<S: Read + Write> SendText for WebSocket<S> {
    fn send_text(&mut self, text: &str) -> &mut Self {
        self.send(Message::text(text)).expect("send");
        self
    }
}

/// A connection with no messages for longer than nginx's `proxy_read_timeout` stays open
/// when the server's keepalive pings (and the client's pongs) cross nginx meanwhile.
fn idle_but_pinged_stays_open(proxied: &Proxied<'_>) {
    let mut ws = proxied.ws("/ws");
    let idle = Instant::now();
    let mut pings = 0;
    while idle.elapsed() < Duration::from_millis(2500) {
        match ws.read() {
            Ok(Message::Ping(_)) => {
                pings += 1;
                ws.flush().expect("send the pong"); // tungstenite queued it
            }
            other => panic!("expected keepalive pings, got {other:?}"),
        }
    }
    assert!(pings >= 2, "{pings} ping(s)");
    assert_echoes(&mut ws, "still open", 10);
    close_and_get_code_back(&mut ws, 1000, "");
}

/// Without keepalive, nginx ends a connection silent for `proxy_read_timeout`.
fn idle_is_closed_by_nginx(proxied: &Proxied<'_>) {
    let mut ws = proxied.ws("/ws");
    assert_echoes(&mut ws, "before the silence", 10);
    match ws.read() {
        Err(WsError::Io(e))
            if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut =>
        {
            panic!("nginx kept a silent connection open for {STEP:?}")
        }
        Err(_) => {}
        Ok(message) => panic!("expected nginx to end the connection, got {message:?}"),
    }
}

/// One backend as seen through nginx.
struct Proxied<'a> {
    server: &'a Sockwright,
    nginx: &'a Nginx,
    location: &'a str,
    cert: &'a SelfSigned,
}

impl Proxied<'_> {
    /// A WebSocket client for `path` of the backend, through nginx's plain port.
    fn ws(&self, path: &str) -> WebSocket<Tcp> {
        let url = format!("ws://{}/{}{path}", self.nginx.addr, self.location);
        ws_over(tcp(self.nginx.addr), &url, None)
            .unwrap_or_else(|e| panic!("{url}: {e}\n{}", self.nginx.log()))
    }

    /// A WebSocket client for `path` of the backend, through nginx's TLS port.
    fn wss(&self, path: &str) -> WebSocket<impl Read + Write> {
        let url = format!(
            "wss://localhost:{}/{}{path}",
            self.nginx.tls_addr.port(),
            self.location
        );
        ws_over(self.cert.client(self.nginx.tls_addr), &url, None)
            .unwrap_or_else(|e| panic!("{url}: {e}\n{}", self.nginx.log()))
    }

    /// The whole response to a plain `GET path` of the backend through nginx.
    fn get(&self, path: &str) -> String {
        get(self.nginx.addr, &format!("/{}{path}", self.location))
    }
}

/// `GET path` asking nginx to close the connection after the response (so that reading to
/// the end does not wait for its keepalive timeout).
fn get(addr: SocketAddr, path: &str) -> String {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    http(tcp(addr), &request)
}

/// Starts every backend and one nginx in front of them configured with `seed`, checks
/// what nginx sends upstream, then checks each backend through it.
fn behind_nginx(seed: Seed) {
    let Some(nginx) = peers::find("nginx", "nginx", "servers behind nginx") else {
        return;
    };
    let backends = backends();
    let servers: Vec<Sockwright> = backends
        .iter()
        .map(|backend| {
            let command: Vec<&str> = backend.command.iter().map(String::as_str).collect();
            Sockwright::start(&command)
        })
        .collect();
    let capture = Capture::start();
    let mut locations: Vec<Location> = backends
        .iter()
        .zip(&servers)
        .map(|(backend, server)| Location {
            name: &backend.location,
            upstream: server.addr,
            directives: backend.directives,
        })
        .collect();
    locations.push(Location {
        name: "capture",
        upstream: capture.addr,
        directives: "",
    });
    let cert = SelfSigned::new();
    let nginx = Nginx::start(&nginx, seed, &locations, &cert);

    what_nginx_sends_upstream(seed, &nginx, &capture);
    for (backend, server) in backends.iter().zip(&servers) {
        let proxied = Proxied {
            server,
            nginx: &nginx,
            location: &backend.location,
            cert: &cert,
        };
        (backend.check)(&proxied);
    }
}

/// The upgrade headers nginx forwards with `seed`, for an upgrade and for a plain GET.
/// nginx removes the quotes of `"upgrade"` when it reads its configuration, so both seeds
/// send `Connection: upgrade` with an upgrade; they differ for plain requests.
fn what_nginx_sends_upstream(seed: Seed, nginx: &Nginx, capture: &Capture) {
    let url = format!("ws://{}/capture/ws", nginx.addr);
    let refused = ws_over(tcp(nginx.addr), &url, None).map(drop);
    assert!(refused.is_err(), "the capture answers 400");
    let upgrade = capture.next_head();
    assert!(upgrade.contains("\r\nUpgrade: websocket\r\n"), "{upgrade}");
    assert!(upgrade.contains("\r\nConnection: upgrade\r\n"), "{upgrade}");

    get(nginx.addr, "/capture/ws");
    let plain = capture.next_head();
    assert!(!plain.contains("\r\nUpgrade:"), "{plain}");
    let connection = match seed {
        Seed::MapConnectionUpgrade => "\r\nConnection: close\r\n",
        Seed::ConnectionUpgrade => "\r\nConnection: upgrade\r\n",
    };
    assert!(plain.contains(connection), "{seed:?}: {plain}");
}

/// A `location /NAME/` block proxying to `http://UPSTREAM/`.
struct Location<'a> {
    name: &'a str,
    upstream: SocketAddr,
    directives: &'a str,
}

/// An nginx process with its configuration and logs in a temporary directory, listening
/// on a plain and a TLS port of 127.0.0.1; killed (by its id) when dropped.
struct Nginx {
    addr: SocketAddr,
    tls_addr: SocketAddr,
    process: Killed,
    dir: TempDir,
}

impl Nginx {
    /// Starts `binary` proxying `/LOCATION/...` to `http://ADDR/...` for each location,
    /// with the upgrade headers of `seed`, and waits until it accepts. The ports are picked
    /// free just before; if another process takes one meanwhile, it tries again.
    fn start(binary: &Path, seed: Seed, locations: &[Location<'_>], cert: &SelfSigned) -> Nginx {
        let mut attempt = 1;
        loop {
            let dir = TempDir::new("nginx");
            let addr = SocketAddr::from(([127, 0, 0, 1], peers::free_port()));
            let tls_addr = SocketAddr::from(([127, 0, 0, 1], peers::free_port()));
            let config = config(&dir, seed, (addr, tls_addr), locations, cert);
            fs::write(dir.join("nginx.conf"), config).expect("write nginx.conf");
            let stderr = fs::File::create(dir.join("stderr.log")).expect("stderr.log");
            let child = Command::new(binary)
                .arg("-p")
                .arg(dir.path())
                .args(["-c", &dir.join("nginx.conf")])
                .args(["-e", &dir.join("error.log")])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr)
                .spawn()
                .expect("start nginx");
            let mut nginx = Nginx {
                addr,
                tls_addr,
                process: Killed(child),
                dir,
            };
            match nginx.wait_accepting() {
                Ok(()) => return nginx,
                // Another process took a port: `nginx` is dropped (killed), try again.
                Err(log) if log.contains("Address already in use") && attempt < 5 => {
                    attempt += 1;
                }
                Err(log) => panic!("nginx did not start:\n{log}"),
            }
        }
    }

    /// Waits until nginx has bound its ports, which it has once it writes its pid file (a
    /// connection that succeeds could be to another process that took a port meanwhile);
    /// the logs if nginx exits first.
    fn wait_accepting(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + STEP;
        let pid = self.process.0.id().to_string();
        loop {
            if self.process.0.try_wait().ok().flatten().is_some() {
                return Err(self.log());
            }
            let written = fs::read_to_string(self.dir.join("nginx.pid")).unwrap_or_default();
            if written.trim() == pid {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "nginx did not start within {STEP:?}\n{}",
                    self.log()
                ));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// nginx's standard error and error log.
    fn log(&self) -> String {
        let read = |name: &str| fs::read_to_string(self.dir.join(name)).unwrap_or_default();
        format!("{}{}", read("stderr.log"), read("error.log"))
    }
}

/// nginx's configuration: everything it writes stays in `dir`; one server on the plain and
/// the TLS address, one location per backend with the upgrade headers of `seed`.
fn config(
    dir: &TempDir,
    seed: Seed,
    (addr, tls_addr): (SocketAddr, SocketAddr),
    locations: &[Location<'_>],
    cert: &SelfSigned,
) -> String {
    let connection = seed.connection();
    let locations: String = locations
        .iter()
        .map(|location| {
            let Location {
                name,
                upstream,
                directives,
            } = location;
            format!(
                "
        location /{name}/ {{
            proxy_pass http://{upstream}/;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection {connection};
            proxy_set_header Host $host;
            {directives}
        }}
"
            )
        })
        .collect();
    format!(
        "# Written by servers/tests/nginx.rs ({seed:?}).
daemon off;
# One process, which keeps the user that started it (workers of a root master would switch
# to another user, who could not read this directory) and dies whole when it is killed.
master_process off;
pid {pid};
error_log {error_log} notice;
events {{
    worker_connections 64;
}}
http {{
    access_log {access_log};
    client_body_temp_path {temp}/client_body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    {prelude}
    server {{
        listen {addr};
        listen {tls_addr} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
{locations}    }}
}}
",
        pid = dir.join("nginx.pid"),
        error_log = dir.join("error.log"),
        access_log = dir.join("access.log"),
        temp = dir.path().display(),
        prelude = seed.http_prelude(),
        cert = cert.cert,
        key = cert.key,
    )
}

/// An upstream that records the request heads nginx sends it and answers each with 400.
struct Capture {
    addr: SocketAddr,
    heads: Receiver<String>,
}

impl Capture {
    fn start() -> Capture {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the capture");
        let addr = listener.local_addr().expect("the capture's address");
        let (tx, heads) = mpsc::channel();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(STEP));
                let mut head = Vec::new();
                let mut byte = [0; 1];
                while !head.ends_with(b"\r\n\r\n") && stream.read_exact(&mut byte).is_ok() {
                    head.push(byte[0]);
                }
                let answer =
                    "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
                let _ = stream.write_all(answer.as_bytes());
                if tx
                    .send(String::from_utf8_lossy(&head).into_owned())
                    .is_err()
                {
                    return;
                }
            }
        });
        Capture { addr, heads }
    }

    /// The next request head nginx sent.
    fn next_head(&self) -> String {
        self.heads
            .recv_timeout(STEP)
            .expect("nginx forwards the request to the capture")
    }
}

#[test]
fn behind_nginx_with_map_connection_upgrade() {
    behind_nginx(Seed::MapConnectionUpgrade);
}

#[test]
fn behind_nginx_with_connection_upgrade() {
    behind_nginx(Seed::ConnectionUpgrade);
}
