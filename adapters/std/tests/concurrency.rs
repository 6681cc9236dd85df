//! Several threads on one connection: senders while a thread reads, a close from another
//! thread, and the close timeout armed by a sender while the reader is blocked.

mod common;

use std::net::TcpListener;
use std::thread;
use std::time::{Duration, Instant};

use sockwright_std::{
    connect, ClientOptions, CloseCode, CloseFrame, Error, Message, ServerOptions, MAX_READ_WAIT,
};
use tungstenite::Message as TMessage;

#[test]
fn senders_in_several_threads_while_one_reads() {
    let (addr, _server) = common::echo_server(ServerOptions::default());
    let mut ws = connect(&format!("ws://{addr}/"), ClientOptions::default()).unwrap();
    const THREADS: usize = 4;
    const EACH: usize = 200;
    let senders: Vec<_> = (0..THREADS)
        .map(|t| {
            let sender = ws.sender();
            thread::spawn(move || {
                for i in 0..EACH {
                    // Sizes that span several socket writes, so interleaving would show.
                    let len = if i % 10 == 0 { 100_000 } else { 10 + i };
                    let mut text = format!("{t}:{i}:");
                    text.extend(std::iter::repeat_n(char::from(b'a' + t as u8), len));
                    sender.send(text).unwrap();
                }
            })
        })
        .collect();
    let mut next = [0; THREADS];
    for _ in 0..THREADS * EACH {
        let Message::Text(text) = common::read_data(&mut ws) else {
            panic!("not text");
        };
        let mut parts = text.splitn(3, ':');
        let t: usize = parts.next().unwrap().parse().unwrap();
        let i: usize = parts.next().unwrap().parse().unwrap();
        let body = parts.next().unwrap();
        // Each thread's messages arrive whole and in its order.
        assert_eq!(i, next[t], "thread {t}");
        next[t] += 1;
        assert!(body.bytes().all(|b| b == b'a' + t as u8));
    }
    for sender in senders {
        sender.join().unwrap();
    }
    assert_eq!(next, [EACH; THREADS]);
}

#[test]
fn a_close_from_another_thread_ends_a_blocked_read() {
    let (addr, _server) = common::echo_server(ServerOptions::default());
    let mut ws = connect(&format!("ws://{addr}/"), ClientOptions::default()).unwrap();
    let sender = ws.sender();
    let closer = thread::spawn(move || {
        thread::sleep(Duration::from_millis(200));
        sender
            .close(CloseCode::GOING_AWAY, "shutting down")
            .unwrap();
        sender.close(CloseCode::NORMAL, "twice").unwrap(); // idempotent
        assert!(!sender.is_open());
        assert!(matches!(sender.send("late"), Err(Error::Send(_))));
    });
    // Blocked here, with no timer of its own, until the server's reply comes.
    assert_eq!(
        ws.read().unwrap(),
        Message::Close(Some(CloseFrame {
            code: CloseCode::GOING_AWAY,
            reason: String::new(),
        }))
    );
    assert!(matches!(ws.read(), Err(Error::Closed)));
    closer.join().unwrap();
}

#[test]
fn a_close_from_another_thread_times_out_when_the_peer_never_answers() {
    // A tungstenite server that completes the handshake and then never reads again.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let server = thread::spawn(move || {
        let ws = tungstenite::accept(listener.accept().unwrap().0).unwrap();
        let _ = done_rx.recv();
        drop(ws);
    });
    let mut options = ClientOptions::default();
    options.connection.close_timeout = Duration::from_millis(300);
    let mut ws = connect(&format!("ws://{addr}/"), options).unwrap();
    let sender = ws.sender();
    let start = Instant::now();
    let closer = thread::spawn(move || sender.close(CloseCode::NORMAL, "").unwrap());
    match ws.read().unwrap() {
        Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::ABNORMAL),
        other => panic!("{other:?}"),
    }
    // The close timeout, seen within one capped wait of it being due.
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(
        took < Duration::from_millis(300) + MAX_READ_WAIT * 2,
        "{took:?}"
    );
    closer.join().unwrap();
    done_tx.send(()).unwrap();
    server.join().unwrap();
}

#[test]
fn a_reader_keeps_reading_while_a_sender_is_blocked_on_a_full_socket() {
    // A tungstenite server that sends but does not read until told to.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let server = thread::spawn(move || {
        let mut ws = tungstenite::accept(listener.accept().unwrap().0).unwrap();
        for i in 0..5 {
            ws.send(TMessage::text(format!("tick {i}"))).unwrap();
        }
        go_rx.recv().unwrap();
        // Now drain what the client sent.
        let mut got = 0;
        while got < 64 << 20 {
            match ws.read().unwrap() {
                TMessage::Binary(data) => got += data.len(),
                other => panic!("{other:?}"),
            }
        }
        ws.close(None).unwrap();
        while ws.read().is_ok() {}
    });
    let mut ws = connect(&format!("ws://{addr}/"), ClientOptions::default()).unwrap();
    let sender = ws.sender();
    // 64 MiB is far more than the socket buffers hold: this send blocks until the server reads.
    let writer = thread::spawn(move || {
        for _ in 0..8 {
            sender.send(vec![0u8; 8 << 20]).unwrap();
        }
    });
    thread::sleep(Duration::from_millis(100));
    for i in 0..5 {
        assert_eq!(ws.read().unwrap(), Message::Text(format!("tick {i}")));
    }
    go_tx.send(()).unwrap();
    writer.join().unwrap();
    assert_eq!(ws.read().unwrap(), Message::Close(None));
    server.join().unwrap();
}

#[cfg(any(target_os = "linux", target_os = "android"))]
#[test]
fn a_peer_that_does_not_read_never_stops_the_reader() {
    // 100,000 pings of 125 bytes, written without reading: their pongs (12.7 MB) are far more
    // than the socket buffers hold. The server keeps reading them (a reader that waited to
    // write each pong would stop, and these writes would time out), answers the latest at
    // least, and echoes a message sent after them.
    const PINGS: u32 = 100_000;
    let ping = |i: u32| {
        let mut payload = i.to_be_bytes().to_vec();
        payload.resize(125, b'p');
        payload
    };
    let (addr, _server) = common::echo_server(ServerOptions::default());
    let stream = common::restarting::Restarting(std::net::TcpStream::connect(addr).unwrap());
    stream
        .set_write_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let (mut client, _) = tungstenite::client(format!("ws://{addr}/"), stream).unwrap();
    for i in 0..PINGS {
        client.write(TMessage::Ping(ping(i).into())).unwrap();
        if i % 1000 == 999 {
            client
                .flush()
                .unwrap_or_else(|e| panic!("the server stopped reading at ping {i}: {e}"));
        }
    }
    client.send(TMessage::text("after the pings")).unwrap();
    let mut last_pong = None;
    loop {
        match client.read().unwrap() {
            TMessage::Pong(payload) => last_pong = Some(payload.to_vec()),
            TMessage::Text(text) => {
                assert_eq!(text.as_str(), "after the pings");
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(last_pong, Some(ping(PINGS - 1)));
}

#[test]
fn read_timeout_returns_timed_out_and_loses_nothing() {
    let (addr, _server) = common::echo_server(ServerOptions::default());
    let mut ws = connect(&format!("ws://{addr}/"), ClientOptions::default()).unwrap();
    match ws.read_timeout(Duration::from_millis(50)) {
        Err(Error::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::TimedOut),
        other => panic!("{other:?}"),
    }
    ws.send("after").unwrap();
    assert_eq!(
        ws.read_timeout(Duration::from_secs(5)).unwrap(),
        Message::Text("after".into())
    );
}
