//! The three moves of every async driver — write the session's output, arm its timer, read
//! into it — over an [`AsyncTransport`] and a [`Runtime`] timer.

use std::io;
use std::task::{Context, Poll};
use std::time::Duration;

use super::{AsyncTimer, AsyncTransport, Runtime};
use crate::{clock, Session};

/// How many bytes one read asks the transport for: a full TLS record, and few enough that a
/// server with many idle connections does not hold much memory in read buffers.
pub(super) const READ_BUFFER: usize = 16 * 1024;

/// How many reads one poll makes before it yields to the runtime, so that a peer streaming a
/// large message cannot starve the other tasks of its thread.
pub(super) const READS_PER_POLL: usize = 32;

/// A session joined to its transport and timer.
pub(super) struct Conn<T, R: Runtime> {
    pub(super) transport: T,
    pub(super) session: Session,
    timer: DeadlineTimer<R>,
    buf: Box<[u8]>,
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
            buf: vec![0; READ_BUFFER].into_boxed_slice(),
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
        match self.transport.poll_read(cx, &mut self.buf) {
            Poll::Ready(Ok(0)) => {
                self.read_done = true;
                self.session.handle_eof(clock::now());
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Ok(n)) => {
                let read = self.buf.get(..n).unwrap_or(&self.buf);
                self.session.handle_input(clock::now(), read);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => Poll::Ready(Ok(())),
            Poll::Ready(Err(e)) => {
                self.read_done = true;
                Poll::Ready(Err(e))
            }
            Poll::Pending => Poll::Pending,
        }
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
