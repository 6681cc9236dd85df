//! A pool of client WebSocket connections on one mio loop: non-blocking connect, the upgrade
//! (the core's `ClientRequest`, `ResponseParser` and `validate_response`), masked sends and
//! frame reading with the core's codec. Scenarios drive it through [`Handler`] callbacks.
//!
//! Built to cost the generator as little as possible per message: one scratch read buffer for
//! the whole pool (a connection keeps bytes only while a frame is incomplete), each frame
//! encoded straight into the connection's reused output buffer, and reads stop at the first
//! short read (epoll reports the next arrival as a new edge).

use std::io::{self, ErrorKind, Read, Write};
use std::mem;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Registry, Token};
use socket2::{Domain, Socket, Type};
use sockwright::frame::{apply_mask, CloseCode, CloseFrame, FrameHeader, OpCode, MAX_HEADER_LEN};
use sockwright::handshake::{
    validate_response, ClientRequest, HandshakeLimits, Parsed, ResponseParser, TokenMode, WsUrl,
};

/// The scratch read buffer: big enough for a 16 KiB frame and what follows it in one read.
const SCRATCH_LEN: usize = 256 * 1024;

/// Events handed to the scenario.
pub trait Handler {
    /// The upgrade of connection `id` succeeded; it may send now.
    fn opened(&mut self, net: &mut Net, id: usize);
    /// A whole text or binary message arrived on `id`.
    fn message(&mut self, net: &mut Net, id: usize, opcode: OpCode, payload: &[u8]);
    /// Connection `id` is over: `end` says how. Its slot may be reused with [`Net::connect`].
    fn ended(&mut self, net: &mut Net, id: usize, end: End);
}

/// How a connection ended.
#[derive(Debug)]
pub enum End {
    /// The close handshake finished (either side began it) and the server closed TCP.
    Closed(Option<CloseCode>),
    /// The TCP connection ended without a close handshake.
    Lost,
    /// Connecting, upgrading, reading or writing failed.
    Failed(String),
}

/// Where the pool connects: the address and the `Host` header of a `ws://` URL.
#[derive(Clone, Debug)]
pub struct Target {
    /// The server's address.
    pub addr: SocketAddr,
    /// The `Host` header value.
    pub host: String,
    /// The URL's path and query.
    pub path: String,
}

impl Target {
    /// Parses a `ws://HOST:PORT/PATH` URL (`wss` is not supported: the generator measures
    /// WebSocket servers, not TLS).
    pub fn parse(url: &str) -> Result<Target, String> {
        let parsed = WsUrl::parse(url).map_err(|e| format!("{url}: {e}"))?;
        if parsed.is_secure() {
            return Err(format!("{url}: wss is not supported by the load generator"));
        }
        let addr = (parsed.host(), parsed.port())
            .to_socket_addrs()
            .map_err(|e| format!("{url}: {e}"))?
            .next()
            .ok_or_else(|| format!("{url}: the host resolves to no address"))?;
        Ok(Target {
            addr,
            host: parsed.host_header().to_string(),
            path: parsed.target().to_string(),
        })
    }

    /// The same server at another path and query.
    pub fn with_path(&self, path: &str) -> Target {
        Target {
            path: path.to_string(),
            ..self.clone()
        }
    }
}

/// The pool: the poll loop plus the connections ([`Net`]).
pub struct Pool {
    poll: Poll,
    events: Events,
    scratch: Vec<u8>,
    /// The connections and what sends on them.
    pub net: Net,
}

/// The connections. Handlers get it to send, close and (re)connect.
pub struct Net {
    registry: Registry,
    conns: Vec<Option<Conn>>,
    sources: SourceAddrs,
    mask_seed: u32,
    /// Frames the server sent that an echo or hub server should not (pings, pongs,
    /// fragments): counted, answered where the protocol says so, never hidden.
    pub unexpected_frames: u64,
}

struct Conn {
    stream: TcpStream,
    phase: Phase,
    upgrade: Option<Box<Upgrade>>,
    /// The start of an incomplete frame (only between reads).
    partial: Vec<u8>,
    /// Encoded frames not yet written, from `written` on.
    out: Vec<u8>,
    written: usize,
    /// A fragmented message being collected (servers under test do not fragment).
    fragments: Option<(OpCode, Vec<u8>)>,
    close_sent: bool,
    close_code: Option<CloseCode>,
}

struct Upgrade {
    request: ClientRequest,
    parser: ResponseParser,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Connecting,
    Upgrading,
    Open,
    /// The server's close frame arrived: waiting for its end of TCP.
    AwaitingEof,
}

impl Pool {
    /// An empty pool.
    pub fn new() -> io::Result<Pool> {
        let poll = Poll::new()?;
        let registry = poll.registry().try_clone()?;
        Ok(Pool {
            poll,
            events: Events::with_capacity(1024),
            scratch: vec![0; SCRATCH_LEN],
            net: Net {
                registry,
                conns: Vec::new(),
                sources: SourceAddrs::default(),
                mask_seed: 0x9E37_79B9,
                unexpected_frames: 0,
            },
        })
    }

    /// Waits up to `timeout` for readiness and handles what is ready.
    pub fn poll(&mut self, timeout: Duration, handler: &mut impl Handler) -> io::Result<()> {
        match self.poll.poll(&mut self.events, Some(timeout)) {
            Err(e) if e.kind() == ErrorKind::Interrupted => return Ok(()),
            other => other?,
        }
        for event in self.events.iter() {
            let id = event.token().0;
            let Some(phase) = self.net.phase(id) else {
                continue;
            };
            let outcome = match phase {
                Phase::Connecting => self.net.finish_connect(id),
                _ if event.is_writable() => self.net.flush(id),
                _ => Ok(()),
            };
            let outcome = outcome.and_then(|()| {
                // The peer's FIN came with this event: read on to the end of stream, as no
                // further edge will come for it.
                let to_eof = event.is_read_closed() || event.is_error();
                if event.is_readable() || to_eof {
                    read_ready(&mut self.net, &mut self.scratch, id, to_eof, handler)
                } else {
                    Ok(())
                }
            });
            if let Err(e) = outcome {
                self.net.end(id, End::Failed(e.to_string()), handler);
            }
        }
        Ok(())
    }
}

impl Net {
    /// Starts connecting to `target` in slot `id` (a new slot when `id` is `len()`), dropping
    /// whatever the slot held.
    pub fn connect(&mut self, id: usize, target: &Target) -> io::Result<()> {
        let mut stream = self.sources.connect(target.addr)?;
        self.registry.register(
            &mut stream,
            Token(id),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        let request = ClientRequest::new(&target.host, &target.path, self.next_key())
            .map_err(|e| io::Error::new(ErrorKind::InvalidInput, e.to_string()))?;
        let conn = Conn {
            stream,
            phase: Phase::Connecting,
            upgrade: Some(Box::new(Upgrade {
                request,
                parser: ResponseParser::new(HandshakeLimits::default()),
            })),
            partial: Vec::new(),
            out: Vec::new(),
            written: 0,
            fragments: None,
            close_sent: false,
            close_code: None,
        };
        if id == self.conns.len() {
            self.conns.push(Some(conn));
        } else {
            self.conns[id] = Some(conn);
        }
        Ok(())
    }

    /// How many slots there are (open or not).
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    /// Whether the pool has no slots.
    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// Sends one whole masked message of `len` payload bytes, which `fill` writes. Fails when
    /// the connection is not open.
    pub fn send_with(
        &mut self,
        id: usize,
        opcode: OpCode,
        len: usize,
        fill: impl FnOnce(&mut [u8]),
    ) -> io::Result<()> {
        let key = self.next_mask();
        let conn = self.open_conn(id)?;
        encode_masked(&mut conn.out, opcode, len, key, fill);
        self.flush(id)
    }

    /// Begins the close handshake with 1000 (the slot ends when the server's close and EOF
    /// arrive).
    pub fn close(&mut self, id: usize) -> io::Result<()> {
        let key = self.next_mask();
        let conn = self.open_conn(id)?;
        if conn.close_sent {
            return Ok(());
        }
        conn.close_sent = true;
        let payload = CloseFrame {
            code: CloseCode::NORMAL,
            reason: String::new(),
        }
        .payload();
        encode_masked(&mut conn.out, OpCode::Close, payload.len(), key, |buf| {
            buf.copy_from_slice(&payload)
        });
        self.flush(id)
    }

    /// Drops every connection at once (TCP reset, so no TIME_WAIT is left behind).
    pub fn abort_all(&mut self) {
        for slot in &mut self.conns {
            if let Some(mut conn) = slot.take() {
                let _ = self.registry.deregister(&mut conn.stream);
                let socket = Socket::from(std::net::TcpStream::from(conn.stream));
                let _ = socket.set_linger(Some(Duration::ZERO));
            }
        }
        self.conns.clear();
    }

    fn phase(&self, id: usize) -> Option<Phase> {
        self.conns.get(id)?.as_ref().map(|c| c.phase)
    }

    fn open_conn(&mut self, id: usize) -> io::Result<&mut Conn> {
        match self.conns.get_mut(id).and_then(Option::as_mut) {
            Some(conn) if conn.phase == Phase::Open => Ok(conn),
            _ => Err(io::Error::new(
                ErrorKind::NotConnected,
                format!("connection {id} is not open"),
            )),
        }
    }

    fn finish_connect(&mut self, id: usize) -> io::Result<()> {
        let Some(Some(conn)) = self.conns.get_mut(id) else {
            return Ok(());
        };
        if let Some(e) = conn.stream.take_error()? {
            return Err(e);
        }
        match conn.stream.peer_addr() {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::NotConnected => return Ok(()),
            Err(e) => return Err(e),
        }
        let upgrade = conn
            .upgrade
            .as_ref()
            .expect("a connecting slot has its upgrade");
        conn.out.extend_from_slice(&upgrade.request.to_bytes());
        conn.phase = Phase::Upgrading;
        self.flush(id)
    }

    /// Writes what is queued; the rest waits for the next writable edge.
    fn flush(&mut self, id: usize) -> io::Result<()> {
        let Some(Some(conn)) = self.conns.get_mut(id) else {
            return Ok(());
        };
        while conn.written < conn.out.len() {
            match conn.stream.write(&conn.out[conn.written..]) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => conn.written += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        conn.out.clear();
        conn.written = 0;
        Ok(())
    }

    fn end(&mut self, id: usize, end: End, handler: &mut impl Handler) {
        if let Some(Some(mut conn)) = self.conns.get_mut(id).map(Option::take) {
            let _ = self.registry.deregister(&mut conn.stream);
            handler.ended(self, id, end);
        }
    }

    fn next_mask(&mut self) -> [u8; 4] {
        // xorshift32: masking keys need to be unpredictable to browsers' scripts, not to a
        // load generator; the server's work is the same for any key.
        let mut x = self.mask_seed;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.mask_seed = x;
        x.to_ne_bytes()
    }

    fn next_key(&mut self) -> [u8; 16] {
        let mut key = [0; 16];
        for chunk in key.chunks_mut(4) {
            chunk.copy_from_slice(&self.next_mask());
        }
        key
    }
}

/// Appends a whole client frame: header, then `len` payload bytes written by `fill`, masked.
fn encode_masked(
    out: &mut Vec<u8>,
    opcode: OpCode,
    len: usize,
    key: [u8; 4],
    fill: impl FnOnce(&mut [u8]),
) {
    let header = FrameHeader {
        fin: true,
        rsv: 0,
        opcode,
        mask: Some(key),
        payload_len: len as u64,
    };
    let mut head = [0; MAX_HEADER_LEN];
    let head_len = header.encode(&mut head);
    out.extend_from_slice(&head[..head_len]);
    let start = out.len();
    out.resize(start + len, 0);
    fill(&mut out[start..]);
    apply_mask(&mut out[start..], key, 0);
}

/// Reads what connection `id` has, until a short read (or the end of stream, with `to_eof`)
/// or `WouldBlock`, and hands complete frames to the handler.
fn read_ready(
    net: &mut Net,
    scratch: &mut [u8],
    id: usize,
    to_eof: bool,
    handler: &mut impl Handler,
) -> io::Result<()> {
    loop {
        let Some(Some(conn)) = net.conns.get_mut(id) else {
            return Ok(());
        };
        if conn.phase == Phase::Connecting {
            return Ok(());
        }
        let read = match conn.stream.read(scratch) {
            Ok(0) => {
                let end = match conn.phase {
                    Phase::AwaitingEof => End::Closed(conn.close_code),
                    _ => End::Lost,
                };
                net.end(id, end, handler);
                return Ok(());
            }
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let bytes = &scratch[..read];
        if conn.phase == Phase::Upgrading {
            upgrade_read(net, id, bytes, handler)?;
        } else if conn.partial.is_empty() {
            let used = frames(net, id, bytes, handler)?;
            if let Some(Some(conn)) = net.conns.get_mut(id) {
                conn.partial.extend_from_slice(&bytes[used..]);
            }
        } else {
            let mut data = mem::take(&mut conn.partial);
            data.extend_from_slice(bytes);
            let used = frames(net, id, &data, handler)?;
            data.drain(..used);
            if let Some(Some(conn)) = net.conns.get_mut(id) {
                conn.partial = data;
            }
        }
        if read < scratch.len() && !to_eof {
            return Ok(());
        }
    }
}

/// Feeds the server's `101` to the parser; on success the bytes after it are frames.
fn upgrade_read(
    net: &mut Net,
    id: usize,
    bytes: &[u8],
    handler: &mut impl Handler,
) -> io::Result<()> {
    let Some(Some(conn)) = net.conns.get_mut(id) else {
        return Ok(());
    };
    let upgrade = conn
        .upgrade
        .as_mut()
        .expect("an upgrading slot has its upgrade");
    let invalid = |e: &dyn std::fmt::Display| io::Error::new(ErrorKind::InvalidData, e.to_string());
    let trailing = match upgrade.parser.feed(bytes).map_err(|e| invalid(&e))? {
        Parsed::Partial => return Ok(()),
        Parsed::Complete { head, trailing } => {
            validate_response(&head, &upgrade.request, TokenMode::Tolerant)
                .map_err(|e| invalid(&e))?;
            trailing
        }
    };
    conn.upgrade = None;
    conn.phase = Phase::Open;
    handler.opened(net, id);
    let used = frames(net, id, &trailing, handler)?;
    if let Some(Some(conn)) = net.conns.get_mut(id) {
        conn.partial.extend_from_slice(&trailing[used..]);
    }
    Ok(())
}

/// Handles the complete frames at the start of `data`; returns how many bytes they took.
fn frames(net: &mut Net, id: usize, data: &[u8], handler: &mut impl Handler) -> io::Result<usize> {
    let mut at = 0;
    while let Some((header, head_len)) = FrameHeader::decode(&data[at..])
        .map_err(|e| io::Error::new(ErrorKind::InvalidData, e.to_string()))?
    {
        if header.mask.is_some() {
            return Err(io::Error::new(
                ErrorKind::InvalidData,
                "the server masked a frame (RFC 6455 §5.1)",
            ));
        }
        let end = usize::try_from(header.payload_len)
            .ok()
            .and_then(|len| (at + head_len).checked_add(len))
            .ok_or_else(|| io::Error::new(ErrorKind::InvalidData, "frame too long"))?;
        if end > data.len() {
            break;
        }
        let payload = &data[at + head_len..end];
        at = end;
        frame(net, id, header, payload, handler)?;
        if !matches!(net.phase(id), Some(Phase::Open)) {
            break;
        }
    }
    Ok(at)
}

fn frame(
    net: &mut Net,
    id: usize,
    header: FrameHeader,
    payload: &[u8],
    handler: &mut impl Handler,
) -> io::Result<()> {
    match header.opcode {
        OpCode::Text | OpCode::Binary if header.fin => {
            handler.message(net, id, header.opcode, payload);
        }
        OpCode::Text | OpCode::Binary | OpCode::Continuation => {
            net.unexpected_frames += 1;
            let Some(Some(conn)) = net.conns.get_mut(id) else {
                return Ok(());
            };
            let (opcode, mut whole) = conn.fragments.take().unwrap_or((header.opcode, Vec::new()));
            whole.extend_from_slice(payload);
            if header.fin {
                handler.message(net, id, opcode, &whole);
            } else {
                conn.fragments = Some((opcode, whole));
            }
        }
        OpCode::Ping => {
            net.unexpected_frames += 1;
            let key = net.next_mask();
            let conn = net.open_conn(id)?;
            encode_masked(&mut conn.out, OpCode::Pong, payload.len(), key, |buf| {
                buf.copy_from_slice(payload)
            });
            net.flush(id)?;
        }
        OpCode::Pong => net.unexpected_frames += 1,
        OpCode::Close => {
            let code = CloseFrame::parse(payload)
                .map_err(|e| io::Error::new(ErrorKind::InvalidData, e.to_string()))?
                .map(|f| f.code);
            net.close(id)?;
            if let Some(Some(conn)) = net.conns.get_mut(id) {
                conn.close_code = code;
                conn.phase = Phase::AwaitingEof;
            }
        }
    }
    Ok(())
}

/// Source addresses for connections to loopback: 127.0.0.1 until its ephemeral ports run out,
/// then 127.0.0.2, .3 … (each has its own ~28,000 ports).
#[derive(Debug, Default)]
struct SourceAddrs {
    /// 0: let the kernel choose (127.0.0.1 for loopback); n: bind 127.0.0.(n+1).
    current: u8,
}

impl SourceAddrs {
    fn connect(&mut self, addr: SocketAddr) -> io::Result<TcpStream> {
        loop {
            let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
            socket.set_nonblocking(true)?;
            socket.set_tcp_nodelay(true)?;
            if self.current > 0 {
                let source = Ipv4Addr::new(127, 0, 0, self.current + 1);
                socket.bind(&SocketAddr::new(IpAddr::V4(source), 0).into())?;
            }
            match socket.connect(&addr.into()) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(EINPROGRESS) => {}
                Err(e) if out_of_ports(&e) && addr.ip().is_loopback() && self.current < 250 => {
                    self.current += 1;
                    continue;
                }
                Err(e) => return Err(e),
            }
            return Ok(TcpStream::from_std(socket.into()));
        }
    }
}

/// Linux's "operation now in progress" for a non-blocking connect.
const EINPROGRESS: i32 = 115;

fn out_of_ports(e: &io::Error) -> bool {
    e.kind() == ErrorKind::AddrNotAvailable || e.kind() == ErrorKind::AddrInUse
}

/// Opens `count` connections to `targets(i)`, at most `max_pending` upgrading at a time, each
/// reported to `handler.opened` as it opens. Fails when one fails or `deadline` passes.
pub fn open_many(
    pool: &mut Pool,
    count: usize,
    max_pending: usize,
    deadline: Instant,
    mut target: impl FnMut(usize) -> Target,
    handler: &mut impl Handler,
) -> io::Result<()> {
    struct Counting<'h, H> {
        inner: &'h mut H,
        opened: usize,
        failure: Option<String>,
    }
    impl<H: Handler> Handler for Counting<'_, H> {
        fn opened(&mut self, net: &mut Net, id: usize) {
            self.opened += 1;
            self.inner.opened(net, id);
        }
        fn message(&mut self, net: &mut Net, id: usize, opcode: OpCode, payload: &[u8]) {
            self.inner.message(net, id, opcode, payload);
        }
        fn ended(&mut self, net: &mut Net, id: usize, end: End) {
            self.failure
                .get_or_insert_with(|| format!("connection {id}: {end:?}"));
            self.inner.ended(net, id, end);
        }
    }
    let first = pool.net.len();
    let mut counting = Counting {
        inner: handler,
        opened: 0,
        failure: None,
    };
    let mut started = 0;
    while counting.opened < count {
        while started < count && started - counting.opened < max_pending {
            pool.net.connect(first + started, &target(started))?;
            started += 1;
        }
        pool.poll(Duration::from_millis(20), &mut counting)?;
        if let Some(failure) = counting.failure.take() {
            return Err(io::Error::other(failure));
        }
        if Instant::now() > deadline {
            return Err(io::Error::new(
                ErrorKind::TimedOut,
                format!("opened {} of {count} connections in time", counting.opened),
            ));
        }
    }
    Ok(())
}

/// Raises the soft open-file limit to the hard one (10,000 connections need 10,000 sockets).
pub fn raise_file_limit() -> io::Result<u64> {
    let (_, hard) = rlimit::Resource::NOFILE.get()?;
    rlimit::Resource::NOFILE.set(hard, hard)?;
    Ok(hard)
}
