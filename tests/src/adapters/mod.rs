//! Every adapter behind one small interface, so that one conformance suite, one 4 × 4
//! interop matrix and one Autobahn harness run unchanged against each of them.
//!
//! An implementation drives its adapter the way an application would (a thread per
//! connection, an event loop, or async tasks on the adapter's runtime) and shows the suite a
//! blocking face.

use std::any::Any;
use std::net::SocketAddr;
use std::time::Duration;

use sockwright_driver::{ClientOptions, Error, Message, ServerOptions};

mod mio;
// Named apart from the `std` crate, which this module's paths also use.
mod smol;
#[path = "std.rs"]
mod std_adapter;
mod tokio;

pub use self::mio::Mio;
pub use self::smol::Smol;
pub use self::tokio::Tokio;

/// One adapter, as the conformance suite sees it.
pub trait Adapter: Send + Sync {
    /// The adapter's short name (`std`, `mio`, `smol`, `tokio`).
    fn name(&self) -> &'static str;

    /// Starts an echo server on `127.0.0.1:0` with `options`: every text or binary message
    /// comes back with its own type, as the application would send it back through the
    /// adapter's API. Returns the bound address and a guard that stops the server when
    /// dropped.
    fn echo_server(&self, options: ServerOptions) -> (SocketAddr, Box<dyn Any + Send>);

    /// Connects a client to `url` (`ws://` or `wss://`) and completes the handshake.
    fn connect(&self, url: &str, options: ClientOptions) -> Result<Box<dyn TestClient>, Error>;
}

/// A client connection with a blocking face.
pub trait TestClient: Send {
    /// Sends any message (`Close` starts the close handshake).
    fn send(&mut self, message: Message) -> Result<(), Error>;

    /// The next thing the connection reports: a message (data, ping or pong), then a final
    /// `Close` (or the error that ended the connection), then `None`. Waits at most
    /// `timeout`, then returns `Some(Err(Error::Io(TimedOut)))`.
    fn recv(&mut self, timeout: Duration) -> Option<Result<Message, Error>>;

    /// The subprotocol the server chose, if any.
    fn subprotocol(&self) -> Option<String>;
}

/// Every adapter, in a fixed order.
pub fn all() -> Vec<Box<dyn Adapter>> {
    vec![
        Box::new(std_adapter::Std),
        Box::new(Mio),
        Box::new(Smol),
        Box::new(Tokio),
    ]
}

/// The adapter called `name`.
pub fn by_name(name: &str) -> Option<Box<dyn Adapter>> {
    all().into_iter().find(|a| a.name() == name)
}

/// The error [`TestClient::recv`] returns on a timeout.
pub fn timed_out() -> Error {
    Error::Io(std::io::ErrorKind::TimedOut.into())
}
