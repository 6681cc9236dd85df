//! The std adapter (`sockwright-std`): a thread per connection, blocking reads and sends.

use std::any::Any;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::Duration;

use sockwright_std::{ClientOptions, Error, Message, Server, ServerOptions, WebSocket};

use super::{timed_out, Adapter, TestClient};

/// `sockwright-std` under test.
pub struct Std;

impl Adapter for Std {
    fn name(&self) -> &'static str {
        "std"
    }

    fn echo_server(&self, options: ServerOptions) -> (SocketAddr, Box<dyn Any + Send>) {
        let server = Server::bind("127.0.0.1:0", options).expect("bind 127.0.0.1:0");
        // The handle stops the accept loop when the suite drops it.
        let handle = server
            .spawn(|mut ws| {
                while let Ok(message) = ws.read() {
                    if message.is_data() {
                        let _ = ws.send(message);
                    }
                }
            })
            .expect("start the accept thread");
        (handle.local_addr(), Box::new(handle))
    }

    fn connect(&self, url: &str, options: ClientOptions) -> Result<Box<dyn TestClient>, Error> {
        Ok(Box::new(Client(sockwright_std::connect(url, options)?)))
    }
}

struct Client(WebSocket);

impl TestClient for Client {
    fn send(&mut self, message: Message) -> Result<(), Error> {
        self.0.send(message)
    }

    fn recv(&mut self, timeout: Duration) -> Option<Result<Message, Error>> {
        match self.0.read_timeout(timeout) {
            Ok(message) => Some(Ok(message)),
            Err(Error::Closed) => None,
            Err(Error::Io(e)) if e.kind() == ErrorKind::TimedOut => Some(Err(timed_out())),
            Err(e) => Some(Err(e)),
        }
    }

    fn subprotocol(&self) -> Option<String> {
        self.0.subprotocol().map(str::to_owned)
    }
}
