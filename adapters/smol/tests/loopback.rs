//! sockwright-smol over real loopback sockets, against tungstenite in a std thread: echo
//! both ways, headers and subprotocols, split halves, backpressure, keepalive, refused
//! handshakes, wss both ways, and cancel safety of `recv`.

#[path = "../../tokio/tests/common/mod.rs"]
mod common;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::mpsc as std_mpsc;
use std::thread;
use std::time::{Duration, Instant};

use async_executor::Executor;
use async_io::{block_on, Timer};
use common::{
    certs, exchange_with_echo_server, raw_exchange, trickling_server, tungstenite_client,
    tungstenite_server,
};
use futures_lite::future;
use sockwright_smol::sockwright::conn::SendError;
use sockwright_smol::sockwright::frame::{CloseCode, CloseFrame};
use sockwright_smol::sockwright::handshake::Rejection;
use sockwright_smol::{tls, ClientOptions, Error, Handshake, Message, Route, ServerOptions};
use tungstenite::Message as TMessage;

const WAIT: Duration = Duration::from_secs(10);

/// `future`'s output, or `None` after `after` (the future is then dropped).
async fn timeout<F: Future>(after: Duration, future: F) -> Option<F::Output> {
    future::or(async { Some(future.await) }, async {
        Timer::after(after).await;
        None
    })
    .await
}

fn local() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// Serves an echo application on 127.0.0.1:0 in its own thread, a task per connection.
fn echo_server(options: ServerOptions) -> SocketAddr {
    let listener = sockwright_smol::bind(local(), options).unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        let executor = Executor::new();
        block_on(executor.run(async {
            while let Ok(incoming) = listener.accept().await {
                executor
                    .spawn(async move {
                        let Ok(mut ws) = incoming.handshake().await else {
                            return;
                        };
                        while let Some(Ok(message)) = ws.recv().await {
                            if message.is_data() && ws.send(message).await.is_err() {
                                break;
                            }
                        }
                    })
                    .detach();
            }
        }))
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

async fn close_and_expect_reply(ws: &mut sockwright_smol::WebSocketStream) {
    ws.close().await.unwrap();
    let last = timeout(WAIT, ws.recv()).await.unwrap();
    let Some(Ok(Message::Close(Some(frame)))) = last else {
        panic!("expected the close reply, got {last:?}");
    };
    assert_eq!(frame.code, CloseCode::NORMAL);
    assert!(timeout(WAIT, ws.recv()).await.unwrap().is_none());
}

#[test]
fn a_tungstenite_client_gets_every_message_echoed() {
    let addr = echo_server(ServerOptions::default());
    let mut ws = tungstenite_client(addr, &format!("ws://{addr}/echo"), None);
    exchange_with_echo_server(&mut ws);
}

#[test]
fn the_client_talks_to_a_tungstenite_server_with_headers_and_subprotocols() {
    let (addr, server) = tungstenite_server(None, None);
    block_on(async {
        let options = ClientOptions::default()
            .with_header("Name", "alice")
            .with_header("Topic", "news, sport")
            .with_subprotocol("chat.v2")
            .with_subprotocol("chat.v1");
        let url = format!("ws://{addr}/im?user_id=7");
        let mut ws = sockwright_smol::connect(&url, options).await.unwrap();
        assert_eq!(ws.handshake().subprotocol(), Some("chat.v2"));
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
    });
    let seen = server.join().unwrap();
    assert_eq!(seen.path, "/im");
    assert_eq!(seen.header("name"), Some("alice"));
    assert_eq!(seen.header("topic"), Some("news, sport"));
    assert_eq!(seen.messages, 2);
}

#[test]
fn split_halves_read_and_write_concurrently() {
    let (addr, server) = tungstenite_server(None, None);
    const N: usize = 500;
    block_on(async {
        let url = format!("ws://{addr}/");
        let ws = sockwright_smol::connect(&url, ClientOptions::default())
            .await
            .unwrap();
        let (mut reader, mut writer) = ws.split();
        let writing = thread::spawn(move || {
            block_on(async {
                for i in 0..N {
                    writer
                        .send(Message::Text(format!("message {i}")))
                        .await
                        .unwrap();
                }
            });
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
        let mut writer = writing.join().unwrap();
        writer.close().await.unwrap();
        let last = timeout(WAIT, reader.recv()).await.unwrap();
        assert!(
            matches!(last, Some(Ok(Message::Close(Some(_))))),
            "{last:?}"
        );
        assert!(timeout(WAIT, reader.recv()).await.unwrap().is_none());
        let after = writer.send("late").await;
        assert!(
            matches!(after, Err(Error::Send(SendError::Closed))),
            "{after:?}"
        );
    });
    assert_eq!(server.join().unwrap().messages, N);
}

#[test]
fn a_refused_message_surfaces_on_the_writer_and_the_connection_goes_on() {
    let (addr, server) = tungstenite_server(None, None);
    block_on(async {
        let mut options = ClientOptions::default();
        options.connection.max_outbound_bytes = 1000;
        let ws = sockwright_smol::connect(&format!("ws://{addr}/"), options)
            .await
            .unwrap();
        let (mut reader, mut writer) = ws.split();
        let refusal = match writer.send(vec![0u8; 5000]).await {
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
    });
    // Dropping both halves closed the connection normally.
    assert!(server.join().unwrap().messages >= 1);
}

#[test]
fn send_waits_while_the_peer_does_not_read_and_memory_stays_bounded() {
    let (go, wait) = std_mpsc::channel();
    let (addr, server) = tungstenite_server(None, Some(wait));
    let limit = 256 * 1024;
    let (sent, echoes) = block_on(async {
        let mut options = ClientOptions::default();
        options.connection.max_outbound_bytes = limit;
        let mut ws = sockwright_smol::connect(&format!("ws://{addr}/"), options)
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
        assert!(stalled.is_none(), "sends never waited");
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
        ws.close().await.unwrap();
        let mut echoes = 0;
        while let Some(item) = timeout(WAIT, ws.recv()).await.unwrap() {
            match item.unwrap() {
                Message::Binary(_) => echoes += 1,
                Message::Close(_) => {}
                other => panic!("{other:?}"),
            }
        }
        (sent, echoes)
    });
    let seen = server.join().unwrap();
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

#[test]
fn keepalive_closes_a_silent_peer() {
    let listener = sockwright_smol::bind(local(), keepalive_options()).unwrap();
    let addr = listener.local_addr().unwrap();
    let (done, hold) = std_mpsc::channel::<()>();
    let client = thread::spawn(move || {
        // Connects, then neither reads nor answers until told.
        let ws = tungstenite_client(addr, &format!("ws://{addr}/"), None);
        let _ = hold.recv();
        drop(ws);
    });
    block_on(async {
        let mut ws = listener.accept().await.unwrap().handshake().await.unwrap();
        let started = Instant::now();
        let item = timeout(WAIT, ws.recv()).await.unwrap();
        assert!(
            matches!(item, Some(Err(Error::KeepaliveTimeout))),
            "{item:?}"
        );
        assert!(started.elapsed() >= Duration::from_millis(400));
        assert!(timeout(WAIT, ws.recv()).await.unwrap().is_none());
    });
    done.send(()).unwrap();
    client.join().unwrap();
}

#[test]
fn keepalive_runs_in_split_halves_while_the_application_does_not_read() {
    let listener = sockwright_smol::bind(local(), keepalive_options()).unwrap();
    let addr = listener.local_addr().unwrap();
    let client = thread::spawn(move || {
        // A live peer: it reads (tungstenite answers pings) for a second, then says hello.
        let mut ws = tungstenite_client(addr, &format!("ws://{addr}/"), None);
        let until = Instant::now() + Duration::from_secs(1);
        let mut pings = 0;
        while Instant::now() < until {
            if let Ok(TMessage::Ping(_)) = ws.read() {
                pings += 1;
            }
        }
        ws.send(TMessage::text("hello")).unwrap();
        (ws, pings)
    });
    block_on(async {
        let ws = listener.accept().await.unwrap().handshake().await.unwrap();
        let (mut reader, _writer) = ws.split();
        // The application reads nothing until the peer is done.
        while !client.is_finished() {
            Timer::after(Duration::from_millis(20)).await;
        }
        let (_ws, pings) = client.join().unwrap();
        assert!(pings >= 3, "{pings} pings");
        loop {
            match timeout(WAIT, reader.recv()).await.unwrap() {
                Some(Ok(Message::Pong(_))) => {}
                Some(Ok(Message::Text(text))) => break assert_eq!(text, "hello"),
                other => panic!("{other:?}"),
            }
        }
    });
}

#[test]
fn a_refused_handshake_reaches_a_raw_tcp_client_with_status_and_reason() {
    let listener = sockwright_smol::bind(local(), ServerOptions::default()).unwrap();
    let addr = listener.local_addr().unwrap();
    let client = thread::spawn(move || {
        raw_exchange(
            addr,
            b"GET /ws HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n",
        )
    });
    let refused = block_on(async { listener.accept().await.unwrap().handshake().await });
    let Err(Error::Rejected(rejection)) = refused else {
        panic!("{refused:?}");
    };
    let answer = client.join().unwrap();
    assert!(
        answer.starts_with(&format!("HTTP/1.1 {} ", rejection.status())),
        "{answer}"
    );
    assert!(
        rejection.status() >= 400 && answer.contains(rejection.reason()),
        "{answer}"
    );
}

#[test]
fn the_request_hook_routes_refuses_and_answers() {
    let options = ServerOptions::default().with_hook(|req| match req.path() {
        "/ws" => Route::Upgrade(vec![("X-Room".into(), "lobby".into())]),
        "/ping" => Route::Respond(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\npong".to_vec()),
        other => Route::Reject(Rejection::not_found(other)),
    });
    let addr = echo_server(options);
    block_on(async {
        let url = format!("ws://{addr}/ws");
        let mut ws = sockwright_smol::connect(&url, ClientOptions::default())
            .await
            .unwrap();
        let Handshake::Client { response, .. } = ws.handshake() else {
            panic!("not a client handshake");
        };
        assert_eq!(response.header("x-room"), Some(&b"lobby"[..]));
        close_and_expect_reply(&mut ws).await;
        let url = format!("ws://{addr}/nope");
        let missing = sockwright_smol::connect(&url, ClientOptions::default()).await;
        assert!(matches!(missing, Err(Error::Handshake(_))), "{missing:?}");
    });
    let answer = raw_exchange(addr, b"GET /ping HTTP/1.1\r\nHost: h\r\n\r\n");
    assert!(answer.ends_with("\r\n\r\npong"), "{answer}");
}

#[test]
fn a_wss_server_answers_a_tungstenite_client_over_rustls() {
    let addr = echo_server(tls_server_options());
    let url = format!("wss://localhost:{}/", addr.port());
    let mut ws = tungstenite_client(addr, &url, tls_client_options().tls);
    exchange_with_echo_server(&mut ws);
}

#[test]
fn a_wss_client_talks_to_a_tungstenite_server_over_rustls() {
    let (addr, server) = tungstenite_server(tls_server_options().tls, None);
    block_on(async {
        let url = format!("wss://localhost:{}/secure", addr.port());
        let mut ws = sockwright_smol::connect(&url, tls_client_options())
            .await
            .unwrap();
        let big = vec![3u8; 200_000];
        ws.send(big.clone()).await.unwrap();
        assert_eq!(
            ws.recv().await.unwrap().unwrap(),
            Message::Binary(big.into())
        );
        close_and_expect_reply(&mut ws).await;
    });
    let seen = server.join().unwrap();
    assert_eq!((seen.path.as_str(), seen.messages), ("/secure", 1));
}

#[test]
fn recv_is_cancel_safe_under_timeouts() {
    let messages: Vec<Vec<u8>> = (0..40u8)
        .map(|i| vec![i; 50_000 + usize::from(i)])
        .collect();
    let sent = messages.iter().cloned().map(TMessage::binary).collect();
    let (addr, server) = trickling_server(sent);
    let (received, cancelled) = block_on(async {
        let url = format!("ws://{addr}/");
        let mut ws = sockwright_smol::connect(&url, ClientOptions::default())
            .await
            .unwrap();
        let mut received = Vec::new();
        let mut cancelled = 0;
        loop {
            // Races `recv` against a short timer: it is dropped often, mid-message.
            let Some(item) = timeout(Duration::from_micros(500), ws.recv()).await else {
                cancelled += 1;
                continue;
            };
            match item {
                Some(Ok(Message::Binary(data))) => received.push(data.to_vec()),
                // tungstenite's `close(None)` sends a close frame without a code.
                Some(Ok(Message::Close(frame))) => assert_eq!(frame, None),
                None => break,
                other => panic!("{other:?}"),
            }
        }
        (received, cancelled)
    });
    assert!(cancelled > 10, "only {cancelled} cancellations");
    assert!(
        received == messages,
        "messages lost or damaged across cancellations"
    );
    server.join().unwrap();
}

#[test]
fn a_close_code_and_reason_reach_the_peer() {
    let (addr, server) = tungstenite_server(None, None);
    block_on(async {
        let url = format!("ws://{addr}/");
        let mut ws = sockwright_smol::connect(&url, ClientOptions::default())
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
    });
    server.join().unwrap();
}

#[test]
fn handshake_timeouts_bound_silent_peers_both_ways() {
    let mut options = ServerOptions::default();
    options.handshake_timeout = Duration::from_millis(200);
    let listener = sockwright_smol::bind(local(), options).unwrap();
    let addr = listener.local_addr().unwrap();
    let _silent = std::net::TcpStream::connect(addr).unwrap();
    block_on(async {
        let accepted = timeout(WAIT, listener.accept().await.unwrap().handshake()).await;
        assert!(
            matches!(accepted, Some(Err(Error::HandshakeTimeout))),
            "{accepted:?}"
        );

        // A server that takes the TCP connection (the kernel does) but never answers.
        let mute = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut options = ClientOptions::default();
        options.handshake_timeout = Duration::from_millis(200);
        let url = format!("ws://{}/", mute.local_addr().unwrap());
        let connected = timeout(WAIT, sockwright_smol::connect(&url, options)).await;
        assert!(
            matches!(connected, Some(Err(Error::HandshakeTimeout))),
            "{connected:?}"
        );
    });
}
