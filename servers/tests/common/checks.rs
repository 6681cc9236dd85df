//! Checks that several test files make on a WebSocket client, whatever is between it and the
//! server (nothing, TLS, nginx).

use std::io::{Read, Write};

use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::{Error as WsError, Message, WebSocket};

/// Reads the next message that is not a ping or pong.
pub fn read_data<S: Read + Write>(ws: &mut WebSocket<S>) -> Message {
    loop {
        match ws.read().expect("read") {
            Message::Ping(_) | Message::Pong(_) => {}
            other => return other,
        }
    }
}

/// A text message, an empty one, and a binary message of `binary_len` bytes each come back
/// with their own type and content (what an echo server does).
pub fn assert_echoes<S: Read + Write>(ws: &mut WebSocket<S>, text: &str, binary_len: usize) {
    ws.send(Message::text(text)).expect("send text");
    assert_eq!(read_data(ws), Message::text(text));
    ws.send(Message::text("")).expect("send empty text");
    assert_eq!(read_data(ws), Message::text(""));
    let data: Vec<u8> = (0..binary_len).map(|i| (i % 251) as u8).collect();
    ws.send(Message::binary(data.clone())).expect("send binary");
    match read_data(ws) {
        Message::Binary(echo) => assert!(echo == data, "the binary echo differs"),
        other => panic!("expected a binary echo, got {other:?}"),
    }
}

/// Closes with `code` and `reason`, then reads until the connection ends: the server's
/// close frame must carry the same code (RFC 6455 §5.5.1: an endpoint echoes the status).
pub fn close_and_get_code_back<S: Read + Write>(ws: &mut WebSocket<S>, code: u16, reason: &str) {
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: reason.into(),
    };
    ws.close(Some(frame)).expect("send the close");
    let mut answer = None;
    loop {
        match ws.read() {
            Ok(Message::Close(frame)) => answer = frame,
            Ok(_) => {}
            Err(WsError::ConnectionClosed) => break,
            Err(e) => panic!("the close handshake failed: {e}"),
        }
    }
    let answer = answer.expect("the server answers the close with a close frame");
    assert_eq!(u16::from(answer.code), code, "{answer:?}");
}
