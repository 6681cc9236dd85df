//! `Route::Body`: a server session reads a plain request's body, bytes in, bytes out, then
//! answers with the handler's response and finishes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sockwright_driver::{BodyHandler, Error, Route, ServerOptions, Session, SessionEvent};

const LIMIT: usize = 64;
const TIMEOUT: Duration = Duration::from_secs(10);

/// A server session whose `/publish` reads bodies of at most [`LIMIT`] bytes and answers
/// `200` with the body's length; every body the handler saw is kept in `seen`.
fn server(seen: &Arc<Mutex<Vec<Vec<u8>>>>) -> Session {
    let seen = seen.clone();
    let respond = BodyHandler::new(move |request, body| {
        seen.lock().unwrap().push(body.to_vec());
        let text = format!(
            "{} {} got {}",
            request.method(),
            request.target(),
            body.len()
        );
        format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{text}",
            text.len()
        )
        .into_bytes()
    });
    let mut options = ServerOptions::default().with_hook(move |request| match request.path() {
        "/publish" => Route::Body {
            limit: LIMIT,
            respond: respond.clone(),
        },
        _ => Route::Upgrade(Vec::new()),
    });
    options.handshake_timeout = TIMEOUT;
    Session::server(Arc::new(options), Duration::ZERO)
}

/// Feeds `pieces` one after the other at time zero; returns everything the session wrote and
/// its events.
fn feed(session: &mut Session, pieces: &[&[u8]]) -> (String, Vec<Result<SessionEvent, Error>>) {
    let mut out = Vec::new();
    let mut events = Vec::new();
    for piece in pieces {
        session.handle_input(Duration::ZERO, piece);
        drain(session, &mut out, &mut events);
    }
    (String::from_utf8(out).unwrap(), events)
}

fn drain(session: &mut Session, out: &mut Vec<u8>, events: &mut Vec<Result<SessionEvent, Error>>) {
    while let Some(event) = session.poll_event() {
        events.push(event);
    }
    loop {
        let pending = session.pending_output();
        if pending.is_empty() {
            break;
        }
        let n = pending.len();
        out.extend_from_slice(pending);
        session.advance_output(n);
    }
}

const HEAD: &str = "POST /publish?topic=news HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n";

#[test]
fn a_body_split_across_reads_is_answered_once_complete() {
    let seen = Arc::default();
    let mut session = server(&seen);
    let (out, events) = feed(&mut session, &[HEAD.as_bytes(), b"hello", b" w"]);
    assert_eq!(out, "", "nothing is answered before the body is complete");
    assert!(events.is_empty());
    assert!(!session.is_finished());
    assert_eq!(
        session.poll_timeout(),
        Some(TIMEOUT),
        "the handshake deadline holds"
    );

    let (out, events) = feed(&mut session, &[b"orld"]);
    assert!(out.ends_with("POST /publish?topic=news got 11"), "{out}");
    assert!(
        events.is_empty(),
        "an answered request is no failure: {events:?}"
    );
    assert!(session.is_finished());
    assert_eq!(*seen.lock().unwrap(), vec![b"hello world".to_vec()]);
    assert!(
        session.handshake().is_some(),
        "the request is kept, as for Route::Respond"
    );
}

#[test]
fn a_body_in_the_same_read_as_the_head_and_pipelined_bytes_after_it() {
    for byte_by_byte in [false, true] {
        let seen = Arc::default();
        let mut session = server(&seen);
        let input = format!("{HEAD}hello worldGET /next HTTP/1.1\r\n\r\n");
        let pieces: Vec<&[u8]> = match byte_by_byte {
            false => vec![input.as_bytes()],
            true => input.as_bytes().chunks(1).collect(),
        };
        let (out, events) = feed(&mut session, &pieces);
        assert_eq!(out.matches("HTTP/1.1").count(), 1, "one response: {out}");
        assert!(out.ends_with("got 11"), "{out}");
        assert!(events.is_empty(), "{events:?}");
        assert!(session.is_finished());
        assert_eq!(*seen.lock().unwrap(), vec![b"hello world".to_vec()]);
    }
}

#[test]
fn an_empty_body() {
    let seen = Arc::default();
    let mut session = server(&seen);
    let head = "POST /publish HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n";
    let (out, _) = feed(&mut session, &[head.as_bytes()]);
    assert!(out.ends_with("got 0"), "{out}");
    assert_eq!(*seen.lock().unwrap(), vec![Vec::<u8>::new()]);
}

#[test]
fn bad_lengths_are_refused_before_any_body_is_read() {
    let rows: &[(&str, &str, &str)] = &[
        (
            "too large",
            "Content-Length: 65\r\n",
            "413 Content Too Large",
        ),
        ("missing", "", "411 Length Required"),
        (
            "chunked",
            "Transfer-Encoding: chunked\r\n",
            "411 Length Required",
        ),
        ("not a number", "Content-Length: ten\r\n", "400 Bad Request"),
    ];
    for (name, headers, status) in rows {
        let seen = Arc::default();
        let mut session = server(&seen);
        let head = format!("POST /publish HTTP/1.1\r\nHost: h\r\n{headers}\r\n");
        let (out, events) = feed(&mut session, &[head.as_bytes(), b"some body"]);
        assert!(
            out.starts_with(&format!("HTTP/1.1 {status}\r\n")),
            "row {name}: {out}"
        );
        assert!(
            matches!(events.as_slice(), [Err(Error::Rejected(_))]),
            "row {name}: {events:?}"
        );
        assert!(session.is_finished(), "row {name}");
        assert!(seen.lock().unwrap().is_empty(), "row {name}");
    }
}

#[test]
fn a_body_that_does_not_arrive_in_time_hits_the_handshake_timeout() {
    let seen = Arc::default();
    let mut session = server(&seen);
    let (_, _) = feed(&mut session, &[HEAD.as_bytes(), b"hel"]);
    session.handle_timeout(TIMEOUT - Duration::from_millis(1));
    assert!(!session.is_finished(), "early timer calls do nothing");
    session.handle_timeout(TIMEOUT);
    let mut out = Vec::new();
    let mut events = Vec::new();
    drain(&mut session, &mut out, &mut events);
    assert!(
        matches!(events.as_slice(), [Err(Error::HandshakeTimeout)]),
        "{events:?}"
    );
    assert!(out.is_empty(), "a stalled client is not written to");
    assert!(session.is_finished());
    assert!(seen.lock().unwrap().is_empty());
}

#[test]
fn a_client_that_leaves_during_the_body_is_a_transport_error() {
    let seen = Arc::default();
    let mut session = server(&seen);
    let (_, _) = feed(&mut session, &[HEAD.as_bytes(), b"hel"]);
    session.handle_eof(Duration::ZERO);
    let mut events = Vec::new();
    drain(&mut session, &mut Vec::new(), &mut events);
    assert!(
        matches!(events.as_slice(), [Err(Error::Io(_))]),
        "{events:?}"
    );
    assert!(seen.lock().unwrap().is_empty());
}

#[test]
fn other_paths_still_upgrade() {
    let seen = Arc::default();
    let mut session = server(&seen);
    let head = "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    let (out, events) = feed(&mut session, &[head.as_bytes()]);
    assert!(out.starts_with("HTTP/1.1 101 "), "{out}");
    assert!(
        matches!(events.as_slice(), [Ok(SessionEvent::Opened)]),
        "{events:?}"
    );
}
