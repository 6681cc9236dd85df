//! `sockwright-tokio` under the shared suite: the echo server is an application on its own
//! multi-thread runtime (one worker), a task per connection; a client owns a current-thread
//! runtime and blocks on it for each call.

use std::any::Any;
use std::net::SocketAddr;
use std::time::Duration;

use sockwright_driver::{ClientOptions, Error, Message, ServerOptions};
use sockwright_tokio::WebSocketStream;
use tokio::runtime::{Builder, Runtime};

use super::{timed_out, Adapter, TestClient};

/// The tokio adapter.
pub struct Tokio;

/// Stops the echo server (its runtime, with every connection task) when dropped.
struct Guard(Option<Runtime>);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

impl Adapter for Tokio {
    fn name(&self) -> &'static str {
        "tokio"
    }

    fn echo_server(&self, options: ServerOptions) -> (SocketAddr, Box<dyn Any + Send>) {
        let runtime = Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let listener = runtime
            .block_on(sockwright_tokio::bind("127.0.0.1:0", options))
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        runtime.spawn(async move {
            while let Ok(incoming) = listener.accept().await {
                tokio::spawn(async move {
                    let Ok(mut ws) = incoming.handshake().await else {
                        return;
                    };
                    while let Some(Ok(message)) = ws.recv().await {
                        if message.is_data() && ws.send(message).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        (addr, Box::new(Guard(Some(runtime))))
    }

    fn connect(&self, url: &str, options: ClientOptions) -> Result<Box<dyn TestClient>, Error> {
        let runtime = Builder::new_current_thread().enable_all().build()?;
        let ws = runtime.block_on(sockwright_tokio::connect(url, options))?;
        Ok(Box::new(Client { ws, runtime }))
    }
}

/// The connection is dropped before its runtime.
struct Client {
    ws: WebSocketStream,
    runtime: Runtime,
}

impl TestClient for Client {
    fn send(&mut self, message: Message) -> Result<(), Error> {
        self.runtime.block_on(self.ws.send(message))
    }

    fn recv(&mut self, timeout: Duration) -> Option<Result<Message, Error>> {
        // Timers are made inside the runtime.
        let recv = async { tokio::time::timeout(timeout, self.ws.recv()).await };
        self.runtime
            .block_on(recv)
            .unwrap_or_else(|_| Some(Err(timed_out())))
    }

    fn subprotocol(&self) -> Option<String> {
        self.ws.handshake().subprotocol().map(str::to_owned)
    }
}
