//! The `sockwright echo` binary under hostile input, on every runtime at once (a server per
//! runtime, each attacked from its own thread): oversized request heads, frames that declare
//! impossible lengths, a burst of pings from a client that does not read, invalid UTF-8
//! inside a fragmented message, and clients that vanish half way through. While each attack
//! runs, a [`Watch`] checks that fresh clients are still served, that connections open
//! meanwhile lose no message, and that the server's resident memory stays under the bound
//! the test states (the same numbers are in SECURITY.md). The slowloris attack, which needs
//! thousands of descriptors, has its own test binary (`robustness_slowloris.rs`).
//!
//! These read /proc, so they run on Linux.

#![cfg(target_os = "linux")]

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::thread;
use std::time::Duration;

use common::peers::notice;
use common::raw::{self, BINARY, CLOSE, CONTINUATION, PING, PONG, TEXT};
use common::watch::{on_every_runtime, Process, Watch, MIB};
use common::{tcp, Sockwright, Tcp, STEP};

/// Starts the echo server on `runtime` with `args`.
fn echo(runtime: &str, args: &[&str]) -> Sockwright {
    let mut command = vec!["echo", "--runtime", runtime];
    command.extend_from_slice(args);
    Sockwright::start(&command)
}

// ---------------------------------------------------------------------------------------
// Oversized request heads

/// How many attackers of each kind run at once against one server.
const HEAD_ATTACKERS: usize = 20;

/// The memory bound while 40 clients send oversized heads: each costs the server at most
/// the head limit (16 KiB) and a read buffer; 24 MiB is room for that, for the std runtime's
/// 40 threads, and for the allocator's noise.
const HEAD_ALLOWANCE: u64 = 24 * MIB;

/// A 1 MiB request head and a head of 10,000 header lines: both get `431` with a reason once
/// the server has read past its limit (16 KiB, 64 headers), while the client is still
/// sending; the rest finds the connection closed.
#[test]
fn oversized_request_heads_get_431_before_they_end() {
    on_every_runtime(|runtime| {
        let server = echo(runtime, &[]);
        let addr = server.addr;
        let watch = Watch::start(
            &server,
            &format!("{runtime}: oversized heads"),
            HEAD_ALLOWANCE,
        );
        thread::scope(|scope| {
            for _ in 0..HEAD_ATTACKERS {
                scope.spawn(|| megabyte_head(addr));
                scope.spawn(|| ten_thousand_headers(addr));
            }
        });
        watch.finish();
        Process::of(&server).wait_tcp_connections(0, STEP);
    });
}

/// A head of 1 MiB in one header value: the `431` comes after 64 KiB (four times the
/// limit), long before the client is done.
fn megabyte_head(addr: SocketAddr) {
    let mut head = b"GET /ws HTTP/1.1\r\nHost: x\r\nX-Padding: ".to_vec();
    head.resize(1 << 20, b'a');
    let answer = send_until_answered(addr, &head, 64 * 1024);
    assert!(
        answer.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        "{answer}"
    );
    assert!(answer.contains("max_head_bytes"), "{answer}");
}

/// 10,000 header lines (about 240 KB): the `431` comes after 200 of them (under 5 KB, well
/// below the byte limit), so it is the header count that was refused.
fn ten_thousand_headers(addr: SocketAddr) {
    let mut head = b"GET /ws HTTP/1.1\r\nHost: x\r\n".to_vec();
    let mut first_200 = 0;
    for i in 0..10_000 {
        head.extend_from_slice(format!("X-Header-{i:05}: value\r\n").as_bytes());
        if i == 199 {
            first_200 = head.len();
        }
    }
    head.extend_from_slice(b"\r\n");
    let answer = send_until_answered(addr, &head, first_200);
    assert!(
        answer.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        "{answer}"
    );
    assert!(answer.contains("max_headers"), "{answer}");
}

/// Sends the first `first` bytes of `request` and reads the whole answer: the server must
/// answer and close although the request is not complete. Then sends the rest, which the
/// server does not read (it may sit in this side's socket buffer, or be refused).
fn send_until_answered(addr: SocketAddr, request: &[u8], first: usize) -> String {
    let mut stream = tcp(addr);
    let (first, rest) = request.split_at(first);
    // Writes may fail once the server has answered and closed; what it sent can still be read.
    let _ = stream.write_all(first);
    let answer = read_until_closed(&mut stream);
    let _ = stream.write_all(rest);
    answer
}

/// Everything the peer sends until it closes (end of stream or a reset).
fn read_until_closed(stream: &mut Tcp) -> String {
    let mut answer = Vec::new();
    let mut buf = [0; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("the server did not close within {STEP:?}; it sent {answer:?}")
            }
            Err(_) => break, // reset
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

// ---------------------------------------------------------------------------------------
// Impossible frame lengths

/// The memory bound while frames declare up to 2^63 bytes: nothing is allocated for a
/// declared length, so the server barely grows.
const LENGTH_ALLOWANCE: u64 = 16 * MIB;

/// Frames declaring 2^63 bytes (a length whose top bit is set, which RFC 6455 §5.2 forbids:
/// 1002), 2^63 - 1 and 16 MiB + 1 bytes (over the 16 MiB frame limit: 1009). Each is closed
/// from its header alone, before a byte of payload is sent.
#[test]
fn frames_declaring_huge_lengths_are_closed_from_the_header() {
    const CASES: [(u64, u16); 3] = [
        (1 << 63, 1002),
        ((1 << 63) - 1, 1009),
        ((16 << 20) + 1, 1009),
    ];
    on_every_runtime(|runtime| {
        let server = echo(runtime, &[]);
        let addr = server.addr;
        let watch = Watch::start(
            &server,
            &format!("{runtime}: huge lengths"),
            LENGTH_ALLOWANCE,
        );
        thread::scope(|scope| {
            for _ in 0..10 {
                for (len, code) in CASES {
                    for opcode in [TEXT, BINARY] {
                        scope.spawn(move || declared_length(addr, opcode, len, code));
                    }
                }
            }
        });
        watch.finish();
        Process::of(&server).wait_tcp_connections(0, STEP);
    });
}

/// Sends a frame header declaring `len` bytes and nothing more; the close must carry
/// `code`, then the server ends the connection.
fn declared_length(addr: SocketAddr, opcode: u8, len: u64, code: u16) {
    let mut stream = raw::upgrade(addr, "/ws");
    stream.write_all(&raw::header(true, opcode, len)).unwrap();
    let (got, reason) = raw::read_close(&mut stream);
    assert_eq!(got, code, "a frame declaring {len} bytes: {reason}");
    // Answer the close; the server then ends the connection.
    let _ = stream.write_all(&raw::frame(true, CLOSE, &raw::close_payload(code, "")));
    read_until_closed(&mut stream);
}

// ---------------------------------------------------------------------------------------
// A burst of pings

/// How many pings the burst has.
const PINGS: u32 = 100_000;

/// The memory bound for a burst of 100,000 pings of 125 bytes (13 MB) from a client that
/// does not read: pongs owed while the outbound queue is full collapse to the latest, so the
/// server holds at most its outbound queue's worth (32 MiB by default) beyond the socket
/// buffers, plus noise.
const PING_ALLOWANCE: u64 = 40 * MIB;

/// 100,000 pings written in a burst by a client that reads nothing meanwhile: the server
/// keeps reading, answers (RFC 6455 §5.5.3 lets it answer only the latest of several), and
/// once the client reads, the last pong carries the last ping's payload and a message sent
/// after the burst is echoed.
#[test]
fn a_burst_of_pings_is_answered_in_bounded_memory() {
    on_every_runtime(|runtime| {
        let server = echo(runtime, &[]);
        let watch = Watch::start(&server, &format!("{runtime}: ping burst"), PING_ALLOWANCE);
        ping_burst(server.addr, runtime);
        watch.finish();
        Process::of(&server).wait_tcp_connections(0, STEP);
    });
}

fn ping_burst(addr: SocketAddr, runtime: &str) {
    let mut stream = raw::upgrade(addr, "/ws");
    let ping = |i: u32| raw::frame(true, PING, &ping_payload(i));
    for batch in (0..PINGS).collect::<Vec<_>>().chunks(1000) {
        let bytes: Vec<u8> = batch.iter().flat_map(|&i| ping(i)).collect();
        stream
            .write_all(&bytes)
            .unwrap_or_else(|e| panic!("the server stopped reading pings at {}: {e}", batch[0]));
    }
    stream
        .write_all(&raw::frame(true, TEXT, b"after the pings"))
        .unwrap();
    let (mut pongs, mut last) = (0u32, None);
    loop {
        match raw::read_frame(&mut stream) {
            (PONG, payload) => {
                pongs += 1;
                last = Some(payload);
            }
            (TEXT, text) => {
                assert_eq!(text, b"after the pings");
                break;
            }
            (opcode, payload) => panic!("opcode {opcode}: {payload:?}"),
        }
    }
    assert!((1..=PINGS).contains(&pongs), "{pongs} pongs");
    notice(&format!("{runtime}: {pongs} pongs answered {PINGS} pings"));
    assert_eq!(
        last,
        Some(ping_payload(PINGS - 1)),
        "the last pong after {pongs}"
    );
    stream
        .write_all(&raw::frame(true, CLOSE, &raw::close_payload(1000, "")))
        .unwrap();
    assert_eq!(raw::read_close(&mut stream).0, 1000);
}

/// Ping `i`'s payload: its number, then padding to the largest a control frame may carry
/// (125 bytes), so that the pongs owed outgrow the socket buffers.
fn ping_payload(i: u32) -> Vec<u8> {
    let mut payload = i.to_be_bytes().to_vec();
    payload.resize(125, b'p');
    payload
}

// ---------------------------------------------------------------------------------------
// Invalid UTF-8 inside a fragmented text message

/// The memory bound while text messages are failed half way: nothing is held for them.
const UTF8_ALLOWANCE: u64 = 16 * MIB;

/// A fragmented text message whose middle fragment is not UTF-8 (a byte that never starts a
/// character; a sequence completed wrongly across two fragments) is closed with 1007 before
/// its final fragment is sent.
#[test]
fn invalid_utf8_mid_message_closes_1007_before_the_message_ends() {
    on_every_runtime(|runtime| {
        let server = echo(runtime, &[]);
        let addr = server.addr;
        let watch = Watch::start(
            &server,
            &format!("{runtime}: invalid UTF-8"),
            UTF8_ALLOWANCE,
        );
        thread::scope(|scope| {
            for _ in 0..10 {
                scope.spawn(|| invalid_fragment(addr, &[b"caf\xc3\xa9 ", b"\xff oops"]));
                // "€" is E2 82 AC: its first two bytes end one fragment (valid so far), and
                // the next fragment goes on with "(" instead.
                scope.spawn(|| invalid_fragment(addr, &[b"price: \xe2\x82", b"(", b" ok"]));
            }
        });
        watch.finish();
        Process::of(&server).wait_tcp_connections(0, STEP);
    });
}

/// Sends `fragments` as a text message that is never finished (every frame without FIN):
/// the close must be 1007.
fn invalid_fragment(addr: SocketAddr, fragments: &[&[u8]]) {
    let mut stream = raw::upgrade(addr, "/ws");
    for (i, fragment) in fragments.iter().enumerate() {
        let opcode = if i == 0 { TEXT } else { CONTINUATION };
        if stream
            .write_all(&raw::frame(false, opcode, fragment))
            .is_err()
        {
            break; // already failed and closed by the server
        }
    }
    let (code, reason) = raw::read_close(&mut stream);
    assert_eq!(code, 1007, "{reason}");
    let _ = stream.write_all(&raw::frame(true, CLOSE, &raw::close_payload(1007, "")));
    read_until_closed(&mut stream);
}

// ---------------------------------------------------------------------------------------
// A client that stops reading

/// The memory bound while a client that reads nothing has its echoes queued: the server
/// stops reading from it once its outbound queue is full, so it holds at most that queue
/// (32 MiB), the message waiting for room and those read ahead for the application (tokio
/// and smol: up to 6 of 1 MiB), and noise: 64 MiB. Measured: about 42 MiB on tokio and smol,
/// 34 MiB on mio, 3 MiB on std (whose sends write straight to the socket).
const DEAF_ALLOWANCE: u64 = 64 * MIB;

/// A client that sends 64 MiB to be echoed and reads nothing, ever, while staying connected:
/// the server stops reading from it (backpressure), its keepalive ping goes unanswered, and
/// it fails the connection (1011) and drops it once its last bytes have waited the close
/// timeout, on every runtime, while other clients are served.
#[test]
fn a_client_that_stops_reading_is_dropped_by_keepalive() {
    on_every_runtime(|runtime| {
        let server = echo(runtime, &["--ping-interval", "1s", "--idle-timeout", "1s"]);
        let addr = server.addr;
        let process = Process::of(&server);
        let watch = Watch::start(&server, &format!("{runtime}: deaf client"), DEAF_ALLOWANCE);
        let mut deaf = raw::upgrade(addr, "/ws");
        deaf.set_write_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut sent = 0;
        for i in 0..64 {
            let mut frame = raw::header(true, BINARY, 1 << 20);
            frame.extend_from_slice(&raw::payload(i, 1 << 20));
            if deaf.write_all(&frame).is_err() {
                break; // the server stopped reading
            }
            sent += 1;
        }
        assert!(
            sent < 64,
            "{runtime}: the server read 64 MiB without its echoes being read"
        );
        // Ping interval + idle timeout + close timeout (5 s), with room: only the talkers
        // stay (and a probe, for a moment).
        let took = process.wait_tcp_connections(common::watch::TALKERS, 3 * STEP);
        notice(&format!(
            "{runtime}: the deaf client was dropped after {took:?}"
        ));
        watch.finish();
        process.wait_tcp_connections(0, STEP);
        drop(deaf);
    });
}

// ---------------------------------------------------------------------------------------
// Clients that vanish

/// How many clients vanish at each point, each way, on one server.
const VANISHERS: usize = 20;

/// The memory bound while clients vanish: what they leave behind is freed, so the server
/// stays near its baseline (1 MiB echoes included).
const VANISH_ALLOWANCE: u64 = 48 * MIB;

/// Clients that vanish in the middle of the handshake, of a frame, of a message, of a large
/// echo and of the close handshake, each way (a reset with SO_LINGER 0, or a plain FIN):
/// the server frees every one of them, so the TCP connections its process holds come back
/// to zero. The handshake timeout, keepalive and close timeout are all set longer than the
/// wait, so it is the vanishing that is noticed, not a timer.
#[test]
fn clients_that_vanish_are_freed() {
    on_every_runtime(|runtime| {
        let server = echo(
            runtime,
            &["--handshake-timeout", "60s", "--ping-interval", "60s"],
        );
        let addr = server.addr;
        let process = Process::of(&server);
        let watch = Watch::start(&server, &format!("{runtime}: vanishing"), VANISH_ALLOWANCE);
        thread::scope(|scope| {
            for vanish in [Vanish::Reset, Vanish::Fin] {
                for point in POINTS {
                    scope.spawn(move || {
                        for _ in 0..VANISHERS {
                            point(addr).vanish(vanish);
                        }
                    });
                }
            }
        });
        // The talkers and at most one probe are still connected.
        process.wait_tcp_connections(common::watch::TALKERS + 1, STEP);
        watch.finish();
        process.wait_tcp_connections(0, STEP);
    });
}

/// How a client leaves.
#[derive(Clone, Copy, Debug)]
enum Vanish {
    /// SO_LINGER 0, then close: the kernel sends a reset and forgets the connection.
    Reset,
    /// A plain close: FIN, and whatever the server sends next is refused. (With the server's
    /// bytes unread in its buffer, as mid-echo, the kernel resets instead.)
    Fin,
}

trait VanishExt {
    fn vanish(self, how: Vanish);
}

impl VanishExt for Tcp {
    fn vanish(self, how: Vanish) {
        match how {
            Vanish::Reset => {
                rustix::net::sockopt::set_socket_linger(&self.0, Some(Duration::ZERO)).unwrap()
            }
            Vanish::Fin => {
                let _ = self.shutdown(Shutdown::Both);
            }
        }
    }
}

/// The points at which a client vanishes: each returns the stream, ready to drop.
const POINTS: [fn(SocketAddr) -> Tcp; 5] =
    [mid_handshake, mid_frame, mid_message, mid_echo, mid_close];

/// Half a request head.
fn mid_handshake(addr: SocketAddr) -> Tcp {
    let mut stream = tcp(addr);
    let request = raw::upgrade_request(addr, "/ws");
    stream
        .write_all(&request.as_bytes()[..request.len() / 2])
        .unwrap();
    stream
}

/// A frame header declaring 1000 bytes, and 10 of them.
fn mid_frame(addr: SocketAddr) -> Tcp {
    let mut stream = raw::upgrade(addr, "/ws");
    let frame = raw::frame(true, BINARY, &[7; 1000]);
    stream.write_all(&frame[..frame.len() - 990]).unwrap();
    stream
}

/// The first fragment of a message.
fn mid_message(addr: SocketAddr) -> Tcp {
    let mut stream = raw::upgrade(addr, "/ws");
    stream
        .write_all(&raw::frame(false, TEXT, b"to be continued"))
        .unwrap();
    stream
}

/// A 1 MiB message whose echo is never read.
fn mid_echo(addr: SocketAddr) -> Tcp {
    let mut stream = raw::upgrade(addr, "/ws");
    raw::write_binary(&mut stream, &raw::payload(0, 1 << 20));
    stream
}

/// A close frame, without waiting for the server's.
fn mid_close(addr: SocketAddr) -> Tcp {
    let mut stream = raw::upgrade(addr, "/ws");
    stream
        .write_all(&raw::frame(true, CLOSE, &raw::close_payload(1000, "bye")))
        .unwrap();
    stream
}
