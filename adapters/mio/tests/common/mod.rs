//! Shared by the loopback tests: a recording handler, the echo handler, tungstenite peers.

#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc::{Receiver, Sender};
use std::time::{Duration, Instant};

use sockwright_mio::{
    Closed, ConnId, Context, Error, Handler, Handshake, LoopHandle, Message, SendError,
};
use tungstenite::WebSocket;

#[path = "../../../../tests/src/restarting.rs"]
pub mod restarting;

pub use restarting::Restarting;

/// What a [`Probe`] saw, in order.
#[derive(Debug)]
pub enum Seen {
    Open(ConnId, Handshake, LoopHandle, Option<String>),
    Message(ConnId, Message),
    Close(ConnId, Result<Closed, Error>),
    Writable(ConnId),
    Undelivered(ConnId, Message, Error),
    HandshakeFailed(SocketAddr, Error),
}

/// A handler that reports everything to a channel and optionally echoes data messages.
pub struct Probe {
    pub tx: Sender<Seen>,
    pub echo: bool,
}

impl Handler for Probe {
    fn on_open(&mut self, ctx: &mut Context<'_>, id: ConnId, handshake: &Handshake) {
        let thread = std::thread::current().name().map(str::to_owned);
        let _ = self
            .tx
            .send(Seen::Open(id, handshake.clone(), ctx.handle(), thread));
    }

    fn on_message(&mut self, ctx: &mut Context<'_>, id: ConnId, message: Message) {
        if self.echo && message.is_data() {
            ctx.send(id, message.clone()).unwrap();
        }
        let _ = self.tx.send(Seen::Message(id, message));
    }

    fn on_close(&mut self, _: &mut Context<'_>, id: ConnId, result: Result<Closed, Error>) {
        let _ = self.tx.send(Seen::Close(id, result));
    }

    fn on_writable(&mut self, _: &mut Context<'_>, id: ConnId) {
        let _ = self.tx.send(Seen::Writable(id));
    }

    fn on_undelivered(&mut self, _: &mut Context<'_>, id: ConnId, message: Message, e: Error) {
        let _ = self.tx.send(Seen::Undelivered(id, message, e));
    }

    fn on_handshake_failed(&mut self, _: &mut Context<'_>, peer: SocketAddr, error: Error) {
        let _ = self.tx.send(Seen::HandshakeFailed(peer, error));
    }
}

/// The next thing seen, within five seconds.
pub fn next(rx: &Receiver<Seen>) -> Seen {
    rx.recv_timeout(Duration::from_secs(5))
        .expect("the handler heard nothing within 5 s")
}

/// Skips what is seen until `pick` returns something (within five seconds).
pub fn wait_for<T>(rx: &Receiver<Seen>, mut pick: impl FnMut(Seen) -> Option<T>) -> T {
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let left = end.saturating_duration_since(Instant::now());
        let seen = rx
            .recv_timeout(left)
            .expect("the awaited event did not come within 5 s");
        if let Some(found) = pick(seen) {
            return found;
        }
    }
}

/// An echo handler with backpressure: an echo that does not fit waits (reading from that
/// peer pauses) until `on_writable`.
#[derive(Default)]
pub struct Echo {
    waiting: HashMap<ConnId, VecDeque<Message>>,
}

impl Echo {
    fn flush(&mut self, ctx: &mut Context<'_>, id: ConnId) {
        let Some(waiting) = self.waiting.get_mut(&id) else {
            return;
        };
        while let Some(message) = waiting.front() {
            let sent = match message {
                Message::Text(text) => ctx.send_text(id, text),
                Message::Binary(data) => ctx.send_binary(id, data),
                _ => Ok(()),
            };
            if let Err(Error::Send(SendError::OutboundFull { .. })) = sent {
                ctx.pause_reading(id);
                return;
            }
            waiting.pop_front();
        }
        self.waiting.remove(&id);
        ctx.resume_reading(id);
    }
}

impl Handler for Echo {
    fn on_message(&mut self, ctx: &mut Context<'_>, id: ConnId, message: Message) {
        if message.is_data() {
            self.waiting.entry(id).or_default().push_back(message);
            self.flush(ctx, id);
        }
    }

    fn on_writable(&mut self, ctx: &mut Context<'_>, id: ConnId) {
        self.flush(ctx, id);
    }

    fn on_close(&mut self, _: &mut Context<'_>, id: ConnId, _: Result<Closed, Error>) {
        self.waiting.remove(&id);
    }
}

/// A tungstenite client for `ws://addr/path`, with a 5 s read timeout (and reads tried again
/// after `EINTR`, which a socket with a timeout can give).
pub fn ws_client(addr: SocketAddr, path: &str) -> WebSocket<Restarting<TcpStream>> {
    let stream = Restarting(TcpStream::connect(addr).unwrap());
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let (ws, _) = tungstenite::client(format!("ws://{addr}{path}"), stream).unwrap();
    ws
}

/// Reads the next data message from a tungstenite peer (skipping pings and pongs).
pub fn read_data<S: std::io::Read + std::io::Write>(ws: &mut WebSocket<S>) -> tungstenite::Message {
    loop {
        match ws.read().unwrap() {
            tungstenite::Message::Ping(_) | tungstenite::Message::Pong(_) => continue,
            other => return other,
        }
    }
}

/// The test certificates: (server chain, server key, CA).
pub fn certs() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/certs/");
    let read = |name: &str| std::fs::read(format!("{dir}{name}")).unwrap();
    (read("server.pem"), read("server.key"), read("ca.pem"))
}
