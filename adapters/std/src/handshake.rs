//! Opening a connection: the server's [`accept`], the client's [`connect`] and
//! [`connect_stream`], and the blocking loop that drives a session through its handshake.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use sockwright_driver::sockwright::handshake::WsUrl;
use sockwright_driver::{clock, ClientOptions, Error, ServerOptions, Session, SessionEvent};

use crate::websocket::WebSocket;

/// How many bytes one socket read takes during the handshake.
const READ_CHUNK: usize = 16 * 1024;

/// Runs the server side of the handshake (TLS too, with `ServerOptions::tls`) on a freshly
/// accepted `stream`, in the calling thread, within [`ServerOptions::handshake_timeout`].
///
/// A request the core or the [`ServerOptions::hook`] refuses is answered with the HTTP
/// response the rejection carries and returned as [`Error::Rejected`]; a request the hook
/// answers itself ([`crate::Route::Respond`]) returns [`Error::Answered`] once answered.
pub fn accept(
    stream: TcpStream,
    options: impl Into<Arc<ServerOptions>>,
) -> Result<WebSocket, Error> {
    let session = Session::server(options.into(), clock::now());
    handshake(stream, session)
}

/// Connects to a `ws://` or `wss://` URL (host, port, path and query) and runs the client
/// handshake, with the headers and subprotocols of `options`. The TCP connect, TLS and the
/// upgrade together take at most [`ClientOptions::handshake_timeout`] (the host name lookup
/// is the system's and is not bounded by it). `wss://` needs the `tls` feature.
pub fn connect(url: &str, options: impl Into<Arc<ClientOptions>>) -> Result<WebSocket, Error> {
    let start = clock::now();
    let options = options.into();
    let url = WsUrl::parse(url)?;
    let deadline = start.saturating_add(options.handshake_timeout);
    let session = Session::client(&url, options, start)?;
    let stream = connect_tcp(url.host(), url.port(), deadline)?;
    handshake(stream, session)
}

/// Runs the client handshake for `url` over a `stream` already connected to its host (for
/// example through a proxy), within [`ClientOptions::handshake_timeout`] from now.
pub fn connect_stream(
    stream: TcpStream,
    url: &str,
    options: impl Into<Arc<ClientOptions>>,
) -> Result<WebSocket, Error> {
    let url = WsUrl::parse(url)?;
    let session = Session::client(&url, options.into(), clock::now())?;
    handshake(stream, session)
}

/// Tries each address of `host` in turn until `deadline`.
fn connect_tcp(host: &str, port: u16, deadline: Duration) -> Result<TcpStream, Error> {
    let mut last = None;
    for addr in (host, port).to_socket_addrs()? {
        let left = deadline.saturating_sub(clock::now());
        if left.is_zero() {
            return Err(Error::HandshakeTimeout);
        }
        match TcpStream::connect_timeout(&addr, left) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => {
            Error::HandshakeTimeout
        }
        Some(e) => Error::Io(e),
        None => Error::Io(std::io::Error::new(
            ErrorKind::NotFound,
            format!("no address found for {host}"),
        )),
    })
}

/// Drives `session` over `stream` until the handshake completes or fails. Every socket read
/// and write waits at most until the session's handshake deadline.
fn handshake(mut stream: TcpStream, mut session: Session) -> Result<WebSocket, Error> {
    // Small messages go out at once; WebSocket traffic is mostly request and reply.
    stream.set_nodelay(true)?;
    let mut buf = vec![0; READ_CHUNK];
    loop {
        write_out(&mut stream, &mut session)?;
        match session.poll_event() {
            Some(Ok(SessionEvent::Opened)) => {
                stream.set_read_timeout(None)?;
                stream.set_write_timeout(None)?;
                return WebSocket::new(stream, session);
            }
            // Nothing comes before `Opened`; anything else is left for the reader.
            Some(Ok(_)) => continue,
            Some(Err(e)) => {
                // The refusal (an HTTP response or a TLS alert) was queued with the error.
                let _ = write_out(&mut stream, &mut session);
                let _ = stream.shutdown(Shutdown::Write);
                return Err(e);
            }
            None => {}
        }
        if session.is_finished() {
            // Answered by the request hook, without an upgrade.
            let _ = stream.shutdown(Shutdown::Write);
            return Err(Error::Answered);
        }
        let now = clock::now();
        let wait = match session.poll_timeout() {
            Some(at) if at <= now => {
                session.handle_timeout(now);
                continue;
            }
            Some(at) => Some(at.saturating_sub(now).max(Duration::from_millis(1))),
            None => None,
        };
        stream.set_read_timeout(wait)?;
        match stream.read(&mut buf) {
            Ok(0) => session.handle_eof(clock::now()),
            Ok(n) => session.handle_input(clock::now(), buf.get(..n).unwrap_or_default()),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                session.handle_timeout(clock::now());
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
                ) =>
            {
                session.handle_eof(clock::now());
            }
            Err(e) => return Err(Error::Io(e)),
        }
    }
}

/// Writes everything the session has queued, waiting at most until its deadline.
fn write_out(stream: &mut TcpStream, session: &mut Session) -> Result<(), Error> {
    loop {
        let out = session.pending_output();
        if out.is_empty() {
            return Ok(());
        }
        let now = clock::now();
        let wait = session
            .poll_timeout()
            .map(|at| at.saturating_sub(now).max(Duration::from_millis(1)));
        stream.set_write_timeout(wait)?;
        let out = session.pending_output();
        match stream.write(out) {
            Ok(0) => return Err(Error::Io(ErrorKind::WriteZero.into())),
            Ok(n) => session.advance_output(n),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(Error::HandshakeTimeout);
            }
            Err(e) => return Err(Error::Io(e)),
        }
    }
}
