//! The three moves of every async driver — write the session's output, arm its timer, read
//! into it — over an [`AsyncTransport`] and a [`Runtime`] timer.

use std::cell::RefCell;
use std::io;
use std::task::{Context, Poll};
use std::time::Duration;

use super::{AsyncTimer, AsyncTransport, Runtime};
use crate::{clock, Session};

/// How many bytes one read asks the transport for: several TLS records, or a 16 KiB message
/// with its neighbours, in one call. The buffer is the thread's, not the connection's (see
/// [`READ_SCRATCH`]), so its size costs nothing per connection.
pub(super) const READ_BUFFER: usize = 64 * 1024;

thread_local! {
    /// One read buffer per thread, shared by every connection polled on it. A read's bytes go
    /// to the session (which keeps what it still needs) before the poll returns, so nothing
    /// lives in the buffer between reads, and an idle connection holds no read buffer: with a
    /// zeroed 16 KiB buffer each, 1,000 idle connections held 16 MiB more resident memory.
    static READ_SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0; READ_BUFFER].into_boxed_slice());
}

/// How many reads one poll makes before it yields to the runtime, so that a peer streaming a
/// large message cannot starve the other tasks of its thread.
pub(super) const READS_PER_POLL: usize = 32;

/// A session joined to its transport and timer.
pub(super) struct Conn<T, R: Runtime> {
    pub(super) transport: T,
    pub(super) session: Session,
    timer: DeadlineTimer<R>,
    /// The read side ended (EOF or error): nothing more is read.
    pub(super) read_done: bool,
    shut_down: bool,
}

impl<T: AsyncTransport, R: Runtime> Conn<T, R> {
    pub(super) fn new(transport: T, session: Session) -> Self {
        Conn {
            transport,
            session,
            timer: DeadlineTimer::new(),
            read_done: false,
            shut_down: false,
        }
    }

    /// Writes the session's output until none is left (`Ready(Ok)`), the transport is full
    /// (`Pending`) or fails.
    pub(super) fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            let out = self.session.pending_output();
            if out.is_empty() {
                return Poll::Ready(Ok(()));
            }
            let len = out.len();
            match self.transport.poll_write(cx, out) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                Poll::Ready(Ok(n)) => self.session.advance_output(n.min(len)),
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Arms the timer for the session's next deadline; when it has come, tells the session
    /// and returns `true` (the caller then drains the session again).
    pub(super) fn poll_timer(&mut self, cx: &mut Context<'_>) -> bool {
        let deadline = self.session.poll_timeout();
        if self.poll_deadline(cx, deadline) {
            self.session.handle_timeout(clock::now());
            return true;
        }
        false
    }

    /// Arms the timer for `deadline` (on the sessions' clock) and returns whether it has
    /// come. `None` leaves the timer unarmed.
    pub(super) fn poll_deadline(
        &mut self,
        cx: &mut Context<'_>,
        deadline: Option<Duration>,
    ) -> bool {
        self.timer.poll(cx, deadline)
    }

    /// Reads once into the session. `Ready(Ok)` when something happened (bytes or the end of
    /// the stream), `Ready(Err)` when the transport failed; either way the caller drains the
    /// session again.
    pub(super) fn poll_read_in(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.read_done {
            return Poll::Pending;
        }
        let read = READ_SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
            Ok(mut buf) => self.read_into(cx, &mut buf),
            // Only if a transport's read polled another connection on this thread: that
            // read gets a buffer of its own.
            Err(_) => self.read_into(cx, &mut vec![0; READ_BUFFER]),
        });
        match read {
            Poll::Ready(Ok(0)) => {
                self.read_done = true;
                self.session.handle_eof(clock::now());
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Ok(_)) => Poll::Ready(Ok(())),
            Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => Poll::Ready(Ok(())),
            Poll::Ready(Err(e)) => {
                self.read_done = true;
                Poll::Ready(Err(e))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    /// Reads once into `buf` and hands what came to the session (not the end of stream).
    fn read_into(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let read = self.transport.poll_read(cx, buf);
        if let Poll::Ready(Ok(n)) = &read {
            let n = *n;
            if n > 0 {
                let bytes = buf.get(..n).unwrap_or(buf);
                self.session.handle_input(clock::now(), bytes);
            }
        }
        read
    }

    /// Ends the write side of the transport, once; its errors are ignored (the connection is
    /// over either way).
    pub(super) fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.shut_down {
            return Poll::Ready(());
        }
        match self.transport.poll_shutdown(cx) {
            Poll::Ready(_) => {
                self.shut_down = true;
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// A runtime timer for deadlines on the sessions' clock ([`clock`]), reset only when the
/// deadline changes: what a driving loop arms after each drain.
pub struct DeadlineTimer<R: Runtime> {
    timer: R::Timer,
    /// The deadline the timer is set to, if it is set and has not fired.
    armed: Option<Duration>,
}

impl<R: Runtime> DeadlineTimer<R> {
    /// A timer not yet armed.
    pub fn new() -> Self {
        DeadlineTimer {
            timer: R::timer(),
            armed: None,
        }
    }

    /// Arms the timer for `deadline` and returns whether it has come (then it is re-armed
    /// on the next call, even for the same deadline); otherwise the waker in `cx` is called
    /// when it comes. `None` leaves the timer unarmed.
    pub fn poll(&mut self, cx: &mut Context<'_>, deadline: Option<Duration>) -> bool {
        let Some(at) = deadline else {
            self.armed = None;
            return false;
        };
        if self.armed != Some(at) {
            self.timer.reset(clock::instant_at(at));
            self.armed = Some(at);
        }
        match self.timer.poll_fire(cx) {
            Poll::Ready(()) => {
                self.armed = None;
                true
            }
            Poll::Pending => false,
        }
    }
}

impl<R: Runtime> Default for DeadlineTimer<R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<R: Runtime> std::fmt::Debug for DeadlineTimer<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadlineTimer")
            .field("armed", &self.armed)
            .finish_non_exhaustive()
    }
}
