//! The other side of the conformance suite, written without the sockwright core so that a
//! shared mistake cannot hide: hand-encoded frames on raw sockets (for what a well-behaved
//! library cannot send: bad UTF-8, unmasked client frames, half frames) and tungstenite (an
//! independent implementation) for everything else.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use crate::restarting::Restarting;

/// How long any raw read in the suite may block: a hung peer fails the test, it never hangs it.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A raw socket of the suite: reads time out after [`IO_TIMEOUT`], and are tried again after
/// `EINTR` (see [`crate::restarting`]).
pub type Raw = Restarting<TcpStream>;

/// Frame opcodes, spelled out here rather than taken from the core.
pub mod op {
    /// A continuation frame.
    pub const CONT: u8 = 0x0;
    /// A text frame.
    pub const TEXT: u8 = 0x1;
    /// A binary frame.
    pub const BINARY: u8 = 0x2;
    /// A close frame.
    pub const CLOSE: u8 = 0x8;
    /// A ping frame.
    pub const PING: u8 = 0x9;
    /// A pong frame.
    pub const PONG: u8 = 0xA;
}

/// Encodes one frame by hand (RFC 6455 §5.2), masked with `mask` if given.
pub fn frame(fin: bool, opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = vec![(u8::from(fin) << 7) | opcode];
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(mask_bit | n as u8),
        n if n <= 0xFFFF => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

/// A client frame: masked with a fixed key (the key's value does not matter to a server).
pub fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    frame(fin, opcode, payload, Some([0x37, 0xfa, 0x21, 0x3d]))
}

/// A close payload: the code, big-endian, then the reason.
pub fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason.as_bytes());
    payload
}

/// A frame read off the wire, unmasked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawFrame {
    /// The FIN bit.
    pub fin: bool,
    /// The opcode.
    pub opcode: u8,
    /// Whether the frame was masked.
    pub masked: bool,
    /// The payload, unmasked.
    pub payload: Vec<u8>,
}

impl RawFrame {
    /// The close code of a close frame (`None` without one).
    pub fn close_code(&self) -> Option<u16> {
        (self.opcode == op::CLOSE && self.payload.len() >= 2)
            .then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }
}

/// Reads one frame; `Ok(None)` on a clean EOF before its first byte.
pub fn read_frame(stream: &mut impl Read) -> io::Result<Option<RawFrame>> {
    let mut head = [0; 2];
    match stream.read(&mut head[..1])? {
        0 => return Ok(None),
        _ => stream.read_exact(&mut head[1..])?,
    }
    let len = match head[1] & 0x7f {
        126 => {
            let mut b = [0; 2];
            stream.read_exact(&mut b)?;
            u64::from(u16::from_be_bytes(b))
        }
        127 => {
            let mut b = [0; 8];
            stream.read_exact(&mut b)?;
            u64::from_be_bytes(b)
        }
        n => u64::from(n),
    };
    let masked = head[1] & 0x80 != 0;
    let mut key = [0; 4];
    if masked {
        stream.read_exact(&mut key)?;
    }
    let mut payload = vec![0; usize::try_from(len).map_err(io::Error::other)?];
    stream.read_exact(&mut payload)?;
    if masked {
        payload
            .iter_mut()
            .enumerate()
            .for_each(|(i, b)| *b ^= key[i % 4]);
    }
    Ok(Some(RawFrame {
        fin: head[0] & 0x80 != 0,
        opcode: head[0] & 0x0f,
        masked,
        payload,
    }))
}

/// Reads frames until a close frame and returns it, skipping others; fails on EOF first.
pub fn read_until_close(stream: &mut impl Read) -> io::Result<RawFrame> {
    loop {
        match read_frame(stream)? {
            Some(frame) if frame.opcode == op::CLOSE => return Ok(frame),
            Some(_) => continue,
            None => return Err(io::ErrorKind::UnexpectedEof.into()),
        }
    }
}

/// Reads until the peer closes the TCP connection (or resets it); fails if it stays open
/// past [`IO_TIMEOUT`].
pub fn wait_for_eof(stream: &mut Raw) -> io::Result<()> {
    let mut buf = [0; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

/// A fixed `Sec-WebSocket-Key` for raw clients.
pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// The head of a valid upgrade request for `path` with `extra` header lines (each ending in
/// `\r\n`).
pub fn upgrade_request(path: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

/// Sends `request` raw and reads the response head (up to the blank line). Returns the open
/// stream (positioned after the head) and the head as text.
pub fn raw_request(addr: SocketAddr, request: &[u8]) -> io::Result<(Raw, String)> {
    let mut stream = Restarting(TcpStream::connect(addr)?);
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.write_all(request)?;
    let mut head = Vec::new();
    let mut byte = [0; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            break;
        }
        head.push(byte[0]);
    }
    Ok((stream, String::from_utf8_lossy(&head).into_owned()))
}

/// Opens a WebSocket connection by hand (asserting a `101`) and returns the stream, ready for
/// raw frames.
pub fn raw_client(addr: SocketAddr, path: &str) -> Raw {
    let (stream, head) = raw_request(addr, upgrade_request(path, "").as_bytes())
        .unwrap_or_else(|e| panic!("raw upgrade to {addr}: {e}"));
    assert!(
        head.starts_with("HTTP/1.1 101"),
        "no 101 from {addr}: {head}"
    );
    stream
}

/// Reads an HTTP response body of `Content-Length` bytes after a head read by
/// [`raw_request`], or to EOF without one.
pub fn read_body(stream: &mut Raw, head: &str) -> String {
    let length = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse::<usize>().ok())?
    });
    let mut body = Vec::new();
    match length {
        Some(n) => {
            body.resize(n, 0);
            let _ = stream.read_exact(&mut body);
        }
        None => {
            let _ = stream.read_to_end(&mut body);
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}

/// A raw server for one connection: accepts the upgrade (with the accept key computed by
/// tungstenite) and then runs `script` on the stream. Returns the URL to connect to and the
/// thread, which yields what the script returns.
pub fn raw_server<T: Send + 'static>(
    script: impl FnOnce(Raw, String) -> T + Send + 'static,
) -> (String, thread::JoinHandle<T>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    let handle = thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        let mut stream = Restarting(stream);
        stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
        let mut head = Vec::new();
        let mut byte = [0; 1];
        while !head.ends_with(b"\r\n\r\n") {
            assert_ne!(
                stream.read(&mut byte).expect("read request"),
                0,
                "EOF in request"
            );
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        script(stream, head)
    });
    (format!("ws://{addr}/"), handle)
}

/// The `101` a raw server answers `request_head` with, plus `extra` header lines.
pub fn switching_protocols(request_head: &str, extra: &str) -> String {
    let key = request_head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("sec-websocket-key")
                .then(|| value.trim().to_owned())
        })
        .unwrap_or_default();
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n{extra}\r\n"
    )
}

/// A tungstenite echo server for `connections` connections (one thread each); returns the
/// URL. Each connection's thread ends when its peer closes.
pub fn tungstenite_echo_server(connections: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    thread::spawn(move || {
        for stream in listener.incoming().take(connections).flatten() {
            thread::spawn(move || {
                let Ok(mut ws) = tungstenite::accept(stream) else {
                    return;
                };
                while let Ok(message) = ws.read() {
                    if (message.is_text() || message.is_binary()) && ws.send(message).is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("ws://{addr}/")
}
