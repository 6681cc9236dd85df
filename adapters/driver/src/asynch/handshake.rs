//! The upgrade handshakes, server and client, bounded by the options' handshake timeout.

use std::future::{poll_fn, Future};
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use sockwright::handshake::WsUrl;

use super::io::Conn;
use super::stream::WebSocketStream;
use super::{AsyncTimer, AsyncTransport, Runtime};
use crate::{clock, ClientOptions, Error, ServerOptions, Session, SessionEvent};

/// Runs the server handshake on a freshly accepted `transport`: reads the upgrade request
/// (TLS first when `ServerOptions::tls` is set), asks the request hook, and answers.
///
/// On success the `101` response has been written and the connection is open. A refused
/// request gets the core's HTTP response (status and reason) before this returns
/// [`Error::Rejected`]; a request the hook answered itself returns [`Error::Answered`] once
/// the answer is written. The whole exchange, writing the answer included, is bounded by
/// [`ServerOptions::handshake_timeout`] ([`Error::HandshakeTimeout`]). Not cancel safe:
/// dropping the future drops the connection.
pub async fn accept<T: AsyncTransport, R: Runtime>(
    transport: T,
    options: Arc<ServerOptions>,
) -> Result<WebSocketStream<T, R>, Error> {
    let session = Session::server(options, clock::now());
    handshake(Conn::new(transport, session)).await
}

/// Opens a client connection to `url` (`ws://` or `wss://`): `dial(host, port)` opens the
/// transport (name resolution and TCP connect, in the runtime's way), then the upgrade
/// request is sent with the options' headers and subprotocols, over TLS for `wss://`.
///
/// [`ClientOptions::handshake_timeout`] bounds everything, the dial included
/// ([`Error::HandshakeTimeout`]). A server that refuses the upgrade gives
/// [`Error::Handshake`] with its status and reason. Not cancel safe: dropping the future
/// drops the connection.
pub async fn connect<T, R, F, D>(
    url: &str,
    options: Arc<ClientOptions>,
    dial: F,
) -> Result<WebSocketStream<T, R>, Error>
where
    T: AsyncTransport,
    R: Runtime,
    F: FnOnce(String, u16) -> D,
    D: Future<Output = io::Result<T>>,
{
    let url = WsUrl::parse(url)?;
    let start = clock::now();
    let deadline = start + options.handshake_timeout;
    // The session is made first so that bad headers are refused before any connection; its
    // handshake deadline counts from `start`, so the dial is inside it.
    let session = Session::client(&url, options, start)?;
    let transport = with_deadline::<R, _>(deadline, dial(url.host().to_owned(), url.port()))
        .await
        .ok_or(Error::HandshakeTimeout)??;
    handshake(Conn::new(transport, session)).await
}

/// Runs `future` until it completes (`Some`) or the sessions' clock reaches `deadline`
/// (`None`), e.g. a dial bounded by a handshake timeout.
pub async fn with_deadline<R: Runtime, F: Future>(
    deadline: Duration,
    future: F,
) -> Option<F::Output> {
    let mut future = pin!(future);
    let mut timer = R::timer();
    timer.reset(clock::instant_at(deadline));
    poll_fn(|cx| {
        if let Poll::Ready(output) = future.as_mut().poll(cx) {
            return Poll::Ready(Some(output));
        }
        timer.poll_fire(cx).map(|()| None)
    })
    .await
}

/// How the handshake ended, before the transport is given to the stream or closed.
enum Outcome {
    Open,
    Failed(Error),
}

async fn handshake<T: AsyncTransport, R: Runtime>(
    mut conn: Conn<T, R>,
) -> Result<WebSocketStream<T, R>, Error> {
    // The handshake deadline, kept for writing the answer once the session has no timer.
    let deadline = conn.session.poll_timeout();
    let mut outcome = None;
    poll_fn(|cx| poll_handshake(&mut conn, &mut outcome, deadline, cx)).await?;
    match conn.session.take_handshake() {
        Some(handshake) => Ok(WebSocketStream::new(conn, handshake)),
        None => Err(Error::NotOpen),
    }
}

/// Drives the session until it opens and its output (the `101`, or the TLS handshake's last
/// flight) is written, or it fails and its answer is written.
fn poll_handshake<T: AsyncTransport, R: Runtime>(
    conn: &mut Conn<T, R>,
    outcome: &mut Option<Outcome>,
    deadline: Option<Duration>,
    cx: &mut Context<'_>,
) -> Poll<Result<(), Error>> {
    loop {
        if outcome.is_none() {
            match conn.session.poll_event() {
                Some(Ok(SessionEvent::Opened)) => *outcome = Some(Outcome::Open),
                // Nothing else comes before `Opened`; later events stay in the session.
                Some(Ok(_)) => continue,
                Some(Err(e)) => *outcome = Some(Outcome::Failed(e)),
                None if conn.session.is_finished() => {
                    // The hook answered the request itself (`Route::Respond`).
                    *outcome = Some(Outcome::Failed(Error::Answered));
                }
                None => {}
            }
        }
        let written = conn.poll_write_out(cx);
        if let Poll::Ready(Err(e)) = written {
            return Poll::Ready(Err(match outcome.take() {
                Some(Outcome::Failed(failure)) => failure,
                _ => Error::Io(e),
            }));
        }
        match outcome {
            Some(Outcome::Open) if written.is_ready() => return Poll::Ready(Ok(())),
            Some(Outcome::Failed(_)) if written.is_ready() => {
                if conn.poll_shutdown(cx).is_pending() && !conn.poll_deadline(cx, deadline) {
                    return Poll::Pending;
                }
                return Poll::Ready(Err(take_failure(outcome)));
            }
            Some(_) => {
                // Waiting to write the answer, for no longer than the handshake may last.
                if conn.poll_deadline(cx, deadline) {
                    return Poll::Ready(Err(match outcome.take() {
                        Some(Outcome::Failed(failure)) => failure,
                        _ => Error::HandshakeTimeout,
                    }));
                }
                return Poll::Pending;
            }
            None => {}
        }
        if conn.poll_timer(cx) {
            continue;
        }
        match conn.poll_read_in(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(Error::Io(e))),
            Poll::Pending => return Poll::Pending,
        }
    }
}

fn take_failure(outcome: &mut Option<Outcome>) -> Error {
    match outcome.take() {
        Some(Outcome::Failed(failure)) => failure,
        _ => Error::NotOpen,
    }
}
