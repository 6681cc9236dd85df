//! What the reader and every sender share: the session, and the socket's write half.
//!
//! Two locks, always taken in this order: the write lock (held for as long as a socket write
//! takes), then the session lock (held only to give the session input, queue a message, or
//! copy out the next bytes to write). So a sender blocked in a socket write never stops the
//! reader from handing input to the session.
//!
//! Senders write and wait for room (their backpressure). The reader writes only what fits
//! now ([`Shared::flush`]) and, while output is left, waits for room to write as well as for
//! input: a peer that does not read never stops it from reading.

use std::io::{self, ErrorKind};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, TryLockError};

use std::time::Duration;

use sockwright_driver::{clock, Error, Session};

use crate::ready;

/// How many bytes are copied out of the session per socket write: a few full TLS records,
/// small enough not to double the memory of a large message.
const WRITE_CHUNK: usize = 128 * 1024;

pub(crate) struct Shared {
    session: Mutex<Session>,
    writer: Mutex<Writer>,
    /// Set once the write side is shut down (the session finished and its output is written,
    /// or a write failed): nothing is left to flush.
    write_closed: AtomicBool,
    /// Set while output is left that a write without waiting could not place.
    blocked: AtomicBool,
}

struct Writer {
    stream: TcpStream,
    /// The bytes being written, copied out of the session so that its lock is not held
    /// during the write.
    buf: Vec<u8>,
    /// How much of `buf` is written: a write without waiting may stop part way.
    written: usize,
    /// Once the session has finished while output waited for room: when that output must
    /// be written by (the close timeout from then), or the transport is cut.
    flush_deadline: Option<Duration>,
}

/// How a write waits for room in the socket.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// Until everything is written (a sender).
    Block,
    /// Not at all: what does not fit is left for later (the reader).
    DontWait,
}

/// What a write left.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Written {
    /// Nothing: everything the session had is on the socket.
    All,
    /// Output that did not fit.
    Blocked,
}

impl Shared {
    pub(crate) fn new(session: Session, write_half: TcpStream) -> Shared {
        Shared {
            session: Mutex::new(session),
            writer: Mutex::new(Writer {
                stream: write_half,
                buf: Vec::new(),
                written: 0,
                flush_deadline: None,
            }),
            write_closed: AtomicBool::new(false),
            blocked: AtomicBool::new(false),
        }
    }

    /// The session, for a short critical section. A panic elsewhere while it was held leaves
    /// it usable: the session's own state is consistent between calls.
    pub(crate) fn session(&self) -> MutexGuard<'_, Session> {
        self.session.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a message (or close) with `queue` and writes it, with everything queued before
    /// it. The write lock is taken first, so one sender at a time queues and writes, and
    /// the send returns once its bytes are on the socket.
    pub(crate) fn send(
        &self,
        queue: impl FnOnce(&mut Session) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        {
            // The session decides what may still be sent (a close after the end is a no-op).
            let mut session = self.session();
            queue(&mut session)?;
            if self.write_closed.load(Ordering::Acquire) && !session.is_finished() {
                // A write failed: what was just queued can never go out.
                return Err(Error::Io(io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    "an earlier write to the socket failed",
                )));
            }
        }
        self.write_all_pending(writer)?;
        self.flush_left_over()
    }

    /// Writes everything the session has to send, waiting for a thread that is writing to
    /// finish first (for a thread whose job is writing what others queued).
    pub(crate) fn flush_blocking(&self) -> Result<(), Error> {
        let writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        self.write_all_pending(writer)?;
        self.flush_left_over()
    }

    /// The reader's flush: writes what the session has to send, as much as fits without
    /// waiting, and shuts down the write side once it is finished and written; unless another
    /// thread is writing, which writes these bytes too. See [`Shared::output_blocked`].
    pub(crate) fn flush(&self) -> Result<(), Error> {
        self.flush_with(Wait::DontWait)
    }

    /// Writes everything the session has to send, waiting for room, unless another thread
    /// is writing (which writes these bytes too).
    pub(crate) fn flush_waiting(&self) -> Result<(), Error> {
        self.flush_with(Wait::Block)
    }

    /// Whether output is left that did not fit in the socket, and no thread is writing it:
    /// the reader then waits for room to write as well as for input.
    pub(crate) fn output_blocked(&self) -> bool {
        self.blocked.load(Ordering::Acquire)
            && !self.write_closed.load(Ordering::Acquire)
            && self.writer.try_lock().is_ok()
    }

    fn flush_with(&self, wait: Wait) -> Result<(), Error> {
        let written = match self.writer.try_lock() {
            Ok(writer) => self.write_pending(writer, wait)?,
            Err(TryLockError::Poisoned(poisoned)) => {
                self.write_pending(poisoned.into_inner(), wait)?
            }
            Err(TryLockError::WouldBlock) => return Ok(()),
        };
        if written == Written::Blocked {
            return Ok(());
        }
        self.flush_left_over_with(wait)
    }

    /// After letting go of the write lock: bytes queued by a thread that found the lock held
    /// and left them to us are written now (unless yet another thread took the lock).
    fn flush_left_over(&self) -> Result<(), Error> {
        self.flush_left_over_with(Wait::Block)
    }

    fn flush_left_over_with(&self, wait: Wait) -> Result<(), Error> {
        while self.needs_flush() {
            let written = match self.writer.try_lock() {
                Ok(writer) => self.write_pending(writer, wait)?,
                Err(TryLockError::Poisoned(poisoned)) => {
                    self.write_pending(poisoned.into_inner(), wait)?
                }
                Err(TryLockError::WouldBlock) => return Ok(()),
            };
            if written == Written::Blocked {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Whether the session has bytes to write, or the write side is still to be shut down.
    fn needs_flush(&self) -> bool {
        if self.write_closed.load(Ordering::Acquire) {
            return false;
        }
        let mut session = self.session();
        !session.pending_output().is_empty() || session.is_finished()
    }

    /// Writes what the session has to send, the rest of an earlier write first, waiting for
    /// room or not.
    fn write_all_pending(&self, writer: MutexGuard<'_, Writer>) -> Result<(), Error> {
        self.write_pending(writer, Wait::Block).map(drop)
    }

    fn write_pending(
        &self,
        mut writer: MutexGuard<'_, Writer>,
        wait: Wait,
    ) -> Result<Written, Error> {
        let writer = &mut *writer;
        loop {
            if self.write_closed.load(Ordering::Acquire) {
                return Ok(Written::All);
            }
            if writer.written == writer.buf.len() {
                let finished = {
                    let mut session = self.session();
                    let out = session.pending_output();
                    let n = out.len().min(WRITE_CHUNK);
                    writer.buf.clear();
                    writer
                        .buf
                        .extend_from_slice(out.get(..n).unwrap_or_default());
                    writer.written = 0;
                    session.advance_output(n);
                    session.is_finished()
                };
                if writer.buf.is_empty() {
                    self.blocked.store(false, Ordering::Release);
                    if finished {
                        // Everything is written: the peer sees the end of the stream.
                        self.write_closed.store(true, Ordering::Release);
                        let _ = writer.stream.shutdown(Shutdown::Write);
                    }
                    return Ok(Written::All);
                }
            }
            let rest = writer.buf.get(writer.written..).unwrap_or_default();
            match ready::write_now(&writer.stream, rest) {
                Ok(Some(0)) => return Err(self.write_failed(writer, ErrorKind::WriteZero.into())),
                Ok(Some(n)) => writer.written += n,
                Ok(None) if wait == Wait::DontWait => {
                    self.blocked.store(true, Ordering::Release);
                    return Ok(Written::Blocked);
                }
                Ok(None) => {
                    if let Err(e) = self.wait_for_room(writer) {
                        return Err(self.write_failed(writer, e));
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(self.write_failed(writer, e)),
            }
        }
    }

    /// A sender waits for room to write, running the session's timers meanwhile (the reader
    /// may be this very thread, waiting to send a reply): a peer that stopped reading gets no
    /// keepalive answer and fails, and once the session has finished its output gets the
    /// close timeout; then this fails with `TimedOut` and the transport is cut.
    fn wait_for_room(&self, writer: &mut Writer) -> io::Result<()> {
        let now = clock::now();
        let deadline = {
            let session = self.session();
            if session.is_finished() {
                let close_timeout = session.connection().map(|c| c.config().close_timeout);
                let at = *writer
                    .flush_deadline
                    .get_or_insert(now + close_timeout.unwrap_or_default());
                if now >= at {
                    return Err(io::Error::new(
                        ErrorKind::TimedOut,
                        "the peer took none of the connection's last bytes within its close timeout",
                    ));
                }
                Some(at)
            } else {
                session.poll_timeout()
            }
        };
        let wait = deadline.map(|at| at.saturating_sub(now).max(Duration::from_millis(1)));
        if !ready::wait_writable(&writer.stream, wait)? {
            self.session().handle_timeout(clock::now());
        }
        Ok(())
    }

    /// The transport is gone: wake the reader, which then sees the end.
    fn write_failed(&self, writer: &mut Writer, error: io::Error) -> Error {
        self.write_closed.store(true, Ordering::Release);
        let _ = writer.stream.shutdown(Shutdown::Both);
        Error::Io(error)
    }

    /// Notes that the socket was shut down both ways by the reader (its transport failed).
    pub(crate) fn write_closed_by_reader(&self) {
        self.write_closed.store(true, Ordering::Release);
    }
}
