//! [`Restarting`]: a blocking stream whose reads and writes are tried again when the kernel
//! says `EINTR`.
//!
//! The tests give their sockets timeouts (`SO_RCVTIMEO`, `SO_SNDTIMEO`) so that a server that
//! stops answering fails a test instead of hanging it. On Linux, a read or write on such a
//! socket is not restarted after the process is stopped and resumed (a stop signal and
//! `SIGCONT`, or a freeze of its cgroup): it fails with `EINTR`, though no handler ran
//! (signal(7), "Interruption of system calls and library functions by stop signals"). A CI
//! machine did that once to a relay test in the middle of its handshake. Nothing was read or
//! written by the failed call, so trying it again is exact.
//!
//! This file is shared by path (`#[path]`) with the other crates' test helpers, so each has
//! the same wrapper without a crate of its own.

use std::io::{self, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::ops::{Deref, DerefMut};

/// `S` with every `read`, `write` and `flush` that fails with [`ErrorKind::Interrupted`]
/// tried again. Derefs to `S` for the rest (timeouts, `shutdown`, addresses).
#[derive(Debug)]
pub struct Restarting<S>(pub S);

/// Calls `op` until it gives anything other than `Interrupted`.
fn restart<T>(mut op: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match op() {
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

impl Restarting<TcpStream> {
    /// Another handle to the same socket (for a writer thread beside a reader), restarting
    /// as well.
    pub fn try_clone(&self) -> io::Result<Self> {
        self.0.try_clone().map(Restarting)
    }
}

impl<S: Read> Read for Restarting<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        restart(|| self.0.read(buf))
    }
}

impl<S: Write> Write for Restarting<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        restart(|| self.0.write(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        restart(|| self.0.flush())
    }
}

impl<S> Deref for Restarting<S> {
    type Target = S;

    fn deref(&self) -> &S {
        &self.0
    }
}

impl<S> DerefMut for Restarting<S> {
    fn deref_mut(&mut self) -> &mut S {
        &mut self.0
    }
}
