//! One connection as a byte pipe: TLS (optional), then the upgrade handshake, then the
//! WebSocket connection, with no I/O of its own.
//!
//! An adapter drives it with the core's drain invariant, widened to the session: after any
//! input ([`Session::handle_input`], [`Session::handle_eof`], [`Session::handle_timeout`]) or
//! command, take every [`Session::poll_event`], write [`Session::pending_output`] (calling
//! [`Session::advance_output`] with what the socket took), then re-arm the timer from
//! [`Session::poll_timeout`]. Once [`Session::is_finished`] holds and the output is empty,
//! close the socket.

use std::io;
use std::mem;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use sockwright::conn::{Closed, Connection, Event};
use sockwright::frame::{CloseCode, CloseFrame, SharedFrame};
use sockwright::handshake::{
    validate_request, validate_response, ClientRequest, Parsed, Rejection, Request, RequestParser,
    Response, ResponseParser, WsUrl,
};
use sockwright::hub::{self, Delivery, HubConfig};

use crate::body::{BodyHandler, BodyProgress, BodyReader};
use crate::message::Message;
use crate::options::{ClientOptions, Route, ServerOptions};
use crate::random::{random_key, MaskSource};
use crate::Error;

/// What a session reports, in the order it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionEvent {
    /// The handshake completed; [`Session::handshake`] tells what was agreed.
    Opened,
    /// A text or binary message arrived.
    Message(Message),
    /// A ping arrived (the core has queued the pong).
    Ping(Bytes),
    /// A pong arrived.
    Pong(Bytes),
    /// The connection closed: who started it, with which code and reason.
    Closed(Closed),
}

/// What the handshake agreed on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Handshake {
    /// A server session: the client's request head.
    Server {
        /// The upgrade request (path, query, headers such as `Name` or `Topic`).
        request: Request,
        /// The subprotocol chosen, if any.
        subprotocol: Option<String>,
    },
    /// A client session: the server's `101` response head.
    Client {
        /// The response (headers such as `Set-Cookie`).
        response: Response,
        /// The subprotocol the server chose, if any.
        subprotocol: Option<String>,
    },
}

impl Handshake {
    /// The subprotocol agreed on, if any.
    pub fn subprotocol(&self) -> Option<&str> {
        match self {
            Handshake::Server { subprotocol, .. } | Handshake::Client { subprotocol, .. } => {
                subprotocol.as_deref()
            }
        }
    }
}

/// The phases' state sits behind boxes: a session lives by value in slabs and tasks for as
/// long as its connection, so it should be as small as the open phase needs, not as large
/// as the handshake's parsers.
enum Phase {
    /// Server: reading the upgrade request.
    Accepting(Box<Accepting>),
    /// Client: the request is queued; reading the response.
    Connecting(Box<Connecting>),
    /// Server: reading a plain request's body ([`Route::Body`]).
    ReadingBody(Box<BodyReader>),
    Open(Box<Connection>),
    /// The handshake failed or was answered without an upgrade: only output remains.
    Ended,
}

struct Accepting {
    parser: RequestParser,
    options: Arc<ServerOptions>,
}

struct Connecting {
    parser: ResponseParser,
    request: ClientRequest,
    options: Arc<ClientOptions>,
}

/// A WebSocket connection (server or client, plain or TLS) with no I/O of its own.
///
/// The drain invariant: after any input ([`Session::handle_input`], [`Session::handle_eof`],
/// [`Session::handle_timeout`]) or command, take every [`Session::poll_event`], write
/// [`Session::pending_output`] (calling [`Session::advance_output`] with what the socket
/// took), then re-arm the timer from [`Session::poll_timeout`]. Once
/// [`Session::is_finished`] holds and the output is empty, close the transport.
pub struct Session {
    phase: Phase,
    /// Plaintext written before the connection existed (request, response or refusal).
    head_out: Vec<u8>,
    head_pos: usize,
    /// Boxed: rustls' state is about 1.2 KiB, which a plain connection should not carry
    /// inline (sessions sit by value in slabs and tasks).
    #[cfg(feature = "tls")]
    tls: Option<Box<crate::tls::TlsLayer>>,
    deadline: Option<Duration>,
    opened_pending: bool,
    /// The fatal error, until [`Session::poll_event`] reports it (boxed, like the handshake:
    /// most sessions never carry one for long).
    error: Option<Box<Error>>,
    failed: bool,
    handshake: Option<Box<Handshake>>,
}

impl Session {
    /// A server session for a freshly accepted transport.
    pub fn server(options: Arc<ServerOptions>, now: Duration) -> Session {
        let deadline = Some(now + options.handshake_timeout);
        #[cfg(feature = "tls")]
        let tls = options.tls.clone().map(crate::tls::TlsLayer::server);
        let parser = RequestParser::new(options.handshake.limits);
        #[allow(unused_mut)]
        let mut session = Session::new(
            Phase::Accepting(Box::new(Accepting { parser, options })),
            deadline,
        );
        #[cfg(feature = "tls")]
        match tls {
            Some(Ok(tls)) => session.tls = Some(Box::new(tls)),
            Some(Err(e)) => session.fail(e),
            None => {}
        }
        session
    }

    /// A client session for `url`, to run over a transport already connected to
    /// `url.host():url.port()`. The upgrade request is queued at once; `wss` URLs get a TLS
    /// layer with `ClientOptions::tls` or the system's roots.
    pub fn client(
        url: &WsUrl,
        options: Arc<ClientOptions>,
        now: Duration,
    ) -> Result<Session, Error> {
        let bad_header = |e: sockwright::handshake::InvalidHeader| Error::Config(e.to_string());
        let mut request = ClientRequest::new(&url.host_header(), url.target(), random_key())
            .map_err(bad_header)?;
        for protocol in &options.subprotocols {
            request = request.with_subprotocol(protocol).map_err(bad_header)?;
        }
        for (name, value) in &options.headers {
            request = request.with_header(name, value).map_err(bad_header)?;
        }
        let head_out = request.to_bytes();
        let deadline = Some(now + options.handshake_timeout);
        #[cfg(feature = "tls")]
        let tls = match url.is_secure() {
            true => Some(Box::new(crate::tls::TlsLayer::client(
                url.host(),
                options.tls.clone(),
            )?)),
            false => None,
        };
        #[cfg(not(feature = "tls"))]
        if url.is_secure() {
            return Err(Error::Config(
                "wss:// URLs need the adapter's `tls` feature".into(),
            ));
        }
        let parser = ResponseParser::new(options.limits);
        let phase = Phase::Connecting(Box::new(Connecting {
            parser,
            request,
            options,
        }));
        Ok(Session {
            head_out,
            #[cfg(feature = "tls")]
            tls,
            ..Session::new(phase, deadline)
        })
    }

    fn new(phase: Phase, deadline: Option<Duration>) -> Session {
        Session {
            phase,
            head_out: Vec::new(),
            head_pos: 0,
            #[cfg(feature = "tls")]
            tls: None,
            deadline,
            opened_pending: false,
            error: None,
            failed: false,
            handshake: None,
        }
    }

    // ---- inputs ----

    /// Bytes read from the transport.
    pub fn handle_input(&mut self, now: Duration, bytes: &[u8]) {
        #[cfg(feature = "tls")]
        if let Some(mut tls) = self.tls.take() {
            let result = tls.read(bytes, |plain| self.handle_plaintext(now, plain));
            self.tls = Some(tls);
            match result {
                Ok(true) => self.handle_eof(now),
                Ok(false) => {}
                Err(e) => self.fail(e),
            }
            return;
        }
        self.handle_plaintext(now, bytes);
    }

    /// The transport's read side ended (or was reset).
    pub fn handle_eof(&mut self, now: Duration) {
        match &mut self.phase {
            Phase::Accepting(_) | Phase::Connecting(_) | Phase::ReadingBody(_) => {
                self.fail(Error::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the peer left during the handshake",
                )))
            }
            Phase::Open(conn) => conn.handle_eof(now),
            Phase::Ended => {}
        }
    }

    /// The time [`Session::poll_timeout`] asked for has come (early calls do nothing).
    pub fn handle_timeout(&mut self, now: Duration) {
        match &mut self.phase {
            Phase::Accepting(_) | Phase::Connecting(_) | Phase::ReadingBody(_) => {
                if self.deadline.is_some_and(|at| now >= at) {
                    self.fail(Error::HandshakeTimeout);
                }
            }
            Phase::Open(conn) => {
                if let Err(e) = conn.handle_timeout(now) {
                    self.record(e.into());
                }
            }
            Phase::Ended => {}
        }
    }

    fn handle_plaintext(&mut self, now: Duration, bytes: &[u8]) {
        match &mut self.phase {
            Phase::Accepting(accepting) => match accepting.parser.feed(bytes) {
                Ok(Parsed::Partial) => {}
                Ok(Parsed::Complete { head, trailing }) => {
                    let options = accepting.options.clone();
                    self.route(now, head, &trailing, &options);
                }
                Err(rejection) => self.refuse(rejection),
            },
            Phase::Connecting(connecting) => {
                let Connecting {
                    parser,
                    request,
                    options,
                } = &mut **connecting;
                let accepted = match parser.feed(bytes) {
                    Ok(Parsed::Partial) => return,
                    Ok(Parsed::Complete { head, trailing }) => {
                        validate_response(&head, request, options.token_mode).map(|a| (a, trailing))
                    }
                    Err(e) => Err(e),
                };
                match accepted {
                    Ok((accepted, trailing)) => {
                        let mut masks = MaskSource::new();
                        let conn = Connection::client(options.connection.clone(), now, move || {
                            masks.next_key()
                        });
                        self.handshake = Some(Box::new(Handshake::Client {
                            subprotocol: accepted.subprotocol().map(str::to_owned),
                            response: accepted.response().clone(),
                        }));
                        self.open(now, conn, &trailing);
                    }
                    Err(e) => self.fail(Error::Handshake(e)),
                }
            }
            Phase::ReadingBody(_) => {
                if let Phase::ReadingBody(reader) = mem::replace(&mut self.phase, Phase::Ended) {
                    self.body_progress(reader.feed(bytes));
                }
            }
            Phase::Open(conn) => {
                if let Err(e) = conn.handle_read(now, bytes) {
                    self.record(e.into());
                }
            }
            Phase::Ended => {}
        }
    }

    /// A complete request head: ask the hook, then validate and answer.
    fn route(&mut self, now: Duration, request: Request, trailing: &[u8], options: &ServerOptions) {
        let route = match &options.hook {
            Some(hook) => hook(&request),
            None => Route::Upgrade(Vec::new()),
        };
        let headers = match route {
            Route::Upgrade(headers) => headers,
            Route::Reject(rejection) => return self.refuse(rejection),
            Route::Respond(response) => return self.answer(request, &response),
            Route::Body { limit, respond } => {
                return self.read_body(request, limit, respond, trailing)
            }
        };
        let accepted = match validate_request(&request, &options.handshake) {
            Ok(accepted) => accepted,
            Err(rejection) => return self.refuse(rejection),
        };
        let pairs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        match accepted.response_with_headers(&pairs) {
            Ok(response) => self.head_out.extend_from_slice(&response),
            Err(e) => {
                let reason = format!("the server's request hook gave a bad header: {e}");
                return self.refuse(Rejection::new(500, reason));
            }
        }
        self.handshake = Some(Box::new(Handshake::Server {
            subprotocol: accepted.subprotocol().map(str::to_owned),
            request,
        }));
        self.open(
            now,
            Connection::server(options.connection.clone(), now),
            trailing,
        );
    }

    /// Answers a request with plain HTTP (no upgrade): only the response remains to write.
    fn answer(&mut self, request: Request, response: &[u8]) {
        self.head_out.extend_from_slice(response);
        self.handshake = Some(Box::new(Handshake::Server {
            request,
            subprotocol: None,
        }));
        self.phase = Phase::Ended;
    }

    /// [`Route::Body`]: reads the body (with the bytes after the head), within the
    /// handshake deadline, then answers.
    fn read_body(&mut self, request: Request, limit: usize, respond: BodyHandler, trailing: &[u8]) {
        match BodyReader::start(request, limit, respond, trailing) {
            Ok(progress) => self.body_progress(progress),
            Err(rejection) => self.refuse(rejection),
        }
    }

    fn body_progress(&mut self, progress: BodyProgress) {
        match progress {
            BodyProgress::Reading(reader) => self.phase = Phase::ReadingBody(reader),
            BodyProgress::Done(request, response) => self.answer(request, &response),
        }
    }

    fn open(&mut self, now: Duration, conn: Connection, trailing: &[u8]) {
        self.phase = Phase::Open(Box::new(conn));
        self.deadline = None;
        self.opened_pending = true;
        if !trailing.is_empty() {
            self.handle_plaintext(now, trailing);
        }
    }

    fn refuse(&mut self, rejection: Rejection) {
        self.head_out.extend_from_slice(&rejection.response());
        self.fail(Error::Rejected(rejection));
    }

    /// A fatal failure outside the connection: nothing more is read.
    fn fail(&mut self, error: Error) {
        self.phase = Phase::Ended;
        self.record(error);
    }

    /// Keeps the first fatal error (later ones follow from it).
    fn record(&mut self, error: Error) {
        if !self.failed {
            self.failed = true;
            self.error = Some(Box::new(error));
        }
    }

    // ---- commands ----

    /// Sends a message of any kind; `Close(None)` closes with 1000.
    pub fn send(&mut self, message: Message) -> Result<(), Error> {
        match message {
            Message::Text(text) => self.send_text(&text),
            Message::Binary(data) => self.send_binary(&data),
            Message::Ping(data) => Ok(self.connection_mut()?.send_ping(&data)?),
            Message::Pong(data) => Ok(self.connection_mut()?.send_pong(&data)?),
            Message::Close(frame) => match frame {
                Some(CloseFrame { code, reason }) => self.close(code, &reason),
                None => self.close(CloseCode::NORMAL, ""),
            },
        }
    }

    /// Queues a text message.
    pub fn send_text(&mut self, text: &str) -> Result<(), Error> {
        Ok(self.connection_mut()?.send_text(text)?)
    }

    /// Queues a binary message.
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), Error> {
        Ok(self.connection_mut()?.send_binary(data)?)
    }

    /// Queues a server frame encoded once for many connections (a broadcast): the same bytes,
    /// shared, not encoded again. Servers only; it counts against the outbound limit.
    pub fn send_shared(&mut self, frame: &SharedFrame) -> Result<(), Error> {
        Ok(self.connection_mut()?.send_shared(frame)?)
    }

    /// Queues a hub's frame with the hub's slow-consumer policy, as the core's
    /// [`hub::deliver`] decides: queued if the connection has room under
    /// [`HubConfig::max_queued_bytes`] (and its own outbound limit), otherwise closed with the
    /// policy's code or dropped. Never waits; [`Delivery::Gone`] before the handshake is done
    /// or once the connection is closing.
    pub fn deliver_shared(&mut self, config: &HubConfig, frame: &SharedFrame) -> Delivery {
        match &mut self.phase {
            Phase::Open(conn) => hub::deliver(config, frame, conn),
            _ => Delivery::Gone,
        }
    }

    /// Starts the close handshake (idempotent).
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        Ok(self.connection_mut()?.close(code, reason)?)
    }

    fn connection_mut(&mut self) -> Result<&mut Connection, Error> {
        match &mut self.phase {
            Phase::Open(conn) => Ok(conn),
            _ => Err(Error::NotOpen),
        }
    }

    // ---- outputs ----

    /// The next event, then the fatal error (once, after every event before it), then `None`.
    pub fn poll_event(&mut self) -> Option<Result<SessionEvent, Error>> {
        if mem::take(&mut self.opened_pending) {
            return Some(Ok(SessionEvent::Opened));
        }
        if let Phase::Open(conn) = &mut self.phase {
            if let Some(event) = conn.poll_event() {
                return Some(Ok(match event {
                    Event::Message(message) => SessionEvent::Message(message.into()),
                    Event::Ping(data) => SessionEvent::Ping(data),
                    Event::Pong(data) => SessionEvent::Pong(data),
                    Event::Closed(closed) => SessionEvent::Closed(closed),
                }));
            }
        }
        self.error.take().map(|error| Err(*error))
    }

    /// The bytes to write to the transport next (empty when there are none). Call
    /// [`Session::advance_output`] with how many were written.
    pub fn pending_output(&mut self) -> &[u8] {
        #[cfg(feature = "tls")]
        if self.tls.is_some() {
            return self.pending_tls_output();
        }
        if self.head_pos < self.head_out.len() {
            return &self.head_out[self.head_pos..];
        }
        match &mut self.phase {
            Phase::Open(conn) => conn.pending_transmit(),
            _ => &[],
        }
    }

    /// Marks `n` bytes of [`Session::pending_output`] as written.
    pub fn advance_output(&mut self, n: usize) {
        #[cfg(feature = "tls")]
        if let Some(tls) = &mut self.tls {
            tls.advance(n);
            self.trim_head();
            return;
        }
        if self.head_pos < self.head_out.len() {
            self.head_pos += n;
            self.trim_head();
        } else if let Phase::Open(conn) = &mut self.phase {
            conn.advance_transmit(n);
        }
    }

    /// Encrypts up to [`crate::tls::PLAINTEXT_CHUNK`] bytes of plaintext (the head first,
    /// then the connection's frames) when the previous records are written, and closes the
    /// TLS stream (close_notify) once the session is finished and everything is sent.
    #[cfg(feature = "tls")]
    fn pending_tls_output(&mut self) -> &[u8] {
        let finished = self.is_finished();
        let Some(tls) = &mut self.tls else {
            return &[];
        };
        let mut plaintext = Plaintext {
            head: &self.head_out,
            head_pos: &mut self.head_pos,
            phase: &mut self.phase,
        };
        tls.pending_output(&mut plaintext, finished)
    }

    fn trim_head(&mut self) {
        if self.head_pos >= self.head_out.len() && !self.head_out.is_empty() {
            self.head_out = Vec::new();
            self.head_pos = 0;
        }
    }

    /// When [`Session::handle_timeout`] should be called next, on the clock `now` is read from.
    pub fn poll_timeout(&self) -> Option<Duration> {
        match &self.phase {
            Phase::Accepting(_) | Phase::Connecting(_) | Phase::ReadingBody(_) => self.deadline,
            Phase::Open(conn) => conn.poll_timeout(),
            Phase::Ended => None,
        }
    }

    // ---- observers ----

    /// Whether the session is done: once its output is written, close the transport.
    pub fn is_finished(&self) -> bool {
        match &self.phase {
            Phase::Open(conn) => conn.is_finished(),
            Phase::Ended => true,
            _ => false,
        }
    }

    /// Whether the handshake is done and messages may be sent.
    pub fn is_open(&self) -> bool {
        matches!(&self.phase, Phase::Open(conn) if conn.is_open())
    }

    /// Whether the session has failed (the error may not have been polled yet).
    pub fn has_failed(&self) -> bool {
        self.failed
    }

    /// Bytes waiting to be written: the connection's queue plus any handshake bytes.
    pub fn queued_bytes(&self) -> usize {
        let head = self.head_out.len() - self.head_pos;
        #[cfg(feature = "tls")]
        let head = head + self.tls.as_ref().map_or(0, |tls| tls.queued());
        match &self.phase {
            Phase::Open(conn) => head + conn.queued_bytes(),
            _ => head,
        }
    }

    /// Whether a send now would stay within the connection's outbound limit (adapters wait
    /// on this to apply backpressure before sending).
    pub fn has_outbound_room(&self) -> bool {
        match &self.phase {
            Phase::Open(conn) => conn.queued_bytes() < conn.config().max_outbound_bytes,
            _ => true,
        }
    }

    /// What the handshake agreed on, once it completed (also set for a request answered by
    /// [`Route::Respond`]).
    pub fn handshake(&self) -> Option<&Handshake> {
        self.handshake.as_deref()
    }

    /// Takes what the handshake agreed on out of the session, so that its memory (the whole
    /// request or response head) is not kept for the connection's life by an adapter that
    /// hands it to its user once; [`Session::handshake`] is `None` afterwards.
    pub fn take_handshake(&mut self) -> Option<Handshake> {
        self.handshake.take().map(|handshake| *handshake)
    }

    /// The WebSocket connection, once the handshake completed.
    pub fn connection(&self) -> Option<&Connection> {
        match &self.phase {
            Phase::Open(conn) => Some(conn),
            _ => None,
        }
    }
}

/// A session's plaintext on its way to the TLS layer: the head, then the connection's frames.
#[cfg(feature = "tls")]
struct Plaintext<'a> {
    head: &'a [u8],
    head_pos: &'a mut usize,
    phase: &'a mut Phase,
}

#[cfg(feature = "tls")]
impl crate::pipe::Plaintext for Plaintext<'_> {
    fn pending(&mut self) -> &[u8] {
        match self.head.get(*self.head_pos..) {
            Some(head) if !head.is_empty() => head,
            _ => match self.phase {
                Phase::Open(conn) => conn.pending_transmit(),
                _ => &[],
            },
        }
    }

    fn advance(&mut self, n: usize) {
        if *self.head_pos < self.head.len() {
            *self.head_pos += n;
        } else if let Phase::Open(conn) = self.phase {
            conn.advance_transmit(n);
        }
    }
}
