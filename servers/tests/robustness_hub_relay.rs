//! The robustness suite's attacks on the hub (and the relay, once it lands): on every
//! runtime at once, with a [`Watch`] checking that fresh clients are served, that open
//! connections lose no message and that memory stays under the stated bound (see
//! `robustness.rs` for the echo server's attacks). These read /proc, so they run on Linux.

#![cfg(target_os = "linux")]

mod common;

use std::net::SocketAddr;
use std::thread;

use common::peers::notice;
use common::raw;
use common::watch::{on_every_runtime, Process, Watch, MIB, TALKERS};
use common::{post, ws, Sockwright, STEP};
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
        let readers = thread::scope(|scope| {
            let readers: Vec<_> = (0..READERS)
                .map(|r| {
                    let mut reader = ws(addr, &format!("/im?user_id=reader-{r}&topic=feed"), None)
                        .expect("a reader connects");
                    scope.spawn(move || {
                        for i in 0..PUBLISHED {
                            match read_data(&mut reader) {
                                Message::Binary(got) => {
                                    assert!(got == numbered(i), "reader {r}: message {i}")
                                }
                                other => panic!("reader {r}: message {i}: {other:?}"),
                            }
                        }
                        reader
                    })
                })
                .collect();
            for i in 0..PUBLISHED {
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
fn catch_up(slow: &mut std::net::TcpStream) -> (usize, Option<u16>) {
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
fn close(mut client: tungstenite::WebSocket<std::net::TcpStream>) {
    client.close(None).expect("send the close");
    while client.read().is_ok() {}
}

/// The next message that is not a ping or pong.
fn read_data(client: &mut tungstenite::WebSocket<std::net::TcpStream>) -> Message {
    loop {
        match client.read().expect("read") {
            Message::Ping(_) | Message::Pong(_) => {}
            other => return other,
        }
    }
}
