//! A single client connection with a blocking face, on a private loop thread.

use std::collections::VecDeque;
use std::io;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use sockwright_driver::sockwright::conn::{Closed, SendError};
use sockwright_driver::sockwright::frame::{CloseCode, CloseFrame};
use sockwright_driver::{ClientOptions, Error, Handshake, Message};

use crate::context::Context;
use crate::event_loop::EventLoop;
use crate::handle::LoopHandle;
use crate::handler::{ConnId, Handler};

/// Connects to a `ws://` or `wss://` URL and completes the handshake, on a loop thread of
/// its own; see [`Client`]. For many connections, use one [`EventLoop`] instead.
pub fn connect(url: &str, options: ClientOptions) -> Result<Client, Error> {
    let (tx, notes) = mpsc::channel();
    let mut event_loop = EventLoop::new(Forward { tx })?;
    let id = event_loop.connect(url, options)?;
    let handle = event_loop.handle();
    let thread = thread::Builder::new()
        .name("sockwright-mio-client".into())
        .spawn(move || {
            let _ = event_loop.run();
        })?;
    let mut client = Client {
        handle,
        id,
        notes,
        stash: VecDeque::new(),
        handshake: None,
        thread: Some(thread),
        done: false,
    };
    match client.notes.recv() {
        Ok(Note::Opened(handshake)) => {
            client.handshake = Some(handshake);
            Ok(client)
        }
        Ok(Note::Ended(Err(e))) => Err(e),
        Ok(_) | Err(_) => Err(Error::Io(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "the connection ended during the handshake",
        ))),
    }
}

/// One client connection, used from any thread with blocking calls: [`send`](Client::send)
/// returns once the message is queued (waiting for room when the outbound queue is full),
/// [`recv`](Client::recv) waits for the next message. Dropping it stops its loop (closing the socket without a close handshake:
/// [`close`](Client::close) first, then read until the final `Close`).
#[derive(Debug)]
pub struct Client {
    handle: LoopHandle,
    id: ConnId,
    notes: Receiver<Note>,
    /// Notes that came while `send` waited for room, for `recv`.
    stash: VecDeque<Note>,
    handshake: Option<Handshake>,
    thread: Option<JoinHandle<()>>,
    done: bool,
}

impl Client {
    /// Sends a message of any kind (`Close` starts the close handshake). Returns once it is
    /// queued; when the outbound queue is full (the server does not read fast enough), waits
    /// until it has drained. Fails with the session's refusal otherwise (e.g.
    /// [`Error::Send`] once the connection is closing).
    pub fn send(&mut self, message: impl Into<Message>) -> Result<(), Error> {
        let mut message = message.into();
        loop {
            match self.handle.send_and_wait(self.id, message) {
                Ok(()) => return Ok(()),
                Err((Error::Send(SendError::OutboundFull { .. }), Some(back))) => {
                    message = back;
                    self.wait_writable()?;
                }
                Err((e, _)) => return Err(e),
            }
        }
    }

    /// Waits for the loop's word that the queue drained, keeping what arrives meanwhile.
    fn wait_writable(&mut self) -> Result<(), Error> {
        loop {
            match self.notes.recv() {
                Ok(Note::Writable) => return Ok(()),
                Ok(note @ Note::Ended(_)) => {
                    self.stash.push_back(note);
                    return Err(Error::Send(SendError::Closed));
                }
                Ok(note) => self.stash.push_back(note),
                Err(_) => return Err(Error::Send(SendError::Closed)),
            }
        }
    }

    /// Starts the close handshake with `code` and `reason`.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        self.send(Message::Close(Some(frame)))
    }

    /// The next message: data, ping or pong, then one final `Close` with the code and
    /// reason the connection ended with (or the error that ended it), then `None`.
    pub fn recv(&mut self) -> Option<Result<Message, Error>> {
        loop {
            if self.done {
                return None;
            }
            let note = match self.stash.pop_front() {
                Some(note) => Some(note),
                None => {
                    let _ = self.handle.resume_reading(self.id);
                    self.notes.recv().ok()
                }
            };
            if let Some(taken) = self.take(note) {
                return Some(taken);
            }
        }
    }

    /// [`Client::recv`], waiting at most `timeout`: then `Some(Err(Error::Io(TimedOut)))`.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Option<Result<Message, Error>> {
        let end = Instant::now() + timeout;
        loop {
            if self.done {
                return None;
            }
            let note = match self.stash.pop_front() {
                Some(note) => Some(note),
                None => {
                    let _ = self.handle.resume_reading(self.id);
                    let left = end.saturating_duration_since(Instant::now());
                    match self.notes.recv_timeout(left) {
                        Ok(note) => Some(note),
                        Err(RecvTimeoutError::Timeout) => {
                            return Some(Err(Error::Io(io::ErrorKind::TimedOut.into())))
                        }
                        Err(RecvTimeoutError::Disconnected) => None,
                    }
                }
            };
            if let Some(taken) = self.take(note) {
                return Some(taken);
            }
        }
    }

    /// What a note means to a reader: `None` for one to skip (a stale `Writable`); the end
    /// of the notes marks the client done.
    fn take(&mut self, note: Option<Note>) -> Option<Result<Message, Error>> {
        match note {
            Some(Note::Message(message)) => Some(Ok(message)),
            Some(Note::Ended(result)) => {
                self.done = true;
                Some(result.map(Message::from))
            }
            Some(Note::Writable) => None,
            Some(Note::Opened(_)) | None => {
                self.done = true;
                None
            }
        }
    }

    /// What the handshake agreed on (the server's response, the subprotocol).
    pub fn handshake(&self) -> Option<&Handshake> {
        self.handshake.as_ref()
    }

    /// The subprotocol the server chose, if any.
    pub fn subprotocol(&self) -> Option<&str> {
        self.handshake.as_ref()?.subprotocol()
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.handle.stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What the private loop tells the client.
#[derive(Debug)]
enum Note {
    Opened(Handshake),
    Message(Message),
    /// The queue drained after a refused send.
    Writable,
    Ended(Result<Closed, Error>),
}

/// The private loop's handler: forwards everything, stops the loop when the connection ends.
struct Forward {
    tx: Sender<Note>,
}

/// It takes one message per [`Client::recv`]: reading pauses after each, and `recv` resumes
/// it. So what the application sends in answer to a message goes out before the loop looks at
/// what followed it (a close or a protocol violation right behind a message), as with a
/// blocking socket.
impl Handler for Forward {
    fn on_open(&mut self, ctx: &mut Context<'_>, id: ConnId, handshake: &Handshake) {
        ctx.pause_reading(id);
        let _ = self.tx.send(Note::Opened(handshake.clone()));
    }

    fn on_message(&mut self, ctx: &mut Context<'_>, id: ConnId, message: Message) {
        ctx.pause_reading(id);
        let _ = self.tx.send(Note::Message(message));
    }

    fn on_writable(&mut self, _: &mut Context<'_>, _: ConnId) {
        let _ = self.tx.send(Note::Writable);
    }

    fn on_close(&mut self, ctx: &mut Context<'_>, _: ConnId, result: Result<Closed, Error>) {
        let _ = self.tx.send(Note::Ended(result));
        ctx.stop();
    }
}
