//! The tokio runner (`sockwright-tokio`): a multi-thread runtime (one worker per core), an
//! accept task, and a task per connection running [`async_conn::serve`].

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_channel::oneshot;
use sockwright_driver::ServerOptions;
use sockwright_tokio::Incoming;
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
    let runtime = Builder::new_multi_thread()
        .enable_all()
        .thread_name("sockwright-tokio")
        .build()?;
    let listener = runtime.block_on(sockwright_tokio::bind(addr, options))?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    runtime.spawn(async move {
        let accept = async {
            loop {
                match listener.accept().await {
                    Ok(incoming) => {
                        tokio::spawn(connection(shared.clone(), incoming));
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

async fn connection(shared: Arc<Shared>, incoming: Incoming) {
    let peer = incoming.peer_addr();
    match incoming.handshake().await {
        Ok(ws) => {
            let handshake = ws.handshake().clone();
            let (reader, writer) = ws.split();
            async_conn::serve(shared, peer, handshake, reader, writer).await;
        }
        Err(e) => shared.not_upgraded(peer, &e),
    }
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
