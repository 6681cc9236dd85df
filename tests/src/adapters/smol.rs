//! `sockwright-smol` under the shared suite: the echo server is an application on its own
//! thread (an async-executor driven by async-io's `block_on`), a task per connection; a
//! client blocks on async-io's `block_on` for each call.

use std::any::Any;
use std::net::SocketAddr;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use async_executor::Executor;
use async_io::{block_on, Timer};
use futures_channel::oneshot;
use futures_lite::future;
use sockwright_driver::{ClientOptions, Error, Message, ServerOptions};
use sockwright_smol::WebSocketStream;

use super::{timed_out, Adapter, TestClient};

/// The smol (async-io) adapter.
pub struct Smol;

/// Stops the echo server (its executor, with every connection task) when dropped.
struct Guard {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Adapter for Smol {
    fn name(&self) -> &'static str {
        "smol"
    }

    fn echo_server(&self, options: ServerOptions) -> (SocketAddr, Box<dyn Any + Send>) {
        let listener = sockwright_smol::bind(SocketAddr::from(([127, 0, 0, 1], 0)), options)
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = thread::spawn(move || {
            let executor = Executor::new();
            let serve = async {
                while let Ok(incoming) = listener.accept().await {
                    executor
                        .spawn(async move {
                            let Ok(mut ws) = incoming.handshake().await else {
                                return;
                            };
                            while let Some(Ok(message)) = ws.recv().await {
                                if message.is_data() && ws.send(message).await.is_err() {
                                    break;
                                }
                            }
                        })
                        .detach();
                }
            };
            let stop = async {
                let _ = stopped.await;
            };
            block_on(executor.run(future::or(serve, stop)));
        });
        let guard = Guard {
            stop: Some(stop),
            thread: Some(thread),
        };
        (addr, Box::new(guard))
    }

    fn connect(&self, url: &str, options: ClientOptions) -> Result<Box<dyn TestClient>, Error> {
        let ws = block_on(sockwright_smol::connect(url, options))?;
        Ok(Box::new(Client { ws }))
    }
}

struct Client {
    ws: WebSocketStream,
}

impl TestClient for Client {
    fn send(&mut self, message: Message) -> Result<(), Error> {
        block_on(self.ws.send(message))
    }

    fn recv(&mut self, timeout: Duration) -> Option<Result<Message, Error>> {
        let recv = async { Some(self.ws.recv().await) };
        let expire = async {
            Timer::after(timeout).await;
            None
        };
        block_on(future::or(recv, expire)).unwrap_or_else(|| Some(Err(timed_out())))
    }

    fn subprotocol(&self) -> Option<String> {
        self.ws.handshake().subprotocol().map(str::to_owned)
    }
}
