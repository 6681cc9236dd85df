//! [`LoopHandle`]: reaching a loop from other threads, through a channel and a mio `Waker`.

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, OnceLock};
use std::thread::{self, ThreadId};

use mio::Waker;
use sockwright_driver::sockwright::frame::{CloseCode, CloseFrame, SharedFrame};
use sockwright_driver::sockwright::handshake::WsUrl;
use sockwright_driver::sockwright::hub::HubConfig;
use sockwright_driver::{ClientOptions, Error, Message, ServerOptions};

use crate::handler::ConnId;

/// A send refused by the loop, with the message when the loop could give it back.
pub(crate) type Refused = (Error, Option<Message>);

/// What other threads ask of a loop.
pub(crate) enum Command {
    /// Send `message` to `id`; the verdict goes to `reply` (a refused message with it),
    /// else a refusal goes to [`crate::Handler::on_undelivered`].
    Send {
        id: ConnId,
        message: Message,
        reply: Option<Sender<Result<(), Refused>>>,
    },
    /// Queue a hub's frame on each of `ids` with the hub's slow-consumer policy.
    DeliverShared {
        ids: Vec<ConnId>,
        frame: SharedFrame,
        config: Arc<HubConfig>,
    },
    /// Start a client connection to one of `addrs` (resolved by the caller).
    Connect {
        url: WsUrl,
        addrs: Vec<SocketAddr>,
        options: Arc<ClientOptions>,
        reply: Sender<Result<ConnId, Error>>,
    },
    /// Serve a connection another loop accepted.
    Adopt {
        stream: mio::net::TcpStream,
        peer: SocketAddr,
        options: Arc<ServerOptions>,
    },
    /// Pause or resume reading from `id`.
    Pause { id: ConnId, paused: bool },
    /// Close the loop's listener; say so on `done` once it is closed.
    StopAccepting { done: Sender<()> },
    /// Stop the loop.
    Stop,
}

/// A thread-safe, cloneable handle to an event loop: send to its connections, open client
/// connections on it, or stop it, from any thread.
///
/// Commands are queued and the loop is woken (once for all the commands it has not taken
/// yet); they run in order on the loop's thread, which then writes each connection once.
/// [`send`](LoopHandle::send) and [`close`](LoopHandle::close) return once queued: a
/// refusal by the connection (gone, closing, outbound queue full) is handed back to the
/// handler's [`on_undelivered`](crate::Handler::on_undelivered). Every method fails with
/// [`Error::Io`] (`BrokenPipe`) once the loop has stopped.
#[derive(Clone)]
pub struct LoopHandle {
    tx: Sender<Command>,
    waker: Arc<Waker>,
    /// Set by the first command since the loop last took its queue, which wakes the loop;
    /// the commands after it skip the wake-up (a system call each: a hub's fan-out to
    /// thousands of connections queues thousands of commands at once).
    woken: Arc<AtomicBool>,
    /// The thread running the loop, once it runs.
    thread: Arc<OnceLock<ThreadId>>,
}

impl fmt::Debug for LoopHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopHandle")
            .field("thread", &self.thread.get())
            .finish_non_exhaustive()
    }
}

impl LoopHandle {
    pub(crate) fn new(tx: Sender<Command>, waker: Waker) -> LoopHandle {
        LoopHandle {
            tx,
            waker: Arc::new(waker),
            woken: Arc::new(AtomicBool::new(false)),
            thread: Arc::new(OnceLock::new()),
        }
    }

    /// Called by the loop just before it takes its queue: the next command wakes it again.
    /// A swap, not a store, so that the loop acquires every command queued by a sender that
    /// found the flag set and skipped its wake-up.
    pub(crate) fn commands_taken(&self) {
        self.woken.swap(false, Ordering::AcqRel);
    }

    /// Wakes the loop unless a wake-up is already on its way.
    fn wake(&self) -> io::Result<()> {
        if self.woken.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.waker.wake().inspect_err(|_| {
            // Let the next command try again.
            self.woken.store(false, Ordering::Release);
        })
    }

    /// Records the thread that runs the loop.
    pub(crate) fn set_loop_thread(&self) {
        let _ = self.thread.set(thread::current().id());
    }

    /// Queues `message` for connection `id`.
    pub fn send(&self, id: ConnId, message: impl Into<Message>) -> Result<(), Error> {
        self.command(Command::Send {
            id,
            message: message.into(),
            reply: None,
        })
    }

    /// Queues a hub's frame for connection `id`, as
    /// [`Context::deliver_shared`](crate::Context::deliver_shared) does on the loop: the
    /// slow-consumer policy applies there, when the loop takes the command, so a connection
    /// found full then is closed or skipped as the policy says, and nothing is handed back.
    pub fn deliver_shared(
        &self,
        id: ConnId,
        config: Arc<HubConfig>,
        frame: SharedFrame,
    ) -> Result<(), Error> {
        self.deliver_shared_to(vec![id], config, frame)
    }

    /// Queues a hub's frame for each of `ids`, as [`LoopHandle::deliver_shared`] does for
    /// one, in one command: a hub's fan-out to thousands of connections of this loop costs
    /// one hand-over, and the loop then writes each connection once.
    pub fn deliver_shared_to(
        &self,
        ids: Vec<ConnId>,
        config: Arc<HubConfig>,
        frame: SharedFrame,
    ) -> Result<(), Error> {
        self.command(Command::DeliverShared { ids, frame, config })
    }

    /// Starts the close handshake of connection `id` with `code` and `reason`.
    pub fn close(&self, id: ConnId, code: CloseCode, reason: &str) -> Result<(), Error> {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        self.send(id, Message::Close(Some(frame)))
    }

    /// Sends and waits for the connection's verdict (not for the bytes to be written).
    pub(crate) fn send_and_wait(&self, id: ConnId, message: Message) -> Result<(), Refused> {
        self.refuse_on_loop_thread("send_and_wait")
            .map_err(|e| (e, None))?;
        let (reply, verdict) = mpsc::channel();
        self.command(Command::Send {
            id,
            message,
            reply: Some(reply),
        })
        .map_err(|e| (e, None))?;
        verdict.recv().unwrap_or_else(|_| Err((stopped(), None)))
    }

    /// Opens a client connection on the loop: resolves the URL's host here, on the calling
    /// thread, then waits until the loop has started connecting and returns the new id. The
    /// handler hears `on_open` or `on_close` for it. Call [`crate::Context::connect`]
    /// instead on the loop's own thread (this refuses with [`Error::Config`] there rather
    /// than wait for itself), and [`crate::EventLoop::connect`] before the loop runs: this
    /// waits for the loop to take the command.
    pub fn connect(&self, url: &str, options: ClientOptions) -> Result<ConnId, Error> {
        self.refuse_on_loop_thread("connect")?;
        let url = WsUrl::parse(url)?;
        let addrs = resolve(&url)?;
        let (reply, verdict) = mpsc::channel();
        self.command(Command::Connect {
            url,
            addrs,
            options: Arc::new(options),
            reply,
        })?;
        verdict.recv().unwrap_or_else(|_| Err(stopped()))
    }

    /// [`Context::pause_reading`](crate::Context::pause_reading) from another thread.
    pub fn pause_reading(&self, id: ConnId) -> Result<(), Error> {
        self.command(Command::Pause { id, paused: true })
    }

    /// [`Context::resume_reading`](crate::Context::resume_reading) from another thread.
    pub fn resume_reading(&self, id: ConnId) -> Result<(), Error> {
        self.command(Command::Pause { id, paused: false })
    }

    /// Closes the loop's listener, if it has one, and waits until it is closed: from then on
    /// connecting to its port is refused, while the connections already accepted are served
    /// on (connections still waiting in the listen backlog are dropped). Refused with
    /// [`Error::Config`] on the loop's own thread (use [`crate::Context::stop_accepting`]
    /// there); fails with [`Error::Io`] once the loop has stopped, which closes it too.
    pub fn stop_accepting(&self) -> Result<(), Error> {
        self.refuse_on_loop_thread("stop_accepting")?;
        let (done, closed) = mpsc::channel();
        self.command(Command::StopAccepting { done })?;
        closed.recv().map_err(|_| stopped())
    }

    /// Asks the loop to stop. Connections still open are dropped (the handler hears
    /// `on_close` with an `Io` error for each); close them first for a clean stop.
    pub fn stop(&self) {
        let _ = self.command(Command::Stop);
    }

    /// Hands an accepted connection to this loop; gives it back if the loop is gone.
    pub(crate) fn adopt(
        &self,
        stream: mio::net::TcpStream,
        peer: SocketAddr,
        options: Arc<ServerOptions>,
    ) -> Result<(), mio::net::TcpStream> {
        let command = Command::Adopt {
            stream,
            peer,
            options,
        };
        match self.tx.send(command) {
            Ok(()) => {
                let _ = self.wake();
                Ok(())
            }
            Err(mpsc::SendError(Command::Adopt { stream, .. })) => Err(stream),
            Err(_) => Ok(()),
        }
    }

    fn command(&self, command: Command) -> Result<(), Error> {
        self.tx.send(command).map_err(|_| stopped())?;
        self.wake().map_err(Error::Io)
    }

    fn refuse_on_loop_thread(&self, what: &str) -> Result<(), Error> {
        if self.thread.get() == Some(&thread::current().id()) {
            return Err(Error::Config(format!(
                "LoopHandle::{what} was called on the loop's own thread, where it would wait \
                 for itself; use the Context there"
            )));
        }
        Ok(())
    }
}

/// The error for a loop that has stopped.
pub(crate) fn stopped() -> Error {
    Error::Io(io::Error::new(
        io::ErrorKind::BrokenPipe,
        "the event loop has stopped",
    ))
}

/// The addresses of a URL's host (a blocking lookup for names; none for IP literals).
pub(crate) fn resolve(url: &WsUrl) -> Result<Vec<SocketAddr>, Error> {
    let addrs: Vec<SocketAddr> = (url.host(), url.port()).to_socket_addrs()?.collect();
    if addrs.is_empty() {
        return Err(Error::Io(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{} has no address", url.host()),
        )));
    }
    Ok(addrs)
}
