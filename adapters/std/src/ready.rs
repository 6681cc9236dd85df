//! Writing without waiting, and waiting for input or for room to write: what lets the
//! reader keep taking input while a peer that does not read holds its output back (the core
//! bounds what piles up: pongs owed collapse to the latest once the outbound queue is full),
//! and lets a sender waiting for room run the session's timers meanwhile.
//!
//! On Linux and Android through rustix's safe `send(MSG_DONTWAIT)` and `poll(2)`. Elsewhere
//! a write without waiting is an ordinary blocking write, so the reader blocks while the
//! socket is full, as a sender does (the limitation the crate documentation states there).

use std::io;
use std::net::TcpStream;
use std::time::Duration;

/// What [`wait`] saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ready {
    /// Input (or the end of it, or an error) is there to read.
    Readable,
    /// There is room to write, and no input.
    Writable,
    /// Neither came within the timeout.
    TimedOut,
}

/// Writes what fits in the socket now: `Ok(None)` when nothing does.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn write_now(stream: &TcpStream, bytes: &[u8]) -> io::Result<Option<usize>> {
    use rustix::io::Errno;
    use rustix::net::{send, SendFlags};

    match send(stream, bytes, SendFlags::DONTWAIT | SendFlags::NOSIGNAL) {
        Ok(n) => Ok(Some(n)),
        Err(Errno::AGAIN) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Waits until `stream` has input or room to write, at most `timeout` (`None`: no limit).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn wait(stream: &TcpStream, timeout: Option<Duration>) -> io::Result<Ready> {
    use rustix::event::{poll, PollFd, PollFlags};
    use rustix::io::Errno;

    let timeout = timeout.map(timespec);
    let mut fds = [PollFd::new(stream, PollFlags::IN | PollFlags::OUT)];
    match poll(&mut fds, timeout.as_ref()) {
        Ok(0) | Err(Errno::INTR) => Ok(Ready::TimedOut),
        Ok(_) => {
            let events = fds[0].revents();
            if events.intersects(PollFlags::IN | PollFlags::HUP | PollFlags::ERR) {
                Ok(Ready::Readable)
            } else {
                Ok(Ready::Writable)
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// Waits until `stream` has room to write, at most `timeout` (`None`: no limit); whether it
/// has (or has failed, which the next write reports).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn wait_writable(stream: &TcpStream, timeout: Option<Duration>) -> io::Result<bool> {
    use rustix::event::{poll, PollFd, PollFlags};
    use rustix::io::Errno;

    let timeout = timeout.map(timespec);
    let mut fds = [PollFd::new(stream, PollFlags::OUT)];
    match poll(&mut fds, timeout.as_ref()) {
        Ok(0) | Err(Errno::INTR) => Ok(false),
        Ok(_) => Ok(true),
        Err(e) => Err(e.into()),
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn timespec(duration: Duration) -> rustix::event::Timespec {
    rustix::event::Timespec::try_from(duration).unwrap_or(rustix::event::Timespec {
        tv_sec: i64::MAX,
        tv_nsec: 0,
    })
}

/// Elsewhere: a blocking write.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn write_now(stream: &TcpStream, bytes: &[u8]) -> io::Result<Option<usize>> {
    use std::io::Write;
    (&*stream).write(bytes).map(Some)
}

/// Elsewhere never called: [`write_now`] never leaves output waiting.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn wait(_: &TcpStream, _: Option<Duration>) -> io::Result<Ready> {
    Ok(Ready::Readable)
}

/// Elsewhere never called, as [`wait`].
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn wait_writable(_: &TcpStream, _: Option<Duration>) -> io::Result<bool> {
    Ok(true)
}
