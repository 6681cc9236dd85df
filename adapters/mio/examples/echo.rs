//! An echo server: every text or binary message comes back with its own type.
//!
//! ```sh
//! cargo run -p sockwright-mio --example mio-echo -- 127.0.0.1:9001
//! ```
//!
//! It applies backpressure: an echo that does not fit in the peer's outbound queue is kept,
//! reading from that peer pauses, and the kept echoes go out when the queue has drained.

use std::collections::{HashMap, VecDeque};

use sockwright_mio::{
    Closed, ConnId, Context, Error, Handler, Message, SendError, Server, ServerOptions,
};

#[derive(Default)]
struct Echo {
    /// Echoes refused for lack of room, per connection, in order.
    waiting: HashMap<ConnId, VecDeque<Message>>,
}

impl Echo {
    /// Sends what waits for `id`, in order, until the queue is full again.
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
            match sent {
                Err(Error::Send(SendError::OutboundFull { .. })) => {
                    ctx.pause_reading(id);
                    return; // on_writable comes when the queue has drained
                }
                // Sent, or refused for good (the connection is closing).
                _ => waiting.pop_front(),
            };
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

fn main() -> Result<(), Error> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".into());
    let server = Server::bind(addr.as_str(), ServerOptions::default())?.threads(2);
    println!("echo server on ws://{}", server.local_addr()?);
    server.run(Echo::default)
}
