//! The std runner (`sockwright-std`): an accept thread, then for each connection a thread
//! that runs the handshake and reads, and a writer thread that writes what the outbox
//! queues for it.
//!
//! Replies from the connection's own callbacks are sent from its reading thread with the
//! adapter's blocking send, so a peer that does not read stops being read (backpressure).
//! Hub frames are queued in the connection by the publishing thread itself, with the hub's
//! slow-consumer policy (it never blocks there), and written by the writer thread.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use sockwright::frame::SharedFrame;
use sockwright::hub::{Delivery, HubConfig};
use sockwright_driver::{Error, Message, ServerOptions};
use sockwright_std::Sender;
use tracing::{debug, warn};

use super::shared::Shared;
use super::{is_transient, Running, ACCEPT_BACKOFF};
use crate::app::{Conn, End, Reply};
use crate::mailbox::{Mailbox, Outgoing};
use crate::outbox::{Peer, Undelivered};

/// How long stopping waits to connect to its own listener to wake the accept thread.
const WAKE_TIMEOUT: Duration = Duration::from_secs(1);

struct StdServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

pub(crate) fn start(
    shared: Arc<Shared>,
    addr: SocketAddr,
    options: Arc<ServerOptions>,
) -> io::Result<Box<dyn Running>> {
    listen(addr, "sockwright-conn", move |stream, peer| {
        let (shared, options) = (shared.clone(), options.clone());
        move || connection(&shared, stream, peer, options)
    })
}

/// Binds `addr` and accepts on a thread of its own; each connection gets a thread named
/// `thread_name` running what `serve` makes of it.
pub(crate) fn listen<S, C>(
    addr: SocketAddr,
    thread_name: &'static str,
    serve: S,
) -> io::Result<Box<dyn Running>>
where
    S: Fn(TcpStream, SocketAddr) -> C + Send + 'static,
    C: FnOnce() + Send + 'static,
{
    let listener = TcpListener::bind(addr)?;
    let addr = listener.local_addr()?;
    let stop = Arc::new(AtomicBool::new(false));
    let stopping = stop.clone();
    thread::Builder::new()
        .name("sockwright-accept".into())
        .spawn(move || accept_loop(&listener, thread_name, &serve, &stopping))?;
    Ok(Box::new(StdServer { addr, stop }))
}

fn accept_loop<S, C>(listener: &TcpListener, thread_name: &str, serve: &S, stop: &AtomicBool)
where
    S: Fn(TcpStream, SocketAddr) -> C,
    C: FnOnce() + Send + 'static,
{
    loop {
        let accepted = listener.accept();
        if stop.load(Ordering::Acquire) {
            return; // the listener closes as the thread ends
        }
        match accepted {
            Ok((stream, peer)) => {
                let spawned = thread::Builder::new()
                    .name(thread_name.into())
                    .spawn(serve(stream, peer));
                if let Err(e) = spawned {
                    warn!(peer = %peer, "no thread for the connection: {e}");
                }
            }
            Err(e) if is_transient(&e) => {}
            Err(e) => {
                warn!("accept failed: {e}");
                thread::sleep(ACCEPT_BACKOFF);
            }
        }
    }
}

/// One connection, on its own thread: handshake, then read until it ends.
fn connection(shared: &Shared, stream: TcpStream, peer: SocketAddr, options: Arc<ServerOptions>) {
    let close_timeout = options.connection.close_timeout;
    let mut ws = match sockwright_std::accept(stream, options) {
        Ok(ws) => ws,
        Err(e) => return shared.not_upgraded(peer, &e),
    };
    let (mailbox, mut rx) = Mailbox::new(shared.mailbox_limit);
    let handshake = ws.handshake().clone();
    let outbound = StdPeer {
        mailbox,
        sender: ws.sender(),
    };
    let id = shared.opened(peer, &handshake, Arc::new(outbound));
    let mut reply = BlockingReply(ws.sender());
    shared.app.on_open(
        &mut Conn::new(id, peer, &mut reply, &shared.outbox),
        &handshake,
    );
    // Started after on_open, so that the outbox's messages (queued meanwhile) follow its
    // replies, as on the other runtimes.
    let writer = ws.sender();
    // Dropped as the writer thread ends.
    let (writer_alive, writer_done) = mpsc::channel::<()>();
    let spawned = thread::Builder::new()
        .name("sockwright-write".into())
        .spawn(move || {
            let _alive = writer_alive;
            // Ends when the connection leaves the outbox (the mailbox is dropped).
            while let Some(item) = rx.recv_blocking() {
                let written = match item {
                    Outgoing::Message(message) => writer.send(message),
                    Outgoing::Shared(frame, config) => {
                        let _ = writer.deliver_shared(&config, &frame);
                        writer.flush()
                    }
                    Outgoing::Flush => writer.flush(),
                };
                if let Err(e) = written {
                    debug!("outbox message not sent: {e}");
                }
            }
        });
    if let Err(e) = spawned {
        // As when no thread can be started for a connection: it is dropped.
        warn!(conn = %id, "no writer thread for the connection: {e}");
        return shared.closed(id, End::Failed(Error::Io(e)));
    }
    let end = loop {
        match ws.read() {
            Ok(Message::Close(frame)) => break End::Closed(frame),
            Ok(message) if message.is_data() => {
                let mut conn = Conn::new(id, peer, &mut reply, &shared.outbox);
                shared.app.on_message(&mut conn, message);
            }
            Ok(_) => {} // pings (answered by the core) and pongs
            Err(Error::Closed) => break End::Closed(None),
            Err(e) => break End::Failed(e),
        }
    };
    shared.closed(id, end);
    // The writer thread ends once it has written what is queued; a peer that stopped
    // reading would hold it in a socket write for ever (hub frames are queued without
    // waiting for it), so it gets the close timeout, as on the other runtimes, then the
    // transport is cut.
    if let Err(RecvTimeoutError::Timeout) = writer_done.recv_timeout(close_timeout) {
        debug!(conn = %id, "the peer does not read: dropping what is left to write");
        ws.abort();
    }
}

/// The outbox's way to a std connection: messages through the writer thread's mailbox; hub
/// frames queued in the connection at once (the core applies the policy under the
/// session's lock, which is never held across a socket write), then written by the writer
/// thread, so that a publisher never waits for a slow peer.
struct StdPeer {
    mailbox: Mailbox,
    sender: Sender,
}

impl Peer for StdPeer {
    fn deliver(&self, message: Message) -> Result<(), Undelivered> {
        self.mailbox.deliver(message)
    }

    fn deliver_shared(&self, frame: &SharedFrame, config: &Arc<HubConfig>) -> Delivery {
        let delivery = self.sender.deliver_shared(config, frame);
        if matches!(delivery, Delivery::Queued | Delivery::Closed) {
            self.mailbox.wake_writer();
        }
        delivery
    }
}

/// Replies with the adapter's blocking send, on the reading thread.
struct BlockingReply(Sender);

impl Reply for BlockingReply {
    fn reply(&mut self, message: Message) -> Result<(), Error> {
        self.0.send(message)
    }
}

impl Running for StdServer {
    fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    fn stop_accepting(&mut self) {
        if self.stop.swap(true, Ordering::AcqRel) {
            return;
        }
        // Wake the accept thread with a connection of our own; it sees the flag and ends.
        let mut wake = self.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake.ip() {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
            });
        }
        let _ = TcpStream::connect_timeout(&wake, WAKE_TIMEOUT);
    }

    fn finish(self: Box<Self>) {
        // Connection threads that are still running end with the process.
    }
}
