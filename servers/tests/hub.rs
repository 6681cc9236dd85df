//! The `sockwright hub` binary on each runtime, from the outside: fan-out to many clients in
//! the default room and by topic, users with several sessions, the publish endpoint and its
//! counts, refusals, types kept, and the slow-consumer policy both ways.

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::{get, http, post, tcp, ws, Sockwright, Tcp, STEP};
use sockwright::hub::HubConfig;
use sockwright_servers::hub::HubServer;
use sockwright_servers::{RuntimeKind, Server, ServerOptions};
use tungstenite::client::IntoClientRequest;
use tungstenite::http::HeaderValue;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Error as WsError, Message, WebSocket};

type Client = WebSocket<Tcp>;

/// How many clients share the default room in the fan-out test.
const CROWD: usize = 50;

/// Reads until a text or binary message equal to `want` arrives; gives up after `limit`
/// data messages or a read timeout ([`STEP`]).
fn read_until(client: &mut Client, want: &Message, limit: usize) {
    for _ in 0..limit {
        match client.read() {
            Ok(message) if &message == want => return,
            Ok(_) => {}
            Err(e) => panic!("waiting for {want:?}: {e}"),
        }
    }
    panic!("no {want:?} within {limit} messages");
}

/// Connects to `path` and waits until the hub has registered the session: its own message,
/// sent to its topics, comes back to it (the sender is included).
fn join(addr: SocketAddr, path: &str, headers: &[(&'static str, &str)]) -> Client {
    let mut request = format!("ws://{addr}{path}").into_client_request().unwrap();
    for (name, value) in headers {
        let value = HeaderValue::from_str(value).unwrap();
        request.headers_mut().insert(*name, value);
    }
    let (mut client, _) = tungstenite::client(request, tcp(addr)).expect("connect");
    let hello = Message::text(format!("joined {path}"));
    client.send(hello.clone()).unwrap();
    read_until(&mut client, &hello, 10 * CROWD);
    client
}

/// The next text or binary message, past the `joined …` messages of later sessions in the
/// same topics.
fn next_data(client: &mut Client) -> Message {
    loop {
        match client.read().expect("read") {
            Message::Ping(_) | Message::Pong(_) => {}
            Message::Text(text) if text.starts_with("joined ") => {}
            message => return message,
        }
    }
}

/// `POST` to the publish endpoint; the reply's `(recipients, delivered)`.
fn publish(
    addr: SocketAddr,
    query: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> (usize, usize) {
    let response = post(addr, &format!("/publish{query}"), content_type, body);
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(
        response.contains("Content-Type: application/json\r\n"),
        "{response}"
    );
    let json = response.split("\r\n\r\n").nth(1).unwrap_or_default().trim();
    let number = |key: &str| -> usize {
        let start = json
            .find(&format!("\"{key}\":"))
            .unwrap_or_else(|| panic!("{json}"));
        json[start + key.len() + 3..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .unwrap()
    };
    (number("recipients"), number("delivered"))
}

/// The refusal a WebSocket connection to `path` gets: status and body.
fn refused(addr: SocketAddr, path: &str) -> (u16, String) {
    match ws(addr, path, None) {
        Err(WsError::Http(response)) => {
            let body = response.body().as_deref().unwrap_or_default();
            (
                response.status().as_u16(),
                String::from_utf8_lossy(body).into_owned(),
            )
        }
        other => panic!("{path}: expected a refusal, got {:?}", other.map(|_| ())),
    }
}

/// Everything but the slow consumer, on one server.
fn routing(runtime: &str) {
    let server = Sockwright::hub(&["--runtime", runtime, "--max-queued", "64KiB"]);
    let addr = server.addr;

    // A crowd in the default room: each message reaches every one of them, with its type.
    let mut crowd: Vec<Client> = (0..CROWD)
        .map(|i| join(addr, &format!("/im?user_id=crowd{i}"), &[]))
        .collect();
    let hi = Message::text("hi all");
    crowd[0].send(hi.clone()).unwrap();
    for client in &mut crowd {
        read_until(client, &hi, 2 * CROWD);
    }
    let bytes = Message::binary(vec![0u8, 159, 146, 150, 255]);
    crowd[1].send(bytes.clone()).unwrap();
    for client in &mut crowd {
        assert_eq!(next_data(client), bytes, "binary stays binary");
    }

    // A backend publishes to everyone (no target): text stays text.
    assert_eq!(publish(addr, "", None, b"to everyone"), (CROWD, CROWD));
    for client in &mut crowd {
        assert_eq!(next_data(client), Message::text("to everyone"));
    }
    // Binary: declared, or bytes that are not UTF-8.
    let declared = publish(addr, "", Some("application/octet-stream"), b"raw");
    assert_eq!(declared, (CROWD, CROWD));
    assert_eq!(publish(addr, "", None, &[0xff, 0xfe]), (CROWD, CROWD));
    for client in &mut crowd {
        assert_eq!(next_data(client), Message::binary(b"raw".to_vec()));
        assert_eq!(next_data(client), Message::binary(vec![0xff, 0xfe]));
    }
    let response = post(addr, "/publish", Some("text/plain"), &[0xff]);
    assert!(response.starts_with("HTTP/1.1 400 "), "{response}");

    // Topics, from the query (repeated) and from a Topic header, as a relay forwards them.
    let mut news = join(addr, "/im?user_id=reader&topic=news", &[]);
    let mut both = join(addr, "/im?user_id=fan&topic=news&topic=sport", &[]);
    let mut by_header = join(
        addr,
        "/im?user_id=relayed",
        &[("Topic", "news"), ("Name", "Rel")],
    );
    let mut sport = join(addr, "/im?user_id=runner&topic=sport", &[]);
    assert_eq!(publish(addr, "?topic=news", None, b"headline"), (3, 3));
    for client in [&mut news, &mut both, &mut by_header] {
        read_until(client, &Message::text("headline"), 10);
    }
    // A client's message goes to its topics only: news and sport, not the crowd.
    both.send(Message::text("from the fan")).unwrap();
    for client in [&mut news, &mut both, &mut by_header, &mut sport] {
        read_until(client, &Message::text("from the fan"), 10);
    }
    assert_eq!(publish(addr, "?topic=sport", None, b"score"), (2, 2));
    assert_eq!(
        next_data(&mut sport),
        Message::text("score"),
        "no headline for sport"
    );
    assert_eq!(publish(addr, "?topic=nobody", None, b"void"), (0, 0));
    assert_eq!(
        publish(addr, "?user_id=crowd0", None, b"after topics"),
        (1, 1)
    );
    let next = next_data(&mut crowd[0]);
    assert_eq!(
        next,
        Message::text("after topics"),
        "the crowd hears no topic"
    );

    // A user with two sessions gets a user-targeted publish on both; a disconnect removes
    // only that session.
    let mut ann_phone = join(addr, "/im?user_id=ann&topic=ann-only", &[]);
    let mut ann_laptop = join(addr, "/im?user_id=ann&topic=ann-only", &[]);
    assert_eq!(publish(addr, "?user_id=ann", None, b"for ann"), (2, 2));
    assert_eq!(next_data(&mut ann_phone), Message::text("for ann"));
    assert_eq!(next_data(&mut ann_laptop), Message::text("for ann"));
    ann_phone.close(None).unwrap();
    let mut left = 2;
    for _ in 0..500 {
        left = publish(addr, "?user_id=ann", None, b"still there?").0;
        if left == 1 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(left, 1, "the closed session leaves, the other stays");
    assert_eq!(publish(addr, "?user_id=ann", None, b"last"), (1, 1));
    read_until(&mut ann_laptop, &Message::text("last"), 600);

    // Refusals: no or bad user_id (the core's reasons), a bad publish.
    let (status, body) = refused(addr, "/im");
    assert_eq!(status, 400);
    assert!(body.contains("user_id is required"), "{body}");
    let (status, body) = refused(addr, "/im?topic=news");
    assert_eq!(status, 400, "{body}");
    let (status, body) = refused(addr, "/im?user_id=");
    assert_eq!((status, body.trim()), (400, "user id is empty"));
    let (status, body) = refused(addr, "/im?user_id=a%0Ab");
    assert_eq!(status, 400);
    assert!(body.contains("control character"), "{body}");
    let (status, body) = refused(addr, "/im?user_id=a&user_id=b");
    assert_eq!(status, 400);
    assert!(body.contains("more than once"), "{body}");
    let response = post(addr, "/publish?topic=a&user_id=b", None, b"x");
    assert!(response.starts_with("HTTP/1.1 400 "), "{response}");
    // Larger than --max-queued: refused from its Content-Length, before the body is read.
    let response = http(
        tcp(addr),
        &format!("POST /publish HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 70000\r\n\r\n"),
    );
    assert!(
        response.starts_with("HTTP/1.1 413 Content Too Large\r\n"),
        "{response}"
    );
    assert!(response.contains("70000 bytes"), "{response}");
    let response = http(
        tcp(addr),
        &format!("POST /publish HTTP/1.1\r\nHost: {addr}\r\n\r\n"),
    );
    assert!(response.starts_with("HTTP/1.1 411 "), "{response}");
    let response = get(addr, "/publish");
    assert!(response.starts_with("HTTP/1.1 405 "), "{response}");
    assert!(response.contains("\r\nAllow: POST\r\n"), "{response}");

    // Plain pages.
    assert!(get(addr, "/ping").ends_with("\r\n\r\npong\n"));
    let page = get(addr, "/");
    assert!(page.contains("<h1>sockwright hub</h1>"), "{page}");
    assert!(page.contains("/im?user_id="), "{page}");
    assert!(get(addr, "/nope").starts_with("HTTP/1.1 404 "));
    let mut plain = tcp(addr);
    plain
        .write_all(format!("GET /im?user_id=x HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .unwrap();
    let mut response = String::new();
    plain.read_to_string(&mut response).unwrap();
    assert!(
        response.starts_with("HTTP/1.1 400 "),
        "a plain GET: {response}"
    );
}

/// The size of each message in the slow-consumer tests, and how many are published: far
/// more than the slow client's socket buffers and its queue (`--max-queued 256KiB`) hold.
const BIG: usize = 128 << 10;
const COUNT: usize = 256;

/// One reader and one client that stops reading, both in topic `feed`; `COUNT` big messages
/// are published, each after the reader has the one before (so the reader is never behind).
/// Returns the slow client.
fn flood(addr: SocketAddr) -> Client {
    let mut reader = join(addr, "/im?user_id=reader&topic=feed", &[]);
    let slow = join(addr, "/im?user_id=slow&topic=feed", &[]);
    for i in 0..COUNT {
        let body = numbered(i);
        let (recipients, _) = publish(addr, "?topic=feed", Some("application/octet-stream"), &body);
        // The slow session leaves once it has been closed and its close timeout is over.
        assert!((1..=2).contains(&recipients), "{recipients} recipients");
        match next_data(&mut reader) {
            Message::Binary(got) => assert!(got == body, "message {i} arrived whole and in order"),
            other => panic!("message {i}: {other:?}"),
        }
    }
    slow
}

/// A message that says its number.
fn numbered(i: usize) -> Vec<u8> {
    let mut body = vec![(i % 251) as u8; BIG];
    body[..8].copy_from_slice(&(i as u64).to_be_bytes());
    body
}

fn number(data: &[u8]) -> usize {
    u64::from_be_bytes(data[..8].try_into().unwrap()) as usize
}

/// How a client that caught up found its connection.
#[derive(Debug, PartialEq)]
enum Ending {
    /// Open: `stop` arrived after the binary messages.
    Open,
    /// A close frame with this code.
    Closed(Option<CloseCode>),
    /// The transport ended without a close frame.
    Dropped(String),
}

/// What a client that catches up reads: the numbers of the messages, in order, then how it
/// ended.
fn catch_up(slow: &mut Client, stop: &Message) -> (Vec<usize>, Ending) {
    let mut seen = Vec::new();
    for _ in 0..COUNT + 2 {
        match slow.read() {
            Ok(Message::Binary(data)) => seen.push(number(&data)),
            Ok(message) if &message == stop => return (seen, Ending::Open),
            Ok(Message::Close(frame)) => return (seen, Ending::Closed(frame.map(|f| f.code))),
            Ok(_) => {}
            Err(e) => return (seen, Ending::Dropped(e.to_string())),
        }
    }
    panic!("more messages than were published: {seen:?}");
}

fn slow_consumer_is_closed(runtime: &str) {
    let server = Sockwright::hub(&[
        "--runtime",
        runtime,
        "--max-queued",
        "256KiB",
        "--ping-interval",
        "0",
    ]);
    let mut slow = flood(server.addr);
    let (seen, end) = catch_up(&mut slow, &Message::text("unreachable"));
    assert!(
        seen.len() < COUNT,
        "it missed messages: it got {}",
        seen.len()
    );
    assert!(
        seen.windows(2).all(|w| w[0] + 1 == w[1]),
        "a prefix, in order: {seen:?}"
    );
    // The close frame (1013, try again later) when it catches up in time; a dropped
    // connection once its close timeout has passed.
    assert!(
        matches!(
            end,
            Ending::Closed(Some(CloseCode::Again)) | Ending::Dropped(_)
        ),
        "closed with 1013 or dropped: {end:?}"
    );
}

fn slow_consumer_with_drop_stays_open(runtime: &str) {
    let server = Sockwright::hub(&[
        "--runtime",
        runtime,
        "--max-queued",
        "256KiB",
        "--ping-interval",
        "0",
        "--slow-consumer",
        "drop",
    ]);
    let mut slow = flood(server.addr);
    let still = Message::text("still here");
    assert_eq!(
        publish(server.addr, "?user_id=slow", None, b"still here"),
        (1, 1)
    );
    let (seen, end) = catch_up(&mut slow, &still);
    assert_eq!(end, Ending::Open, "open, and it gets new messages");
    assert!(
        seen.len() < COUNT,
        "messages were dropped for it: it got {}",
        seen.len()
    );
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "in order: {seen:?}");
}

/// In process, with a short close timeout: a subscriber that stops reading for good is
/// closed as a slow consumer and, once its close timeout has passed, its transport is cut,
/// so that nothing (a writer thread, a task, a socket) waits for it for ever. When it reads
/// at last it finds its buffered messages and the end of the stream, not the close frame
/// that was queued behind them.
fn dead_subscriber_is_cut_off(runtime: RuntimeKind) {
    let close_timeout = Duration::from_millis(300);
    let mut config = HubConfig::default();
    config.max_queued_bytes = 256 << 10;
    let app = Arc::new(HubServer::new(config).unwrap());
    let mut options = ServerOptions::default();
    options.connection.close_timeout = close_timeout;
    let addr = "127.0.0.1:0".parse().unwrap();
    let server = Server::start(app.clone(), runtime, addr, options).unwrap();
    let mut slow = flood(server.local_addr());
    let deadline = Instant::now() + STEP;
    while app.sessions() > 1 {
        assert!(
            Instant::now() < deadline,
            "the slow session was never closed"
        );
        thread::sleep(Duration::from_millis(10));
    }
    // Its close timeout, and then some, for the runner to let go of the transport.
    thread::sleep(close_timeout + Duration::from_secs(2));
    let (seen, end) = catch_up(&mut slow, &Message::text("unreachable"));
    assert!(seen.len() < COUNT, "it got {}", seen.len());
    // Cut off; its 1013 close frame may have made it into the socket buffers before the cut
    // when the kernel had room for it (on a loaded machine, sometimes).
    assert!(
        matches!(
            end,
            Ending::Dropped(_) | Ending::Closed(Some(CloseCode::Again))
        ),
        "cut off: {end:?}"
    );
}

macro_rules! on_each_runtime {
    ($($name:ident: $runtime:literal, $kind:ident;)*) => {$(
        mod $name {
            #[test]
            fn fan_out_topics_users_publish_and_refusals() {
                super::routing($runtime);
            }

            #[test]
            fn a_slow_consumer_is_closed_with_1013_and_the_reader_gets_everything() {
                super::slow_consumer_is_closed($runtime);
            }

            #[test]
            fn with_drop_a_slow_consumer_misses_messages_but_stays_open() {
                super::slow_consumer_with_drop_stays_open($runtime);
            }

            #[test]
            fn a_subscriber_that_never_reads_again_is_cut_off_after_its_close_timeout() {
                super::dead_subscriber_is_cut_off(super::RuntimeKind::$kind);
            }
        }
    )*};
}

on_each_runtime! {
    std_runtime: "std", Std;
    mio_runtime: "mio", Mio;
    smol_runtime: "smol", Smol;
    tokio_runtime: "tokio", Tokio;
}
