//! One connection of a loop: a mio socket and its [`Session`], with the byte moving done the
//! edge-triggered way (read until `WouldBlock` or a short read, write until `WouldBlock`), and
//! the slab that names connections by [`ConnId`].

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::Duration;

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use sockwright_driver::Session;

use crate::handler::ConnId;

/// How many reads a connection being closed gets to drain what the peer still sent, so that
/// closing the socket does not answer unread bytes with a reset (which can destroy the
/// response or close frame just written).
const CLOSE_DRAIN_READS: usize = 4;

/// What one read did.
pub(crate) enum ReadOutcome {
    /// Bytes were read and handed to the session.
    Data,
    /// Bytes were read and handed to the session, fewer than the buffer had room for: the
    /// socket held no more at that moment, and whatever arrives later raises a new readiness
    /// edge, so reading again now would only return `WouldBlock` (a wasted system call per
    /// message in a request-response exchange).
    Drained,
    /// Nothing to read now (or reading is paused, or the socket is not connected yet).
    Blocked,
    /// The read side ended (EOF) or failed; the session has been told.
    Ended,
}

/// A connection: socket, session and the loop's bookkeeping for it.
pub(crate) struct Conn {
    pub(crate) stream: TcpStream,
    pub(crate) session: Session,
    /// The peer (for a client, the address being connected to).
    pub(crate) peer: SocketAddr,
    /// A client's other addresses for its host, tried in order if connecting fails.
    pub(crate) fallback: VecDeque<SocketAddr>,
    /// A client whose TCP connect has not completed.
    pub(crate) connecting: bool,
    /// The handler knows this id (it was opened, or the handler started it), so it is owed
    /// one `on_close`.
    pub(crate) known: bool,
    /// `on_close` (or `on_handshake_failed`) was called.
    pub(crate) close_reported: bool,
    /// The handler paused reading.
    pub(crate) paused: bool,
    /// The peer ended its side (EOF).
    pub(crate) read_closed: bool,
    /// The socket failed: nothing more can be written.
    pub(crate) broken: bool,
    /// A transport failure during the handshake, to report as [`crate::Error::Io`].
    pub(crate) io_error: Option<io::Error>,
    /// A send was refused with `OutboundFull`: call `on_writable` once the output is written.
    pub(crate) want_writable: bool,
    /// WRITABLE interest is registered.
    pub(crate) write_interest: bool,
    /// Already in the loop's list of connections to process.
    pub(crate) marked: bool,
    /// The deadline armed in the loop's timer heap, if any.
    pub(crate) timer: Option<Duration>,
    /// A finished session's output must be written by then, or the socket is closed anyway.
    pub(crate) flush_deadline: Option<Duration>,
    /// How long a finished session's output may take to be written: the connection's
    /// configured close timeout.
    pub(crate) flush_timeout: Duration,
}

impl Conn {
    /// A connection for `stream`, registered or about to be.
    pub(crate) fn new(
        stream: TcpStream,
        peer: SocketAddr,
        session: Session,
        flush_timeout: Duration,
    ) -> Conn {
        Conn {
            stream,
            session,
            peer,
            fallback: VecDeque::new(),
            connecting: false,
            known: false,
            close_reported: false,
            paused: false,
            read_closed: false,
            broken: false,
            io_error: None,
            want_writable: false,
            write_interest: false,
            marked: false,
            timer: None,
            flush_deadline: None,
            flush_timeout,
        }
    }

    /// Reads once into `buf` and hands the bytes to the session.
    pub(crate) fn read(&mut self, buf: &mut [u8], now: Duration) -> ReadOutcome {
        if self.paused || self.connecting || self.read_closed || self.broken {
            return ReadOutcome::Blocked;
        }
        loop {
            match self.stream.read(buf) {
                Ok(0) => {
                    self.read_closed = true;
                    self.session.handle_eof(now);
                    return ReadOutcome::Ended;
                }
                Ok(n) => {
                    self.session
                        .handle_input(now, buf.get(..n).unwrap_or_default());
                    return if n < buf.len() {
                        ReadOutcome::Drained
                    } else {
                        ReadOutcome::Data
                    };
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return ReadOutcome::Blocked,
                Err(e) => {
                    self.transport_failed(now, e);
                    return ReadOutcome::Ended;
                }
            }
        }
    }

    /// Writes the session's output until it is empty or the socket would block.
    pub(crate) fn write(&mut self, now: Duration) {
        if self.connecting || self.broken {
            return;
        }
        loop {
            let out = self.session.pending_output();
            if out.is_empty() {
                return;
            }
            match self.stream.write(out) {
                Ok(0) => return self.transport_failed(now, io::ErrorKind::WriteZero.into()),
                Ok(n) => self.session.advance_output(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => return self.transport_failed(now, e),
            }
        }
    }

    /// The socket failed (reset, broken pipe, refused connect). An open connection is told
    /// its transport ended, as on EOF; during the handshake the error itself is reported.
    pub(crate) fn transport_failed(&mut self, now: Duration, error: io::Error) {
        self.broken = true;
        if self.session.is_finished() {
            return;
        }
        if self.session.connection().is_some() {
            self.session.handle_eof(now);
        } else {
            self.io_error.get_or_insert(error);
        }
    }

    /// Whether WRITABLE interest is needed: while connecting, or while output is pending.
    pub(crate) fn wants_write(&mut self) -> bool {
        !self.broken && (self.connecting || !self.session.pending_output().is_empty())
    }

    /// A connecting client's socket reported readiness: whether the connect completed
    /// (`Ok(false)`: not yet).
    pub(crate) fn connect_result(&mut self) -> io::Result<bool> {
        if let Some(e) = self.stream.take_error()? {
            return Err(e);
        }
        match self.stream.peer_addr() {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Replaces a failed connect by one to the next address, if there is one that connects
    /// at once or is in progress.
    pub(crate) fn try_next_address(&mut self, registry: &Registry, token: Token) -> bool {
        while let Some(addr) = self.fallback.pop_front() {
            let Ok(mut stream) = TcpStream::connect(addr) else {
                continue;
            };
            if registry.register(&mut stream, token, both()).is_err() {
                continue;
            }
            let _ = registry.deregister(&mut self.stream);
            self.stream = stream;
            self.peer = addr;
            self.write_interest = true;
            return true;
        }
        false
    }

    /// Ends the connection: shuts the write side down (after the output already written),
    /// drains what the peer still sent, and deregisters the socket, which closes on drop.
    pub(crate) fn close(mut self, registry: &Registry, buf: &mut [u8]) {
        if !self.broken {
            let _ = self.stream.shutdown(Shutdown::Write);
            for _ in 0..CLOSE_DRAIN_READS {
                match self.stream.read(buf) {
                    Ok(n) if n > 0 => {}
                    _ => break,
                }
            }
        }
        let _ = registry.deregister(&mut self.stream);
    }
}

/// READABLE, plus WRITABLE when `write`.
pub(crate) fn interest(write: bool) -> Interest {
    if write {
        both()
    } else {
        Interest::READABLE
    }
}

fn both() -> Interest {
    Interest::READABLE | Interest::WRITABLE
}

/// The connections of one loop, by [`ConnId`]: a slot index (the mio token) and the slot's
/// generation, bumped on every removal so that an old id never names a new connection.
pub(crate) struct Slab<T = Conn> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
}

struct Slot<T> {
    generation: u32,
    conn: Option<T>,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<T> Slab<T> {
    /// The id the next [`Slab::insert`] will give (`None` when the slab is full).
    pub(crate) fn vacant_id(&self) -> Option<ConnId> {
        if let Some(&index) = self.free.last() {
            let generation = self.slots.get(index as usize)?.generation;
            return Some(ConnId { index, generation });
        }
        let index = u32::try_from(self.slots.len()).ok()?;
        (index < u32::MAX).then_some(ConnId {
            index,
            generation: 0,
        })
    }

    /// Stores `conn` under [`Slab::vacant_id`].
    pub(crate) fn insert(&mut self, conn: T) -> Option<ConnId> {
        let id = self.vacant_id()?;
        if self.free.last() == Some(&id.index) {
            self.free.pop();
        } else {
            self.slots.push(Slot {
                generation: 0,
                conn: None,
            });
        }
        let slot = self.slots.get_mut(id.index as usize)?;
        slot.conn = Some(conn);
        Some(id)
    }

    pub(crate) fn get(&self, id: ConnId) -> Option<&T> {
        let slot = self.slots.get(id.index as usize)?;
        (slot.generation == id.generation)
            .then_some(slot.conn.as_ref())
            .flatten()
    }

    pub(crate) fn get_mut(&mut self, id: ConnId) -> Option<&mut T> {
        let slot = self.slots.get_mut(id.index as usize)?;
        (slot.generation == id.generation)
            .then_some(slot.conn.as_mut())
            .flatten()
    }

    /// The id of the connection in slot `index` (a mio token), if there is one.
    pub(crate) fn id_at(&self, index: usize) -> Option<ConnId> {
        let slot = self.slots.get(index)?;
        slot.conn.as_ref()?;
        Some(ConnId {
            index: u32::try_from(index).ok()?,
            generation: slot.generation,
        })
    }

    pub(crate) fn remove(&mut self, id: ConnId) -> Option<T> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        let conn = slot.conn.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(id.index);
        Some(conn)
    }

    /// Every live id.
    pub(crate) fn ids(&self) -> Vec<ConnId> {
        (0..self.slots.len())
            .filter_map(|i| self.id_at(i))
            .collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reused_slot_does_not_answer_to_the_old_id() {
        let mut slab = Slab::default();
        let a = slab.insert("a").unwrap();
        let b = slab.insert("b").unwrap();
        assert_eq!(slab.remove(a), Some("a"));
        assert_eq!(slab.remove(a), None);
        let c = slab.insert("c").unwrap();
        assert_eq!(c.index, a.index);
        assert_ne!(c, a);
        assert_eq!(slab.get(a), None);
        assert_eq!(slab.get_mut(a), None);
        assert_eq!(slab.remove(a), None);
        assert_eq!((slab.get(b), slab.get(c)), (Some(&"b"), Some(&"c")));
        assert_eq!(slab.id_at(c.index as usize), Some(c));
        assert_eq!(slab.ids(), vec![c, b]);
        assert_eq!(slab.len(), 2);
    }

    /// A slab holds its connections by value and grows by doubling, so every byte of `Conn`
    /// is paid about 1.5 times per idle connection: the handshake's parsers, a client's
    /// request, the retained handshake and a pending error sit behind boxes in the session.
    #[cfg(target_pointer_width = "64")]
    #[test]
    fn a_connection_entry_stays_small() {
        use std::mem::size_of;
        assert!(size_of::<sockwright_driver::Session>() <= 128);
        assert!(size_of::<Conn>() <= 256);
    }
}
