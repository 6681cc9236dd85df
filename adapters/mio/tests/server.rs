//! The mio server over real loopback sockets, against tungstenite and raw TCP clients.

mod common;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::{next, read_data, wait_for, ws_client, Echo, Probe, Seen};
use sockwright_mio::sockwright::frame::SharedFrame;
use sockwright_mio::sockwright::handshake::Request;
use sockwright_mio::sockwright::hub::HubConfig;
use sockwright_mio::{
    CloseCode, ConnId, Context, Error, EventLoop, Handler, Message, Rejection, Route, SendError,
    Server, ServerOptions,
};
use tungstenite::Message as TMessage;

fn probe_server(
    options: ServerOptions,
    echo: bool,
) -> (sockwright_mio::ServerHandle, mpsc::Receiver<Seen>) {
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let server = Server::bind("127.0.0.1:0", options)
        .unwrap()
        .spawn(move || Probe {
            tx: tx.lock().unwrap().clone(),
            echo,
        })
        .unwrap();
    (server, rx)
}

#[test]
fn one_loop_echoes_many_concurrent_connections() {
    let server = Server::bind("127.0.0.1:0", ServerOptions::default())
        .unwrap()
        .spawn(Echo::default)
        .unwrap();
    let addr = server.local_addr();
    let clients: Vec<_> = (0..40)
        .map(|c| {
            thread::spawn(move || {
                let mut ws = ws_client(addr, "/echo");
                for i in 0..20usize {
                    let len = [0, 1, 125, 126, 65535, 65536, 200_000][(c + i) % 7];
                    let text = "é".repeat(len / 2);
                    ws.send(TMessage::text(text.clone())).unwrap();
                    assert_eq!(read_data(&mut ws), TMessage::text(text));
                    let data: Vec<u8> = (0..len).map(|b| (b + c) as u8).collect();
                    ws.send(TMessage::binary(data.clone())).unwrap();
                    assert_eq!(read_data(&mut ws), TMessage::binary(data));
                }
                ws.close(None).unwrap();
                loop {
                    match ws.read() {
                        Ok(_) => continue,
                        Err(tungstenite::Error::ConnectionClosed) => break,
                        Err(e) => panic!("client {c}: {e}"),
                    }
                }
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
}

/// Sends every data message to every open connection, the sender included.
#[derive(Default)]
struct Broadcast {
    open: HashSet<ConnId>,
}

impl Handler for Broadcast {
    fn on_open(&mut self, _: &mut Context<'_>, id: ConnId, _: &sockwright_mio::Handshake) {
        self.open.insert(id);
    }

    fn on_message(&mut self, ctx: &mut Context<'_>, _: ConnId, message: Message) {
        if message.is_data() {
            for &to in &self.open {
                ctx.send(to, message.clone()).unwrap();
            }
        }
    }

    fn on_close(
        &mut self,
        _: &mut Context<'_>,
        id: ConnId,
        _: Result<sockwright_mio::Closed, Error>,
    ) {
        self.open.remove(&id);
    }
}

#[test]
fn a_handler_sends_to_other_connections_of_its_loop() {
    let server = Server::bind("127.0.0.1:0", ServerOptions::default())
        .unwrap()
        .spawn(Broadcast::default)
        .unwrap();
    let addr = server.local_addr();
    // Each client hears its own hello once it is registered.
    let mut clients = Vec::new();
    for i in 0..3 {
        let mut ws = ws_client(addr, "/");
        ws.send(TMessage::text(format!("hello {i}"))).unwrap();
        assert_eq!(read_data(&mut ws), TMessage::text(format!("hello {i}")));
        clients.push(ws);
    }
    clients[0].send(TMessage::text("to all")).unwrap();
    // Earlier clients also heard the later ones' hellos, in order, then "to all".
    for (i, ws) in clients.iter_mut().enumerate() {
        for j in i + 1..3 {
            assert_eq!(read_data(ws), TMessage::text(format!("hello {j}")));
        }
        assert_eq!(read_data(ws), TMessage::text("to all"));
    }
}

#[test]
fn a_loop_handle_sends_and_closes_from_another_thread() {
    let (server, rx) = probe_server(ServerOptions::default(), false);
    let mut ws = ws_client(server.local_addr(), "/");
    let (id, handle) = wait_for(&rx, |seen| match seen {
        Seen::Open(id, _, handle, _) => Some((id, handle)),
        _ => None,
    });
    thread::spawn({
        let handle = handle.clone();
        move || handle.send(id, "from afar").unwrap()
    })
    .join()
    .unwrap();
    assert_eq!(read_data(&mut ws), TMessage::text("from afar"));
    handle.close(id, CloseCode(4000), "bye").unwrap();
    match ws.read().unwrap() {
        TMessage::Close(Some(frame)) => {
            assert_eq!(
                (u16::from(frame.code), frame.reason.as_str()),
                (4000, "bye")
            )
        }
        other => panic!("{other:?}"),
    }
    let _ = ws.read(); // the close reply goes out
    let closed = wait_for(&rx, |seen| match seen {
        Seen::Close(closed_id, result) if closed_id == id => Some(result.unwrap()),
        _ => None,
    });
    assert_eq!(closed.code, CloseCode(4000));
    // The id is dead now: a send through the handle comes back undelivered.
    handle.send(id, "too late").unwrap();
    let (message, error) = wait_for(&rx, |seen| match seen {
        Seen::Undelivered(i, message, error) if i == id => Some((message, error)),
        _ => None,
    });
    assert_eq!(message, Message::Text("too late".into()));
    assert!(matches!(error, Error::Send(SendError::Closed)), "{error:?}");
    // Once the loops stop, the handle says so.
    drop(server);
    assert!(matches!(handle.send(id, "x"), Err(Error::Io(_))));
}

/// Sends a raw request and reads the whole answer, until the server closes.
fn raw_exchange(addr: std::net::SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    String::from_utf8(answer).unwrap()
}

#[test]
fn rejections_reach_a_raw_tcp_client_with_status_and_reason_then_the_socket_closes() {
    let hook = |request: &Request| match request.path() {
        "/ws" => Route::Upgrade(Vec::new()),
        "/ping" => Route::Respond(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\npong".to_vec()),
        other => Route::Reject(Rejection::not_found(other)),
    };
    let (server, rx) = probe_server(ServerOptions::default().with_hook(hook), false);
    let addr = server.local_addr();
    let upgrade = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
                   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

    let answer = raw_exchange(
        addr,
        format!("GET /nope HTTP/1.1\r\nHost: x\r\n{upgrade}\r\n").as_bytes(),
    );
    assert!(answer.starts_with("HTTP/1.1 404 Not Found\r\n"), "{answer}");
    assert!(
        answer.contains("no WebSocket endpoint at \"/nope\""),
        "{answer}"
    );
    let error = wait_for(&rx, |seen| match seen {
        Seen::HandshakeFailed(_, error) => Some(error),
        _ => None,
    });
    assert!(
        matches!(&error, Error::Rejected(r) if r.status() == 404),
        "{error:?}"
    );

    // A plain GET to the WebSocket path: the core's refusal names the missing header.
    let answer = raw_exchange(addr, b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n");
    let status: u16 = answer[9..12].parse().unwrap();
    assert!((400..500).contains(&status), "{answer}");
    let body = answer.split("\r\n\r\n").nth(1).unwrap();
    assert!(body.to_ascii_lowercase().contains("upgrade"), "{answer}");

    // A hook's own answer.
    let answer = raw_exchange(addr, b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(answer.ends_with("\r\n\r\npong"), "{answer}");

    // Garbage instead of a request.
    let answer = raw_exchange(
        addr,
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03garbage\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
}

#[test]
fn a_silent_client_hits_the_handshake_timeout() {
    let mut options = ServerOptions::default();
    options.handshake_timeout = Duration::from_millis(200);
    let (server, rx) = probe_server(options, false);
    let started = Instant::now();
    let answer = raw_exchange(server.local_addr(), b"GET / HTTP/1.1\r\n");
    assert_eq!(answer, "");
    assert!(started.elapsed() >= Duration::from_millis(150));
    let error = wait_for(&rx, |seen| match seen {
        Seen::HandshakeFailed(_, error) => Some(error),
        _ => None,
    });
    assert!(matches!(error, Error::HandshakeTimeout), "{error:?}");
}

#[test]
fn keepalive_closes_a_silent_peer_and_keeps_a_live_one() {
    let mut options = ServerOptions::default();
    options.connection.ping_interval = Some(Duration::from_millis(100));
    options.connection.pong_timeout = Duration::from_millis(200);
    let (server, rx) = probe_server(options, true);
    let addr = server.local_addr();
    let mut silent = ws_client(addr, "/");
    let silent_id = wait_for(&rx, |seen| match seen {
        Seen::Open(id, ..) => Some(id),
        _ => None,
    });
    let mut live = ws_client(addr, "/");
    // The live client reads (tungstenite answers pings while reading) for 700 ms.
    live.get_mut()
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let end = Instant::now() + Duration::from_millis(700);
    let mut pings = 0;
    while Instant::now() < end {
        match live.read() {
            Ok(TMessage::Ping(_)) => pings += 1,
            Ok(other) => panic!("{other:?}"),
            Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert!(pings >= 2, "{pings} pings");
    let result = wait_for(&rx, |seen| match seen {
        Seen::Close(id, result) if id == silent_id => Some(result),
        Seen::Close(id, result) => panic!("{id} closed too: {result:?}"),
        _ => None,
    });
    assert!(matches!(result, Err(Error::KeepaliveTimeout)), "{result:?}");
    // The silent peer finds a ping, then the server's 1011 close.
    let mut close = None;
    while let Ok(message) = silent.read() {
        if let TMessage::Close(frame) = message {
            close = frame.map(|f| u16::from(f.code));
        }
    }
    assert_eq!(close, Some(1011));
    live.get_mut()
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    live.send(TMessage::text("still here")).unwrap();
    assert_eq!(read_data(&mut live), TMessage::text("still here"));
}

/// Floods each connection with numbered 16 KiB messages, reporting refusals and relief.
struct Flood {
    tx: mpsc::Sender<(&'static str, usize)>,
    sent: usize,
}

const FLOOD: usize = 2048;

impl Flood {
    fn pump(&mut self, ctx: &mut Context<'_>, id: ConnId) {
        while self.sent < FLOOD {
            let mut data = vec![0u8; 16 * 1024];
            data[..4].copy_from_slice(&(self.sent as u32).to_be_bytes());
            match ctx.send_binary(id, &data) {
                Ok(()) => self.sent += 1,
                Err(Error::Send(SendError::OutboundFull { .. })) => {
                    let _ = self.tx.send(("full", self.sent));
                    return;
                }
                Err(e) => panic!("{e}"),
            }
        }
        let _ = self.tx.send(("done", self.sent));
    }
}

impl Handler for Flood {
    fn on_open(&mut self, ctx: &mut Context<'_>, id: ConnId, _: &sockwright_mio::Handshake) {
        self.pump(ctx, id);
    }

    fn on_message(&mut self, _: &mut Context<'_>, _: ConnId, _: Message) {}

    fn on_writable(&mut self, ctx: &mut Context<'_>, id: ConnId) {
        let _ = self.tx.send(("writable", self.sent));
        self.pump(ctx, id);
    }
}

#[test]
fn backpressure_is_reported_when_the_peer_does_not_read() {
    let mut options = ServerOptions::default();
    options.connection.max_outbound_bytes = 256 * 1024;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    let mut event_loop = EventLoop::new(Flood { tx, sent: 0 }).unwrap();
    event_loop.listen(listener, options).unwrap();
    let handle = event_loop.handle();
    let thread = thread::spawn(move || event_loop.run().unwrap());

    let mut ws = ws_client(addr, "/");
    // Not reading: the queue fills at once, the socket buffers soon after.
    let (what, _) = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(what, "full");
    thread::sleep(Duration::from_millis(500));
    let mut sent_while_stalled = 0;
    while let Ok((what, sent)) = rx.try_recv() {
        assert_ne!(
            what, "done",
            "everything was queued though nothing was read"
        );
        sent_while_stalled = sent;
    }
    assert!(sent_while_stalled < FLOOD);
    // Reading everything: on_writable lets the rest through, in order.
    for i in 0..FLOOD {
        match read_data(&mut ws) {
            TMessage::Binary(data) => assert_eq!(data[..4], (i as u32).to_be_bytes()),
            other => panic!("{other:?}"),
        }
    }
    let mut writable = 0;
    let done = loop {
        match rx.recv_timeout(Duration::from_secs(5)).unwrap() {
            ("done", sent) => break sent,
            ("writable", _) => writable += 1,
            _ => {}
        }
    };
    assert_eq!(done, FLOOD);
    assert!(writable >= 1);
    handle.stop();
    let flood = thread.join().unwrap();
    assert_eq!(flood.sent, FLOOD);
}

/// Does the upgrade by hand; returns the socket right after the 101 head.
fn raw_upgrade(addr: std::net::SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
        .write_all(
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        )
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101 "));
    stream
}

#[test]
fn bad_input_fails_only_its_own_connection() {
    let (server, rx) = probe_server(ServerOptions::default(), true);
    let addr = server.local_addr();
    let mut good = ws_client(addr, "/");

    // An unmasked client frame: 1002, then the server closes the socket.
    let mut bad = raw_upgrade(addr);
    bad.write_all(&[0x81, 0x02, b'h', b'i']).unwrap();
    let mut answer = Vec::new();
    let _ = bad.read_to_end(&mut answer);
    assert_eq!(
        answer.get(..4),
        Some(&[0x88, answer[1], 0x03, 0xea][..]),
        "{answer:?}"
    );

    // Pseudo-random bytes after the upgrade, and before it, on several connections.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for round in 0..20 {
        let mut noise = vec![0u8; 4096];
        for b in &mut noise {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        let mut stream = if round % 2 == 0 {
            raw_upgrade(addr)
        } else {
            TcpStream::connect(addr).unwrap()
        };
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let _ = stream.write_all(&noise);
        // A frame or head cut short waits for more; the EOF ends it.
        let _ = stream.shutdown(std::net::Shutdown::Write);
        let mut sink = Vec::new();
        let _ = stream.read_to_end(&mut sink);
    }
    good.send(TMessage::text("still fine")).unwrap();
    assert_eq!(read_data(&mut good), TMessage::text("still fine"));
    let protocol_errors = std::iter::from_fn(|| rx.try_recv().ok())
        .filter(|seen| matches!(seen, Seen::Close(_, Err(Error::Protocol(_)))))
        .count();
    assert!(protocol_errors >= 1);
}

#[test]
fn several_loops_share_the_connections_in_turn() {
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let server = Server::bind("127.0.0.1:0", ServerOptions::default())
        .unwrap()
        .threads(3)
        .spawn(move || Probe {
            tx: tx.lock().unwrap().clone(),
            echo: true,
        })
        .unwrap();
    assert_eq!(server.loops().len(), 3);
    let mut threads = Vec::new();
    let mut clients = Vec::new();
    for i in 0..9 {
        let mut ws = ws_client(server.local_addr(), "/");
        ws.send(TMessage::text(format!("{i}"))).unwrap();
        assert_eq!(read_data(&mut ws), TMessage::text(format!("{i}")));
        threads.push(wait_for(&rx, |seen| match seen {
            Seen::Open(_, _, _, thread) => Some(thread.unwrap()),
            _ => None,
        }));
        clients.push(ws);
    }
    let distinct: HashSet<_> = threads.iter().collect();
    assert_eq!(distinct.len(), 3, "{threads:?}");
    for name in &distinct {
        assert_eq!(
            threads.iter().filter(|t| t == name).count(),
            3,
            "{threads:?}"
        );
    }
}

#[test]
fn after_stop_accepting_the_port_refuses_and_open_connections_are_served() {
    let server = Server::bind("127.0.0.1:0", ServerOptions::default())
        .unwrap()
        .threads(2)
        .spawn(Echo::default)
        .unwrap();
    let addr = server.local_addr();
    // One connection on each loop.
    let mut clients = [ws_client(addr, "/"), ws_client(addr, "/")];
    server.stop_accepting().unwrap();
    let refused = TcpStream::connect(addr).map(drop).map_err(|e| e.kind());
    assert_eq!(refused, Err(std::io::ErrorKind::ConnectionRefused));
    for (i, ws) in clients.iter_mut().enumerate() {
        ws.send(TMessage::text(format!("still served {i}")))
            .unwrap();
        assert_eq!(read_data(ws), TMessage::text(format!("still served {i}")));
    }
    // Again is harmless; once the loops have stopped it says so.
    server.stop_accepting().unwrap();
    let first = server.loops()[0].clone();
    server.stop();
    server.join().unwrap();
    assert!(matches!(first.stop_accepting(), Err(Error::Io(_))));
}

/// A handler that closes its loop's listener when a client asks.
struct StopsAccepting;

impl Handler for StopsAccepting {
    fn on_message(&mut self, ctx: &mut Context<'_>, id: ConnId, message: Message) {
        if message.is_data() {
            ctx.stop_accepting();
            let _ = ctx.send(id, message);
        }
    }
}

#[test]
fn a_handler_can_stop_accepting() {
    let server = Server::bind("127.0.0.1:0", ServerOptions::default())
        .unwrap()
        .spawn(|| StopsAccepting)
        .unwrap();
    let addr = server.local_addr();
    let mut ws = ws_client(addr, "/");
    ws.send(TMessage::text("stop accepting")).unwrap();
    assert_eq!(read_data(&mut ws), TMessage::text("stop accepting"));
    let refused = TcpStream::connect(addr).map(drop).map_err(|e| e.kind());
    assert_eq!(refused, Err(std::io::ErrorKind::ConnectionRefused));
    // The handle finds the listener already closed.
    server.stop_accepting().unwrap();
}

#[test]
fn stopping_a_loop_reports_the_connections_left() {
    let (server, rx) = probe_server(ServerOptions::default(), false);
    let _ws = ws_client(server.local_addr(), "/");
    let id = match next(&rx) {
        Seen::Open(id, ..) => id,
        other => panic!("{other:?}"),
    };
    server.stop();
    let result = wait_for(&rx, |seen| match seen {
        Seen::Close(i, result) if i == id => Some(result),
        _ => None,
    });
    assert!(matches!(result, Err(Error::Io(_))), "{result:?}");
    server.join().unwrap();
}

/// Reads one unmasked server frame: (opcode, payload).
fn read_frame(stream: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut head = [0u8; 2];
    stream.read_exact(&mut head).unwrap();
    let len = match head[1] & 0x7f {
        126 => {
            let mut ext = [0u8; 2];
            stream.read_exact(&mut ext).unwrap();
            u16::from_be_bytes(ext) as usize
        }
        127 => {
            let mut ext = [0u8; 8];
            stream.read_exact(&mut ext).unwrap();
            u64::from_be_bytes(ext) as usize
        }
        n => n as usize,
    };
    let mut payload = vec![0u8; len];
    stream.read_exact(&mut payload).unwrap();
    (head[0] & 0x0f, payload)
}

#[test]
fn an_echo_server_under_backpressure_pauses_its_reader_and_loses_nothing() {
    let mut options = ServerOptions::default();
    options.connection.max_outbound_bytes = 64 * 1024;
    let server = Server::bind("127.0.0.1:0", options)
        .unwrap()
        .spawn(Echo::default)
        .unwrap();
    let mut reader = raw_upgrade(server.local_addr());
    let mut writer = reader.try_clone().unwrap();
    const COUNT: u32 = 3000;
    // Masked binary frames of 8 KiB (the zero key leaves the payload as is), written without
    // reading: the server's queue fills, it stops reading, and this writer blocks.
    let writing = thread::spawn(move || {
        for i in 0..COUNT {
            let mut frame = vec![0x82, 0x80 | 126, 0x20, 0x00, 0, 0, 0, 0];
            let mut payload = vec![(i % 251) as u8; 8192];
            payload[..4].copy_from_slice(&i.to_be_bytes());
            frame.extend_from_slice(&payload);
            writer.write_all(&frame).unwrap();
        }
    });
    thread::sleep(Duration::from_millis(300));
    assert!(
        !writing.is_finished(),
        "24 MiB went in while nothing was read"
    );
    for i in 0..COUNT {
        let (opcode, payload) = read_frame(&mut reader);
        assert_eq!((opcode, payload.len()), (2, 8192));
        assert_eq!(payload[..4], i.to_be_bytes());
    }
    writing.join().unwrap();
}

/// Frames the [`Burst`] handler queues at once, each of [`BURST_FRAME`] bytes: eight times
/// what the connection may hold unwritten, and little enough for any loopback socket.
const BURST: usize = 32;
const BURST_FRAME: usize = 1024;
const BURST_LIMIT: usize = 4 * BURST_FRAME;

/// On any data message, queues [`BURST`] hub frames and as many plain messages for the
/// sender through the loop's handle, all taken by the loop in one turn.
struct Burst;

impl Handler for Burst {
    fn on_message(&mut self, ctx: &mut Context<'_>, id: ConnId, message: Message) {
        if !message.is_data() {
            return;
        }
        let handle = ctx.handle();
        let mut config = HubConfig::default();
        config.max_queued_bytes = BURST_LIMIT;
        let config = std::sync::Arc::new(config);
        for i in 0..BURST {
            let frame = SharedFrame::binary(&[i as u8; BURST_FRAME]);
            handle.deliver_shared(id, config.clone(), frame).unwrap();
        }
        for i in 0..BURST {
            handle.send(id, vec![i as u8; BURST_FRAME]).unwrap();
        }
    }
}

/// The loop writes what one turn's commands queued together, but a command that would not
/// fit writes its connection first: a burst of eight times the hub's `max_queued_bytes`
/// (and of the connection's `max_outbound_bytes`) to a reading client is delivered whole,
/// not cut by the slow-consumer policy or refused for lack of room.
#[test]
fn a_burst_of_commands_beyond_the_queue_limits_reaches_a_reading_client() {
    let mut options = ServerOptions::default();
    options.connection.max_outbound_bytes = BURST_LIMIT;
    let server = Server::bind("127.0.0.1:0", options)
        .unwrap()
        .spawn(|| Burst)
        .unwrap();
    let mut ws = ws_client(server.local_addr(), "/");
    ws.send(TMessage::text("go")).unwrap();
    for i in 0..2 * BURST {
        match read_data(&mut ws) {
            TMessage::Binary(data) => assert!(
                data.len() == BURST_FRAME && data.iter().all(|&b| b == (i % BURST) as u8),
                "frame {i}: {} bytes, not {BURST_FRAME} bytes of {}",
                data.len(),
                i % BURST
            ),
            other => panic!("frame {i}: {other:?}"),
        }
    }
}

/// Keeps every connection's id as bits (as a registry outside the loop would) and, on a
/// data message, hands one hub frame to all of them, plus an id no connection has, in one
/// `deliver_shared_to` command.
#[derive(Default)]
struct FanOutToAll {
    members: Vec<u64>,
}

impl Handler for FanOutToAll {
    fn on_open(&mut self, _: &mut Context<'_>, id: ConnId, _: &sockwright_mio::Handshake) {
        self.members.push(id.to_bits());
    }

    fn on_message(&mut self, ctx: &mut Context<'_>, _: ConnId, message: Message) {
        let Message::Text(text) = message else {
            return;
        };
        let mut ids: Vec<ConnId> = self.members.iter().map(|&m| ConnId::from_bits(m)).collect();
        ids.push(ConnId::from_bits(u64::MAX));
        let frame = SharedFrame::text(&format!("to all: {text}"));
        let config = std::sync::Arc::new(HubConfig::default());
        ctx.handle().deliver_shared_to(ids, config, frame).unwrap();
    }
}

#[test]
fn one_command_hands_a_hub_frame_to_many_connections_and_skips_unknown_ids() {
    let server = Server::bind("127.0.0.1:0", ServerOptions::default())
        .unwrap()
        .spawn(FanOutToAll::default)
        .unwrap();
    let mut clients: Vec<_> = (0..5)
        .map(|_| ws_client(server.local_addr(), "/"))
        .collect();
    clients[4].send(TMessage::text("hello")).unwrap();
    for ws in &mut clients {
        assert_eq!(read_data(ws), TMessage::text("to all: hello"));
    }
}

/// More connections than several sweep slices (64) and publishes arriving while the loop writes
/// a burst to all of them: the turns taken between slices read the publisher and queue its
/// next frames behind the ones not yet written, and every connection still gets every frame
/// once, in publish order.
#[test]
fn frames_published_during_a_long_sweep_arrive_complete_and_in_order_everywhere() {
    const CLIENTS: usize = 400; // 800 descriptors in this process: under a 1024 limit
    const PUBLISHES: usize = 20;
    let server = Server::bind("127.0.0.1:0", ServerOptions::default())
        .unwrap()
        .spawn(FanOutToAll::default)
        .unwrap();
    let mut clients: Vec<_> = (0..CLIENTS)
        .map(|_| ws_client(server.local_addr(), "/"))
        .collect();
    for i in 0..PUBLISHES {
        clients[0].send(TMessage::text(i.to_string())).unwrap();
    }
    for (c, ws) in clients.iter_mut().enumerate() {
        for i in 0..PUBLISHES {
            assert_eq!(
                read_data(ws),
                TMessage::text(format!("to all: {i}")),
                "client {c}, frame {i}"
            );
        }
    }
}
