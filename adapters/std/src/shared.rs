//! What the reader and every sender share: the session, and the socket's write half.
//!
//! Two locks, always taken in this order: the write lock (held for as long as a socket write
//! takes), then the session lock (held only to give the session input, queue a message, or
//! copy out the next bytes to write). So a sender blocked in a socket write never stops the
//! reader from handing input to the session.

use std::io::{self, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, TryLockError};

use sockwright_driver::{Error, Session};

/// How many bytes are copied out of the session per socket write: a few full TLS records,
/// small enough not to double the memory of a large message.
const WRITE_CHUNK: usize = 128 * 1024;

pub(crate) struct Shared {
    session: Mutex<Session>,
    writer: Mutex<Writer>,
    /// Set once the write side is shut down (the session finished and its output is written,
    /// or a write failed): nothing is left to flush.
    write_closed: AtomicBool,
}

struct Writer {
    stream: TcpStream,
    /// The bytes being written, copied out of the session so that its lock is not held
    /// during the write.
    buf: Vec<u8>,
}

impl Shared {
    pub(crate) fn new(session: Session, write_half: TcpStream) -> Shared {
        Shared {
            session: Mutex::new(session),
            writer: Mutex::new(Writer {
                stream: write_half,
                buf: Vec::new(),
            }),
            write_closed: AtomicBool::new(false),
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

    /// Writes what the session has to send and shuts down the write side once it is
    /// finished, unless another thread is writing: that thread writes these bytes too.
    pub(crate) fn flush(&self) -> Result<(), Error> {
        match self.writer.try_lock() {
            Ok(writer) => self.write_all_pending(writer)?,
            Err(TryLockError::Poisoned(poisoned)) => {
                self.write_all_pending(poisoned.into_inner())?
            }
            Err(TryLockError::WouldBlock) => return Ok(()),
        }
        self.flush_left_over()
    }

    /// After letting go of the write lock: bytes queued by a thread that found the lock held
    /// and left them to us are written now (unless yet another thread took the lock).
    fn flush_left_over(&self) -> Result<(), Error> {
        while self.needs_flush() {
            match self.writer.try_lock() {
                Ok(writer) => self.write_all_pending(writer)?,
                Err(TryLockError::Poisoned(poisoned)) => {
                    self.write_all_pending(poisoned.into_inner())?
                }
                Err(TryLockError::WouldBlock) => return Ok(()),
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

    fn write_all_pending(&self, mut writer: MutexGuard<'_, Writer>) -> Result<(), Error> {
        let writer = &mut *writer;
        loop {
            if self.write_closed.load(Ordering::Acquire) {
                return Ok(());
            }
            let finished = {
                let mut session = self.session();
                let out = session.pending_output();
                let n = out.len().min(WRITE_CHUNK);
                writer.buf.clear();
                writer
                    .buf
                    .extend_from_slice(out.get(..n).unwrap_or_default());
                session.advance_output(n);
                session.is_finished()
            };
            if writer.buf.is_empty() {
                if finished {
                    // Everything is written: the peer sees the end of the stream.
                    self.write_closed.store(true, Ordering::Release);
                    let _ = writer.stream.shutdown(Shutdown::Write);
                }
                return Ok(());
            }
            if let Err(e) = writer.stream.write_all(&writer.buf) {
                // The transport is gone: wake the reader, which then sees the end.
                self.write_closed.store(true, Ordering::Release);
                let _ = writer.stream.shutdown(Shutdown::Both);
                return Err(Error::Io(e));
            }
        }
    }

    /// Notes that the socket was shut down both ways by the reader (its transport failed).
    pub(crate) fn write_closed_by_reader(&self) {
        self.write_closed.store(true, Ordering::Release);
    }
}
