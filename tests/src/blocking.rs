//! A minimal blocking driver of the sans-IO core over a `TcpStream`: the drain invariant of
//! [`sockwright::conn`] in a plain loop, one thread per connection.

use std::hash::{BuildHasher, RandomState};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use sockwright::conn::{Closed, Config, Connection, Event, Message};
use sockwright::handshake::{
    validate_request, validate_response, ClientRequest, Parsed, RequestParser, ResponseParser,
    ServerConfig, TokenMode,
};

/// Four bytes from the process's randomly keyed hasher: good enough masking keys and handshake
/// nonces for a test tool (the adapters use a real random source).
fn random_u64() -> u64 {
    RandomState::new().hash_one(Instant::now())
}

/// Answers one upgrade request on `stream`. On success returns the server connection and the
/// bytes that followed the request head; on rejection writes the HTTP response and returns
/// `None`.
pub fn accept(
    stream: &mut TcpStream,
    config: &ServerConfig,
) -> io::Result<Option<(Connection, Vec<u8>)>> {
    let mut parser = RequestParser::new(config.limits);
    let mut buf = vec![0; 4096];
    let (head, trailing) = loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(None);
        }
        match parser.feed(&buf[..n]) {
            Ok(Parsed::Partial) => continue,
            Ok(Parsed::Complete { head, trailing }) => break (head, trailing),
            Err(rejection) => {
                stream.write_all(&rejection.response())?;
                return Ok(None);
            }
        }
    };
    match validate_request(&head, config) {
        Ok(accepted) => {
            stream.write_all(&accepted.response())?;
            Ok(Some((
                Connection::server(Config::default(), Duration::ZERO),
                trailing,
            )))
        }
        Err(rejection) => {
            stream.write_all(&rejection.response())?;
            Ok(None)
        }
    }
}

/// Connects to `ws://{addr}{target}` over an open stream. Returns the client connection and
/// the bytes that followed the response head.
pub fn connect(
    stream: &mut TcpStream,
    host: &str,
    target: &str,
) -> io::Result<(Connection, Vec<u8>)> {
    let key = (u128::from(random_u64()) << 64 | u128::from(random_u64())).to_le_bytes();
    let request = ClientRequest::new(host, target, key)
        .map_err(|e| io::Error::new(ErrorKind::InvalidInput, e.to_string()))?;
    stream.write_all(&request.to_bytes())?;
    let mut parser = ResponseParser::new(Default::default());
    let mut buf = vec![0; 4096];
    let (response, trailing) = loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(ErrorKind::UnexpectedEof.into());
        }
        match parser.feed(&buf[..n]) {
            Ok(Parsed::Partial) => continue,
            Ok(Parsed::Complete { head, trailing }) => break (head, trailing),
            Err(e) => return Err(io::Error::new(ErrorKind::InvalidData, e.to_string())),
        }
    };
    validate_response(&response, &request, TokenMode::Tolerant)
        .map_err(|e| io::Error::new(ErrorKind::InvalidData, e.to_string()))?;
    let masks = || random_u64().to_le_bytes()[..4].try_into().unwrap_or([0; 4]);
    Ok((
        Connection::client(Config::default(), Duration::ZERO, masks),
        trailing,
    ))
}

/// Runs `conn` over `stream` until it finishes, calling `on_message` for each message (it may
/// send through the connection). Returns how the connection ended.
pub fn run(
    stream: &mut TcpStream,
    conn: &mut Connection,
    first_bytes: &[u8],
    mut on_message: impl FnMut(&mut Connection, Message),
) -> io::Result<Option<Closed>> {
    stream.set_nodelay(true)?;
    let start = Instant::now();
    let mut buf = vec![0; 64 << 10];
    let mut out = Vec::new();
    let mut closed = None;
    let mut input: &[u8] = first_bytes;
    loop {
        // One input...
        if !input.is_empty() {
            let _ = conn.handle_read(start.elapsed(), input); // a failure is sticky and queues a close frame
        }
        // ...then drain events, then transmit, then re-arm the timer.
        while let Some(event) = conn.poll_event() {
            match event {
                Event::Message(message) => on_message(conn, message),
                Event::Closed(c) => closed = Some(c),
                Event::Ping(_) | Event::Pong(_) => {}
            }
        }
        out.clear();
        conn.poll_transmit(&mut out);
        if !out.is_empty() {
            stream.write_all(&out)?;
        }
        if conn.is_finished() {
            let _ = stream.shutdown(Shutdown::Write);
            // Wait briefly for the peer to close its side, so it sees a clean TCP close.
            stream.set_read_timeout(Some(Duration::from_secs(1)))?;
            while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
            return Ok(closed);
        }
        let timeout = conn.poll_timeout().map(|at| {
            at.saturating_sub(start.elapsed())
                .max(Duration::from_millis(1))
        });
        stream.set_read_timeout(timeout)?;
        match stream.read(&mut buf) {
            Ok(0) => {
                conn.handle_eof(start.elapsed());
                input = &[];
            }
            Ok(n) => input = &buf[..n],
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                let _ = conn.handle_timeout(start.elapsed());
                input = &[];
            }
            // With a read timeout set, a stop and SIGCONT give EINTR: read again.
            Err(e) if e.kind() == ErrorKind::Interrupted => input = &[],
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => {
                conn.handle_eof(start.elapsed());
                input = &[];
            }
            Err(e) => return Err(e),
        }
    }
}

/// Echoes every message back with its own type.
pub fn echo(conn: &mut Connection, message: Message) {
    let _ = match message {
        Message::Text(text) => conn.send_text(&text),
        Message::Binary(data) => conn.send_binary(&data),
    };
}
