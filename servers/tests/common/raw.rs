//! A bare WebSocket client over a TCP stream, for what a well-behaved client never does:
//! write without reading, send frames a library would refuse to send (lengths, fragments,
//! bytes that are not UTF-8), stop half way through a frame or a request head.

use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;

use super::{tcp, Tcp};

/// The opcodes the tests send and read.
pub const TEXT: u8 = 1;
/// Binary message.
pub const BINARY: u8 = 2;
/// A continuation frame.
pub const CONTINUATION: u8 = 0;
/// Close frame.
pub const CLOSE: u8 = 8;
/// Ping frame.
pub const PING: u8 = 9;
/// Pong frame.
pub const PONG: u8 = 10;

/// The masking key of [`frame`]; not zero, so that the server really unmasks.
const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A valid upgrade request for `path` on `addr`.
pub fn upgrade_request(addr: SocketAddr, path: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    )
}

/// Connects to `addr` and upgrades to a WebSocket at `path`; panics unless the answer is a
/// `101`.
pub fn upgrade(addr: SocketAddr, path: &str) -> Tcp {
    let mut stream = tcp(addr);
    stream
        .write_all(upgrade_request(addr, path).as_bytes())
        .unwrap();
    let head = read_head(&mut stream);
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    stream
}

/// Reads an HTTP response head (up to and including the blank line), byte by byte so that
/// nothing after it is taken.
pub fn read_head(stream: &mut Tcp) -> String {
    let mut head = Vec::new();
    let mut byte = [0; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            Ok(_) => break,
            Err(e) => panic!("reading a response head: {e} after {head:?}"),
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// One masked client frame: FIN bit, opcode, payload.
pub fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = header(fin, opcode, payload.len() as u64);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    frame
}

/// The header of a masked client frame declaring `len` payload bytes, masking key included;
/// any `len` can be declared, whatever follows.
pub fn header(fin: bool, opcode: u8, len: u64) -> Vec<u8> {
    let mut header = vec![u8::from(fin) << 7 | opcode];
    match len {
        0..=125 => header.push(0x80 | len as u8),
        126..=0xffff => {
            header.push(0x80 | 126);
            header.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            header.push(0x80 | 127);
            header.extend_from_slice(&len.to_be_bytes());
        }
    }
    header.extend_from_slice(&MASK);
    header
}

/// A close frame's payload: the code, then the reason.
pub fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason.as_bytes());
    payload
}

/// Message `i`: its number, then a pattern.
pub fn payload(i: u32, size: usize) -> Vec<u8> {
    let mut data: Vec<u8> = (0..size).map(|n| (n % 251) as u8).collect();
    data[..4].copy_from_slice(&i.to_be_bytes());
    data
}

/// One masked binary frame (the mask key is zero, so the payload goes as is: no copy of a
/// large payload).
pub fn write_binary(stream: &mut Tcp, data: &[u8]) {
    let mut frame = vec![0x82, 0x80 | 127];
    frame.extend_from_slice(&(data.len() as u64).to_be_bytes());
    frame.extend_from_slice(&[0; 4]);
    stream.write_all(&frame).unwrap();
    stream.write_all(data).unwrap();
}

/// One unmasked frame from the server: opcode and payload.
pub fn read_frame(stream: &mut Tcp) -> (u8, Vec<u8>) {
    try_read_frame(stream).unwrap_or_else(|e| panic!("reading a frame: {e}"))
}

/// One unmasked frame from the server, or why there was none.
pub fn try_read_frame(stream: &mut Tcp) -> std::io::Result<(u8, Vec<u8>)> {
    let mut head = [0; 2];
    stream.read_exact(&mut head)?;
    let len = match head[1] & 0x7f {
        126 => {
            let mut ext = [0; 2];
            stream.read_exact(&mut ext)?;
            u64::from(u16::from_be_bytes(ext))
        }
        127 => {
            let mut ext = [0; 8];
            stream.read_exact(&mut ext)?;
            u64::from_be_bytes(ext)
        }
        n => u64::from(n),
    };
    assert!(len <= 64 << 20, "the server sent a frame of {len} bytes");
    let mut data = vec![0; len as usize];
    stream.read_exact(&mut data)?;
    Ok((head[0] & 0x0f, data))
}

/// Reads frames until a close frame, skipping pings and pongs, and returns its code and
/// reason; panics on a data frame or when the connection ends first.
pub fn read_close(stream: &mut Tcp) -> (u16, String) {
    loop {
        match read_frame(stream) {
            (PING | PONG, _) => {}
            (CLOSE, payload) => {
                let code = match payload.get(..2) {
                    Some(code) => u16::from_be_bytes([code[0], code[1]]),
                    None => 1005,
                };
                let reason = String::from_utf8_lossy(payload.get(2..).unwrap_or_default());
                return (code, reason.into_owned());
            }
            (opcode, data) => panic!(
                "expected a close, got opcode {opcode} ({} bytes)",
                data.len()
            ),
        }
    }
}

/// Whether the peer has closed `stream`: reads (without blocking) and discards what is
/// there; `true` on end of stream or a reset.
pub fn peer_closed(stream: &mut Tcp) -> bool {
    stream.set_nonblocking(true).unwrap();
    let mut buf = [0; 4096];
    let closed = loop {
        match stream.read(&mut buf) {
            Ok(0) => break true,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => break false,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => break true,
        }
    };
    stream.set_nonblocking(false).unwrap();
    closed
}
