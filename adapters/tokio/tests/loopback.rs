//! sockwright-tokio over real loopback sockets, against tungstenite in a std thread: echo
//! both ways, headers and subprotocols, split halves, backpressure, keepalive, refused
//! handshakes, wss both ways, and cancel safety of `recv`.

mod common;

use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use common::{
    certs, exchange_with_echo_server, raw_exchange, trickling_server, tungstenite_client,
    tungstenite_server,
};
use sockwright_tokio::sockwright::conn::SendError;
use sockwright_tokio::sockwright::frame::{CloseCode, CloseFrame};
use sockwright_tokio::sockwright::handshake::Rejection;
use sockwright_tokio::{tls, ClientOptions, Error, Handshake, Message, Route, ServerOptions};
use tokio::task::spawn_blocking;
use tokio::time::timeout;
use tungstenite::Message as TMessage;

const WAIT: Duration = Duration::from_secs(10);

/// Serves an echo application on 127.0.0.1:0, a task per connection.
async fn echo_server(options: ServerOptions) -> std::net::SocketAddr {
    let listener = sockwright_tokio::bind("127.0.0.1:0", options)
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok(incoming) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut ws) = incoming.handshake().await else {
                    return;
                };
                while let Some(Ok(message)) = ws.recv().await {
                    if message.is_data() && ws.send(message).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

fn tls_server_options() -> ServerOptions {
    let (cert, key, _) = certs();
    let mut options = ServerOptions::default();
    options.tls = Some(tls::server_config_from_pem(&cert, &key).unwrap());
    options
}

fn tls_client_options() -> ClientOptions {
    let (_, _, ca) = certs();
    let mut options = ClientOptions::default();
    options.tls = Some(tls::client_config_with_roots(&ca).unwrap());
    options
}

/// Our client's side of a normal close: the reply, then the end.
async fn close_and_expect_reply(ws: &mut sockwright_tokio::WebSocketStream) {
    ws.close().await.unwrap();
    let last = timeout(WAIT, ws.recv()).await.unwrap();
    let Some(Ok(Message::Close(Some(frame)))) = last else {
        panic!("expected the close reply, got {last:?}");
    };
    assert_eq!(frame.code, CloseCode::NORMAL);
    assert!(timeout(WAIT, ws.recv()).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tungstenite_client_gets_every_message_echoed() {
    let addr = echo_server(ServerOptions::default()).await;
    spawn_blocking(move || {
        let mut ws = tungstenite_client(addr, &format!("ws://{addr}/echo"), None);
        exchange_with_echo_server(&mut ws);
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_talks_to_a_tungstenite_server_with_headers_and_subprotocols() {
    let (addr, server) = tungstenite_server(None, None);
    let options = ClientOptions::default()
        .with_header("Name", "alice")
        .with_header("Topic", "news, sport")
        .with_subprotocol("chat.v2")
        .with_subprotocol("chat.v1");
    let url = format!("ws://{addr}/im?user_id=7");
    let mut ws = sockwright_tokio::connect(&url, options).await.unwrap();
    assert_eq!(ws.handshake().subprotocol(), Some("chat.v2"));
    assert!(matches!(ws.handshake(), Handshake::Client { .. }));
    let big = vec![9u8; 300_000];
    ws.send("hello").await.unwrap();
    ws.send(big.clone()).await.unwrap();
    assert_eq!(
        ws.recv().await.unwrap().unwrap(),
        Message::Text("hello".into())
    );
    assert_eq!(
        ws.recv().await.unwrap().unwrap(),
        Message::Binary(big.into())
    );
    close_and_expect_reply(&mut ws).await;
    let seen = spawn_blocking(move || server.join().unwrap())
        .await
        .unwrap();
    assert_eq!(seen.path, "/im");
    assert_eq!(seen.header("name"), Some("alice"));
    assert_eq!(seen.header("topic"), Some("news, sport"));
    assert_eq!(seen.messages, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_halves_read_and_write_concurrently() {
    let (addr, server) = tungstenite_server(None, None);
    let ws = sockwright_tokio::connect(&format!("ws://{addr}/"), ClientOptions::default())
        .await
        .unwrap();
    let (mut reader, mut writer) = ws.split();
    const N: usize = 500;
    let writing = tokio::spawn(async move {
        for i in 0..N {
            writer
                .send(Message::Text(format!("message {i}")))
                .await
                .unwrap();
        }
        writer
    });
    for i in 0..N {
        let message = timeout(WAIT, reader.recv())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(message, Message::Text(format!("message {i}")));
    }
    let mut writer = writing.await.unwrap();
    writer.close().await.unwrap();
    let last = timeout(WAIT, reader.recv()).await.unwrap();
    assert!(
        matches!(last, Some(Ok(Message::Close(Some(_))))),
        "{last:?}"
    );
    assert!(timeout(WAIT, reader.recv()).await.unwrap().is_none());
    // The connection is over: the writer says so.
    let after = writer.send("late").await;
    assert!(
        matches!(after, Err(Error::Send(SendError::Closed))),
        "{after:?}"
    );
    let seen = spawn_blocking(move || server.join().unwrap())
        .await
        .unwrap();
    assert_eq!(seen.messages, N);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_message_surfaces_on_the_writer_and_the_connection_goes_on() {
    let (addr, server) = tungstenite_server(None, None);
    let mut options = ClientOptions::default();
    options.connection.max_outbound_bytes = 1000;
    let ws = sockwright_tokio::connect(&format!("ws://{addr}/"), options)
        .await
        .unwrap();
    let (mut reader, mut writer) = ws.split();
    let first = writer.send(vec![0u8; 5000]).await;
    let refusal = match first {
        Ok(()) => writer.send("next").await,
        other => other,
    };
    assert!(
        matches!(refusal, Err(Error::Send(SendError::TooLarge { .. }))),
        "{refusal:?}"
    );
    writer.send("still open").await.unwrap();
    let echo = timeout(WAIT, reader.recv())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(matches!(echo, Message::Text(_)), "{echo:?}");
    drop((reader, writer));
    // Dropping both halves closes the connection normally.
    let seen = spawn_blocking(move || server.join().unwrap())
        .await
        .unwrap();
    assert!(seen.messages >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_waits_while_the_peer_does_not_read_and_memory_stays_bounded() {
    let (go, wait) = std_mpsc::channel();
    let (addr, server) = tungstenite_server(None, Some(wait));
    let limit = 256 * 1024;
    let mut options = ClientOptions::default();
    options.connection.max_outbound_bytes = limit;
    let mut ws = sockwright_tokio::connect(&format!("ws://{addr}/"), options)
        .await
        .unwrap();
    let chunk = vec![1u8; 64 * 1024];
    let mut sent = 0usize;
    let stalled = timeout(Duration::from_secs(1), async {
        loop {
            ws.send(chunk.clone()).await.unwrap();
            sent += 1;
        }
    })
    .await;
    assert!(stalled.is_err(), "sends never waited");
    // What the kernel buffers took, plus at most the limit here.
    assert!(
        ws.session().queued_bytes() <= limit,
        "{}",
        ws.session().queued_bytes()
    );
    assert!(sent * chunk.len() < 64 << 20, "{sent} sends went through");
    go.send(()).unwrap();
    for _ in 0..10 {
        timeout(WAIT, ws.send(chunk.clone()))
            .await
            .unwrap()
            .unwrap();
    }
    // Echoes have been coming back; read them all until the close completes.
    ws.close().await.unwrap();
    let mut echoes = 0;
    while let Some(item) = timeout(WAIT, ws.recv()).await.unwrap() {
        match item.unwrap() {
            Message::Binary(_) => echoes += 1,
            Message::Close(_) => {}
            other => panic!("{other:?}"),
        }
    }
    let seen = spawn_blocking(move || server.join().unwrap())
        .await
        .unwrap();
    // The send cut by the timeout was either dropped before it was queued, or queued whole.
    assert!(
        seen.messages == sent + 10 || seen.messages == sent + 11,
        "{seen:?} {sent}"
    );
    assert_eq!(echoes, seen.messages);
}

fn keepalive_options() -> ServerOptions {
    let mut options = ServerOptions::default();
    options.connection.ping_interval = Some(Duration::from_millis(100));
    options.connection.pong_timeout = Duration::from_millis(300);
    options
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalive_closes_a_silent_peer() {
    let listener = sockwright_tokio::bind("127.0.0.1:0", keepalive_options())
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (done, hold) = std_mpsc::channel::<()>();
    let client = spawn_blocking(move || {
        // Connects, then neither reads nor answers until told.
        let ws = tungstenite_client(addr, &format!("ws://{addr}/"), None);
        let _ = hold.recv();
        drop(ws);
    });
    let mut ws = listener.accept().await.unwrap().handshake().await.unwrap();
    let started = tokio::time::Instant::now();
    let item = timeout(WAIT, ws.recv()).await.unwrap();
    assert!(
        matches!(item, Some(Err(Error::KeepaliveTimeout))),
        "{item:?}"
    );
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert!(timeout(WAIT, ws.recv()).await.unwrap().is_none());
    done.send(()).unwrap();
    client.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalive_runs_in_split_halves_while_the_application_does_not_read() {
    let listener = sockwright_tokio::bind("127.0.0.1:0", keepalive_options())
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let client = spawn_blocking(move || {
        // A live peer: it reads (tungstenite answers pings) for a second, then says hello.
        let mut ws = tungstenite_client(addr, &format!("ws://{addr}/"), None);
        let until = std::time::Instant::now() + Duration::from_secs(1);
        let mut pings = 0;
        while std::time::Instant::now() < until {
            if let Ok(TMessage::Ping(_)) = ws.read() {
                pings += 1;
            }
        }
        ws.send(TMessage::text("hello")).unwrap();
        ws.flush().unwrap();
        (ws, pings)
    });
    let ws = listener.accept().await.unwrap().handshake().await.unwrap();
    let (mut reader, _writer) = ws.split();
    let (_ws, pings) = client.await.unwrap();
    assert!(pings >= 3, "{pings} pings");
    // The pongs that found room in the reader's queue, then the message: no timeout.
    loop {
        match timeout(WAIT, reader.recv()).await.unwrap() {
            Some(Ok(Message::Pong(_))) => {}
            Some(Ok(Message::Text(text))) => break assert_eq!(text, "hello"),
            other => panic!("{other:?}"),
        }
    }
}

/// A server connection with keepalive, a 300 ms close timeout and room for two 1 MiB echoes,
/// whose tungstenite peer sends 32 MiB to be echoed and never reads: the echoes fill the
/// server's outbound queue and the socket buffers. The peer holds on until `done` is sent
/// (or dropped), then its thread (`client`) ends.
async fn flooded_by_a_peer_that_never_reads() -> (
    sockwright_tokio::WebSocketStream,
    std_mpsc::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let mut options = keepalive_options();
    options.connection.close_timeout = Duration::from_millis(300);
    options.connection.max_outbound_bytes = 2 << 20;
    let listener = sockwright_tokio::bind("127.0.0.1:0", options)
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (done, hold) = std_mpsc::channel::<()>();
    let client = spawn_blocking(move || {
        let mut ws = tungstenite_client(addr, &format!("ws://{addr}/"), None);
        for _ in 0..32 {
            if ws.send(TMessage::binary(vec![7u8; 1 << 20])).is_err() {
                break;
            }
        }
        let _ = hold.recv();
    });
    let ws = listener.accept().await.unwrap().handshake().await.unwrap();
    (ws, done, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_sending_to_a_peer_that_stopped_reading_is_released_by_keepalive() {
    let (ws, done, client) = flooded_by_a_peer_that_never_reads().await;
    let (mut reader, mut writer) = ws.split();
    // An echo loop that waits on each send, as a server does: the sends stall, the driver
    // task keeps its timers running, the keepalive ping goes unanswered and the connection
    // fails, which refuses the stalled send; the reader then ends with the error.
    let ended = timeout(WAIT, async {
        loop {
            match reader.recv().await {
                Some(Ok(message)) if message.is_data() => {
                    let _ = writer.send(message).await;
                }
                Some(Ok(_)) => {}
                other => break other,
            }
        }
    })
    .await
    .expect("the application is still waiting on a peer that does not read");
    assert!(
        matches!(ended, Some(Err(Error::KeepaliveTimeout))),
        "{ended:?}"
    );
    // The last bytes cannot be written; the driver gives them the close timeout, then ends.
    assert!(timeout(WAIT, reader.recv()).await.unwrap().is_none());
    done.send(()).unwrap();
    client.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_task_stops_reading_while_its_echoes_do_not_fit_and_keepalive_still_runs() {
    let (mut ws, done, client) = flooded_by_a_peer_that_never_reads().await;
    // The server's shape of sockwright-servers' async runner: one task, the echo waits in
    // `waiting` while it does not fit, and the stream is polled with reading gated off.
    let mut waiting: Option<Message> = None;
    let mut echoed = 0usize;
    let mut refused_for_room = 0usize;
    let ended = timeout(WAIT, async {
        loop {
            let item = std::future::poll_fn(|cx| loop {
                if let Some(message) = &waiting {
                    match ws.try_send(message) {
                        Ok(()) => {
                            waiting = None;
                            echoed += 1;
                        }
                        Err(Error::Send(SendError::OutboundFull { .. })) => {
                            refused_for_room += 1;
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
                let queued = ws.session().queued_bytes();
                let may_read = waiting.is_none();
                match ws.poll_recv_gated(cx, may_read) {
                    std::task::Poll::Pending
                        if !may_read && ws.session().queued_bytes() < queued =>
                    {
                        continue
                    }
                    other => break other,
                }
            })
            .await;
            match item {
                Some(Ok(message)) if message.is_data() => {
                    assert!(waiting.is_none(), "read while an echo was waiting");
                    waiting = Some(message);
                }
                Some(Ok(_)) => {}
                other => break other,
            }
        }
    })
    .await
    .expect("the task is still waiting on a peer that does not read");
    assert!(
        matches!(ended, Some(Err(Error::KeepaliveTimeout))),
        "{ended:?}"
    );
    assert!(refused_for_room > 0, "the queue never filled");
    // At most the limit (2 MiB) plus what the kernel's buffers took was echoed, not 32 MiB.
    assert!(echoed < 24, "{echoed} echoes queued");
    assert!(timeout(WAIT, ws.recv()).await.unwrap().is_none());
    // Dropping the stream closes the transport, which ends the client's blocked send.
    drop(ws);
    done.send(()).unwrap();
    client.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_handshake_reaches_a_raw_tcp_client_with_status_and_reason() {
    let listener = sockwright_tokio::bind("127.0.0.1:0", ServerOptions::default())
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let client = spawn_blocking(move || {
        raw_exchange(
            addr,
            b"GET /ws HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n",
        )
    });
    let refused = listener.accept().await.unwrap().handshake().await;
    let Err(Error::Rejected(rejection)) = refused else {
        panic!("{refused:?}");
    };
    let answer = client.await.unwrap();
    assert!(
        answer.starts_with(&format!("HTTP/1.1 {} ", rejection.status())),
        "{answer}"
    );
    assert!(
        rejection.status() >= 400 && answer.contains(rejection.reason()),
        "{answer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_hook_routes_refuses_and_answers() {
    let options = ServerOptions::default().with_hook(|req| match req.path() {
        "/ws" => Route::Upgrade(vec![("X-Room".into(), "lobby".into())]),
        "/ping" => Route::Respond(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\npong".to_vec()),
        other => Route::Reject(Rejection::not_found(other)),
    });
    let addr = echo_server(options).await;
    let mut ws = sockwright_tokio::connect(&format!("ws://{addr}/ws"), ClientOptions::default())
        .await
        .unwrap();
    let Handshake::Client { response, .. } = ws.handshake() else {
        panic!("not a client handshake");
    };
    assert_eq!(response.header("x-room"), Some(&b"lobby"[..]));
    close_and_expect_reply(&mut ws).await;
    let missing =
        sockwright_tokio::connect(&format!("ws://{addr}/nope"), ClientOptions::default()).await;
    assert!(matches!(missing, Err(Error::Handshake(_))), "{missing:?}");
    let answer =
        spawn_blocking(move || raw_exchange(addr, b"GET /ping HTTP/1.1\r\nHost: h\r\n\r\n"))
            .await
            .unwrap();
    assert!(answer.ends_with("\r\n\r\npong"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wss_server_answers_a_tungstenite_client_over_rustls() {
    let addr = echo_server(tls_server_options()).await;
    let roots = tls_client_options().tls;
    spawn_blocking(move || {
        let mut ws = tungstenite_client(addr, &format!("wss://localhost:{}/", addr.port()), roots);
        exchange_with_echo_server(&mut ws);
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wss_client_talks_to_a_tungstenite_server_over_rustls() {
    let (addr, server) = tungstenite_server(tls_server_options().tls, None);
    let url = format!("wss://localhost:{}/secure", addr.port());
    let mut ws = sockwright_tokio::connect(&url, tls_client_options())
        .await
        .unwrap();
    let big = vec![3u8; 200_000];
    ws.send(big.clone()).await.unwrap();
    assert_eq!(
        ws.recv().await.unwrap().unwrap(),
        Message::Binary(big.into())
    );
    close_and_expect_reply(&mut ws).await;
    let seen = spawn_blocking(move || server.join().unwrap())
        .await
        .unwrap();
    assert_eq!((seen.path.as_str(), seen.messages), ("/secure", 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recv_is_cancel_safe_under_timeout_and_select() {
    let messages: Vec<Vec<u8>> = (0..40u8)
        .map(|i| vec![i; 50_000 + usize::from(i)])
        .collect();
    let sent = messages.iter().cloned().map(TMessage::binary).collect();
    let (addr, server) = trickling_server(sent);
    let url = format!("ws://{addr}/");
    let mut ws = sockwright_tokio::connect(&url, ClientOptions::default())
        .await
        .unwrap();
    let mut received = Vec::new();
    let mut cancelled = 0;
    loop {
        // Alternate a timeout and a select against a short sleep: both drop `recv` often,
        // in the middle of messages.
        let item = if cancelled % 2 == 0 {
            match timeout(Duration::from_micros(500), ws.recv()).await {
                Ok(item) => item,
                Err(_) => {
                    cancelled += 1;
                    continue;
                }
            }
        } else {
            tokio::select! {
                item = ws.recv() => item,
                _ = tokio::time::sleep(Duration::from_micros(700)) => {
                    cancelled += 1;
                    continue;
                }
            }
        };
        match item {
            Some(Ok(Message::Binary(data))) => received.push(data.to_vec()),
            // tungstenite's `close(None)` sends a close frame without a code.
            Some(Ok(Message::Close(frame))) => assert_eq!(frame, None),
            None => break,
            other => panic!("{other:?}"),
        }
    }
    assert!(cancelled > 10, "only {cancelled} cancellations");
    assert!(
        received == messages,
        "messages lost or damaged across cancellations"
    );
    spawn_blocking(move || server.join().unwrap())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_code_and_reason_reach_the_peer() {
    let (addr, server) = tungstenite_server(None, None);
    let mut ws = sockwright_tokio::connect(&format!("ws://{addr}/"), ClientOptions::default())
        .await
        .unwrap();
    let frame = CloseFrame {
        code: CloseCode(4001),
        reason: "bye".into(),
    };
    ws.send(Message::Close(Some(frame))).await.unwrap();
    let reply = timeout(WAIT, ws.recv()).await.unwrap();
    assert!(matches!(&reply, Some(Ok(Message::Close(Some(f)))) if f.code == CloseCode(4001)));
    assert!(ws.recv().await.is_none());
    let sent = ws.send("after").await;
    assert!(
        matches!(sent, Err(Error::Send(SendError::Closed))),
        "{sent:?}"
    );
    spawn_blocking(move || server.join().unwrap())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_timeouts_bound_silent_peers_both_ways() {
    let mut options = ServerOptions::default();
    options.handshake_timeout = Duration::from_millis(200);
    let listener = sockwright_tokio::bind("127.0.0.1:0", options)
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let _silent = std::net::TcpStream::connect(addr).unwrap();
    let accepted = timeout(WAIT, listener.accept().await.unwrap().handshake()).await;
    assert!(
        matches!(accepted, Ok(Err(Error::HandshakeTimeout))),
        "{accepted:?}"
    );

    // A server that takes the TCP connection (the kernel does) but never answers.
    let mute = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut options = ClientOptions::default();
    options.handshake_timeout = Duration::from_millis(200);
    let url = format!("ws://{}/", mute.local_addr().unwrap());
    let connected = timeout(WAIT, sockwright_tokio::connect(&url, options)).await;
    assert!(
        matches!(connected, Ok(Err(Error::HandshakeTimeout))),
        "{connected:?}"
    );
}
