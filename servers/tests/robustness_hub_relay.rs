//! The robustness suite's attacks on the hub and the relay: a subscriber that never reads,
//! upstreams that stall or reset. On every runtime at once, with a [`Watch`] checking that
//! fresh clients are served, that open connections lose no message and that memory stays
//! under the stated bound (see `robustness.rs` for the echo server's attacks). These read
//! /proc, so they run on Linux.

#![cfg(target_os = "linux")]

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use common::checks::read_data;
use common::peers::notice;
use common::raw;
use common::watch::{on_every_runtime, Process, Watch, MIB, TALKERS};
use common::{http, post, tcp, ws, Sockwright, Tcp, STEP};
use tungstenite::Message;

// ---------------------------------------------------------------------------------------
// The hub: a subscriber that never reads

/// Messages published to the topic.
const PUBLISHED: usize = 200;

/// Their size: 64 KiB, so the slow subscriber's queue (256 KiB) holds four.
const PUBLISHED_SIZE: usize = 64 * 1024;

/// Subscribers that read everything.
const READERS: usize = 3;

/// The memory bound while 12.5 MiB is published to a topic with a subscriber that never
/// reads: the hub holds at most `--max-queued` (256 KiB) for it, and frames are shared by
/// every subscriber, so the server barely grows; 32 MiB is room for the readers' queues
/// while they catch up, and noise.
const HUB_ALLOWANCE: u64 = 32 * MIB;

/// Where the watch's clients connect: a topic of their own, so that each hears only itself.
fn own_topic(name: &str) -> String {
    format!("/im?user_id={name}&topic={name}")
}

/// A subscriber that never reads while 200 messages of 64 KiB are published to its topic is
/// closed by the slow-consumer policy (1013; its session ends after the close timeout),
/// while the other subscribers of the topic get every message in order.
#[test]
fn a_subscriber_that_never_reads_is_closed_and_the_others_get_everything() {
    on_every_runtime(|runtime| {
        let label = format!("{runtime}: hub slow consumer");
        let server = Sockwright::hub(&[
            "--runtime",
            runtime,
            "--max-queued",
            "256KiB",
            "--ping-interval",
            "0",
        ]);
        let addr = server.addr;
        let process = Process::of(&server);
        let watch = Watch::start_on(&server, &label, HUB_ALLOWANCE, own_topic);
        let mut slow = raw::upgrade(addr, "/im?user_id=slow&topic=feed");
        // How many messages each reader has had. The publisher keeps at most two ahead of the
        // slowest reader, so that the readers keep up however loaded the machine is: only
        // the subscriber that never reads falls behind.
        let progress: Vec<AtomicUsize> = (0..READERS).map(|_| AtomicUsize::new(0)).collect();
        let progress = &progress;
        let readers = thread::scope(|scope| {
            let readers: Vec<_> = (0..READERS)
                .map(|r| {
                    let mut reader = ws(addr, &format!("/im?user_id=reader-{r}&topic=feed"), None)
                        .expect("a reader connects");
                    // Registered once its own hello has come back (the hub registers a
                    // session just after its 101); the others' hellos are skipped below.
                    let hello = Message::text(format!("reader {r} is here"));
                    reader.send(hello.clone()).expect("send hello");
                    while read_data(&mut reader) != hello {}
                    scope.spawn(move || {
                        let mut i = 0;
                        while i < PUBLISHED {
                            match read_data(&mut reader) {
                                Message::Binary(got) => {
                                    assert!(got == numbered(i), "reader {r}: message {i}");
                                    i += 1;
                                    progress[r].store(i, Ordering::Release);
                                }
                                Message::Text(_) => {}
                                other => panic!("reader {r}: message {i}: {other:?}"),
                            }
                        }
                        reader
                    })
                })
                .collect();
            // Pacing stops if a reader stalls for a whole step (it failed: its thread says why).
            let mut pace = true;
            for i in 0..PUBLISHED {
                let deadline = Instant::now() + STEP;
                while pace && progress.iter().any(|p| p.load(Ordering::Acquire) + 2 < i) {
                    pace = Instant::now() < deadline;
                    thread::sleep(Duration::from_millis(1));
                }
                publish(addr, &numbered(i));
            }
            readers
                .into_iter()
                .map(|reader| reader.join().expect("a reader got every message"))
                .collect::<Vec<_>>()
        });
        // The slow session is gone once its close timeout (5 s) has passed; the readers
        // and the talkers are still connected (and a probe, for a moment).
        let took = process.wait_tcp_connections(READERS + TALKERS, 2 * STEP);
        notice(&format!(
            "{label}: the slow subscriber was let go after {took:?}"
        ));
        let (got, end) = catch_up(&mut slow);
        assert!(got < PUBLISHED, "{label}: the slow subscriber got {got}");
        assert!(
            end.is_none_or(|code| code == 1013),
            "{label}: closed with {end:?}"
        );
        for reader in readers {
            close(reader);
        }
        watch.finish();
        drop(slow);
        process.wait_tcp_connections(0, STEP);
    });
}

// ---------------------------------------------------------------------------------------
// The relay: upstreams that stall or reset

/// Clients sent to the bad upstream at once, on one relay.
const RELAYED: usize = 10;

/// The memory bound while relayed clients wait on a bad upstream: each relay holds at most
/// a queue per direction (the stalled upstream's fills with what its client sends); 10
/// clients sending 1 MiB each, and noise.
const RELAY_ALLOWANCE: u64 = 48 * MIB;

/// An upstream that accepts and never answers the handshake: every client gets `502 Bad
/// Gateway` naming the timeout once `--upstream-timeout` (2 s here) has passed.
#[test]
fn an_upstream_that_never_answers_gets_the_clients_a_502() {
    relay_attack(
        "silent upstream",
        Misbehaviour::SilentBeforeAnswer,
        |addr| {
            let answer = http(tcp(addr), &raw::upgrade_request(addr, "/bad"));
            assert!(
                answer.starts_with("HTTP/1.1 502 Bad Gateway\r\n"),
                "{answer}"
            );
            assert!(
                answer.contains("did not answer the WebSocket handshake within 2000 ms"),
                "{answer}"
            );
        },
    );
}

/// An upstream that completes the upgrade, then neither reads nor answers pings: the
/// relay's keepalive towards it fails, and each client is closed with 1011 and a reason,
/// having sent 1 MiB that the upstream never took.
#[test]
fn an_upstream_that_stalls_gets_the_clients_closed_with_a_reason() {
    relay_attack(
        "stalled upstream",
        Misbehaviour::StallAfterUpgrade,
        |addr| {
            let mut client = raw::upgrade(addr, "/bad");
            let _ = client.write_all(&raw::frame(true, raw::BINARY, &raw::payload(0, 1 << 20)));
            let (code, reason) = raw::read_close(&mut client);
            assert_eq!(code, 1011, "{reason}");
            assert!(!reason.is_empty(), "a close without a reason");
        },
    );
}

/// An upstream that completes the upgrade, then resets the connection: each client is
/// closed with `1011 "upstream connection lost"`.
#[test]
fn an_upstream_that_resets_gets_the_clients_closed_with_a_reason() {
    relay_attack(
        "resetting upstream",
        Misbehaviour::ResetAfterUpgrade,
        |addr| {
            let mut client = raw::upgrade(addr, "/bad");
            let (code, reason) = raw::read_close(&mut client);
            assert_eq!((code, reason.as_str()), (1011, "upstream connection lost"));
        },
    );
}

/// On every runtime: a relay with two routes, `/echo` to a `sockwright echo` (where the
/// watch's clients go) and `/bad` to an upstream that misbehaves; [`RELAYED`] clients at
/// once run `client(relay address)` against `/bad`. Afterwards the relay holds no
/// connection.
fn relay_attack(name: &str, misbehaviour: Misbehaviour, client: fn(SocketAddr)) {
    on_every_runtime(|runtime| {
        let label = format!("{runtime}: relay, {name}");
        let echo = Sockwright::echo(&["--runtime", runtime]);
        let bad = BadUpstream::start(misbehaviour);
        // Short where the timeout is what is tested; otherwise long enough that the healthy
        // echo upstream always answers the watch's probes in time on a loaded machine.
        let upstream_timeout = match misbehaviour {
            Misbehaviour::SilentBeforeAnswer => "2s",
            _ => "10s",
        };
        let relay = Sockwright::start(&[
            "relay",
            "--runtime",
            runtime,
            "--route",
            &format!("/echo=ws://{}/ws", echo.addr),
            "--route",
            &format!("/bad=ws://{}/ws", bad.addr),
            "--upstream-timeout",
            upstream_timeout,
            "--ping-interval",
            "1s",
            "--idle-timeout",
            "1s",
        ]);
        let addr = relay.addr;
        let process = Process::of(&relay);
        let watch = Watch::start_on(&relay, &label, RELAY_ALLOWANCE, |_| "/echo".into());
        thread::scope(|scope| {
            for _ in 0..RELAYED {
                scope.spawn(move || client(addr));
            }
        });
        watch.finish();
        process.wait_tcp_connections(0, STEP);
        drop(bad);
    });
}

/// How the test's bad upstream behaves with each connection.
#[derive(Clone, Copy, Debug)]
enum Misbehaviour {
    /// Reads the request, never answers.
    SilentBeforeAnswer,
    /// Completes the upgrade, then neither reads nor writes.
    StallAfterUpgrade,
    /// Completes the upgrade, then resets the connection (SO_LINGER 0).
    ResetAfterUpgrade,
}

/// An upstream on 127.0.0.1 that misbehaves with every connection until dropped.
struct BadUpstream {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl BadUpstream {
    fn start(misbehaviour: Misbehaviour) -> BadUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the upstream");
        let addr = listener.local_addr().unwrap();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = thread::spawn(move || {
            // What a stalled upstream holds open until the test ends.
            let mut held = Vec::new();
            while !stopping.load(Ordering::Acquire) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        stream.set_nonblocking(false).unwrap();
                        held.extend(misbehave(stream, misbehaviour));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        BadUpstream {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

/// Does to `stream` what `misbehaviour` says; returns it if it is to be held open.
fn misbehave(stream: TcpStream, misbehaviour: Misbehaviour) -> Option<TcpStream> {
    match misbehaviour {
        Misbehaviour::SilentBeforeAnswer => Some(stream),
        Misbehaviour::StallAfterUpgrade => {
            tungstenite::accept(stream).ok().map(|ws| ws.into_inner())
        }
        Misbehaviour::ResetAfterUpgrade => {
            if let Ok(ws) = tungstenite::accept(stream) {
                let stream = ws.into_inner();
                // Let the 101 reach the client before the reset.
                thread::sleep(Duration::from_millis(100));
                let _ = rustix::net::sockopt::set_socket_linger(&stream, Some(Duration::ZERO));
            }
            None
        }
    }
}

impl Drop for BadUpstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `POST /publish?topic=feed` with `body` (binary).
fn publish(addr: SocketAddr, body: &[u8]) {
    let response = post(
        addr,
        "/publish?topic=feed",
        Some("application/octet-stream"),
        body,
    );
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
}

/// Message `i`: its number, then a pattern.
fn numbered(i: usize) -> Vec<u8> {
    raw::payload(i as u32, PUBLISHED_SIZE)
}

/// What the slow subscriber finds when it reads at last: how many messages (a prefix of
/// those published, in order), then the close code, or `None` when the connection was cut.
fn catch_up(slow: &mut Tcp) -> (usize, Option<u16>) {
    let mut got = 0;
    loop {
        match raw::try_read_frame(slow) {
            Ok((raw::BINARY, data)) => {
                assert!(data == numbered(got), "the slow subscriber's message {got}");
                got += 1;
            }
            Ok((raw::CLOSE, payload)) => {
                let code = payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]]));
                return (got, code);
            }
            Ok(_) => {}
            Err(_) => return (got, None),
        }
    }
}

/// The close handshake from the client's side.
fn close(mut client: tungstenite::WebSocket<Tcp>) {
    client.close(None).expect("send the close");
    while client.read().is_ok() {}
}
