//! The smol runner (`sockwright-smol`): an accept thread on async-io's `block_on`, and a
//! task per connection running [`async_conn::serve_accepted`] on the adapter's executor (the one
//! that runs the driver tasks of split halves: one thread per core).

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;

use async_io::Async;
use futures_channel::oneshot;
use sockwright_driver::asynch::{self, Runtime as _};
use sockwright_driver::ServerOptions;
use sockwright_smol::Smol;
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
    listen(addr, move |stream, peer| {
        Smol::spawn(connection(shared.clone(), stream, peer, options.clone()));
    })
}

/// Binds `addr` and accepts on a thread of its own; `serve` gets each connection, to spawn
/// its task.
pub(crate) fn listen(
    addr: SocketAddr,
    serve: impl Fn(Async<TcpStream>, SocketAddr) + Send + 'static,
) -> io::Result<Box<dyn Running>> {
    let listener = Async::<TcpListener>::bind(addr)?;
    let addr = listener.get_ref().local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    thread::Builder::new()
        .name("sockwright-accept".into())
        .spawn(move || {
            let accept = async {
                loop {
                    match listener.accept().await {
                        Ok((stream, peer)) => serve(stream, peer),
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

async fn connection(
    shared: Arc<Shared>,
    stream: Async<TcpStream>,
    peer: SocketAddr,
    options: Arc<ServerOptions>,
) {
    let transport = sockwright_smol::Transport::tcp(stream);
    let accepted = asynch::accept::<_, Smol>(transport, options).await;
    async_conn::serve_accepted(shared, peer, accepted).await;
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
