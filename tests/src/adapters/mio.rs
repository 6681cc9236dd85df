//! The mio adapter: an echo server on one event loop, written against `sockwright-mio`'s
//! public API as an application would (with backpressure), and its blocking client, which
//! runs a private loop thread.

use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use sockwright_driver::{ClientOptions, Error, Message, ServerOptions};
use sockwright_mio::{Closed, ConnId, Context, Handler, SendError, Server};

use super::{Adapter, TestClient};

/// `sockwright-mio`.
pub struct Mio;

impl Adapter for Mio {
    fn name(&self) -> &'static str {
        "mio"
    }

    fn echo_server(&self, options: ServerOptions) -> (SocketAddr, Box<dyn Any + Send>) {
        let server = Server::bind("127.0.0.1:0", options)
            .and_then(|server| server.spawn(Echo::default))
            .expect("the mio echo server starts");
        // Dropping the handle stops the loop and joins its thread.
        (server.local_addr(), Box::new(server))
    }

    fn connect(&self, url: &str, options: ClientOptions) -> Result<Box<dyn TestClient>, Error> {
        let client = sockwright_mio::connect(url, options)?;
        Ok(Box::new(MioClient(client)))
    }
}

/// Echoes every data message; an echo that does not fit waits, with reading from that peer
/// paused, until the loop reports the queue drained.
#[derive(Default)]
struct Echo {
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

struct MioClient(sockwright_mio::Client);

impl TestClient for MioClient {
    fn send(&mut self, message: Message) -> Result<(), Error> {
        self.0.send(message)
    }

    fn recv(&mut self, timeout: Duration) -> Option<Result<Message, Error>> {
        self.0.recv_timeout(timeout)
    }

    fn subprotocol(&self) -> Option<String> {
        self.0.subprotocol().map(str::to_owned)
    }
}
