//! The tokio runner (`sockwright-tokio`): a multi-thread runtime (one worker per core), an
//! accept task, and a task per connection running [`async_conn::serve_accepted`].

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_channel::oneshot;
use sockwright_driver::ServerOptions;
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::{Builder, Runtime};
use tracing::warn;

use super::shared::Shared;
use super::{async_conn, Running, ACCEPT_BACKOFF};

/// How long the runtime's tasks get to end once the server has stopped.
const RUNTIME_SHUTDOWN: Duration = Duration::from_millis(200);

struct TokioServer {
    addr: SocketAddr,
    runtime: Runtime,
    stop: Option<oneshot::Sender<()>>,
}

pub(crate) fn start(
    shared: Arc<Shared>,
    addr: SocketAddr,
    options: Arc<ServerOptions>,
) -> io::Result<Box<dyn Running>> {
    listen(addr, move |stream, peer| {
        tokio::spawn(connection(shared.clone(), stream, peer, options.clone()));
    })
}

/// Builds the runtime, binds `addr` and accepts on a task of its own; `serve` gets each
/// connection (Nagle's algorithm off), inside the runtime, to spawn its task.
pub(crate) fn listen(
    addr: SocketAddr,
    serve: impl Fn(TcpStream, SocketAddr) + Send + Sync + 'static,
) -> io::Result<Box<dyn Running>> {
    let runtime = Builder::new_multi_thread()
        .enable_all()
        .thread_name("sockwright-tokio")
        .build()?;
    let listener = runtime.block_on(TcpListener::bind(addr))?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    runtime.spawn(async move {
        let accept = async {
            loop {
                match listener.accept().await {
                    Ok((stream, peer)) => {
                        // Frames are written whole: Nagle's algorithm would only delay them.
                        let _ = stream.set_nodelay(true);
                        serve(stream, peer);
                    }
                    Err(e) => {
                        warn!("accept failed: {e}");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                    }
                }
            }
        };
        // Either way the listener is dropped here: the port closes.
        futures_lite::future::or(accept, async {
            let _ = stopped.await;
        })
        .await;
    });
    Ok(Box::new(TokioServer {
        addr,
        runtime,
        stop: Some(stop),
    }))
}

async fn connection(
    shared: Arc<Shared>,
    stream: TcpStream,
    peer: SocketAddr,
    options: Arc<ServerOptions>,
) {
    let accepted = sockwright_tokio::accept(stream, options).await;
    async_conn::serve_accepted(shared, peer, accepted).await;
}

impl Running for TokioServer {
    fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    fn stop_accepting(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    fn finish(self: Box<Self>) {
        self.runtime.shutdown_timeout(RUNTIME_SHUTDOWN);
    }
}
