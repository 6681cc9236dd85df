//! The smol runner (`sockwright-smol`): an accept thread on async-io's `block_on`, and a
//! task per connection running [`async_conn::serve`] on the adapter's executor (the one
//! that runs the driver tasks of split halves: one thread per core).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread;

use futures_channel::oneshot;
use sockwright_driver::asynch::Runtime as _;
use sockwright_driver::ServerOptions;
use sockwright_smol::{Incoming, Smol};
use tracing::warn;

use super::shared::Shared;
use super::{async_conn, Running, ACCEPT_BACKOFF};

struct SmolServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
}

pub(crate) fn start(
    shared: Arc<Shared>,
    addr: SocketAddr,
    options: Arc<ServerOptions>,
) -> io::Result<Box<dyn Running>> {
    let listener = sockwright_smol::bind(addr, options)?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    thread::Builder::new()
        .name("sockwright-accept".into())
        .spawn(move || {
            let accept = async {
                loop {
                    match listener.accept().await {
                        Ok(incoming) => Smol::spawn(connection(shared.clone(), incoming)),
                        Err(e) => {
                            warn!("accept failed: {e}");
                            async_io::Timer::after(ACCEPT_BACKOFF).await;
                        }
                    }
                }
            };
            // Either way the listener is dropped as the thread ends: the port closes.
            async_io::block_on(futures_lite::future::or(accept, async {
                let _ = stopped.await;
            }));
        })?;
    Ok(Box::new(SmolServer {
        addr,
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

impl Running for SmolServer {
    fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    fn stop_accepting(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    fn finish(self: Box<Self>) {
        // The executor's threads, and any task still on them, end with the process.
    }
}
