//! The relay server: routes (a path to an upstream `ws://` or `wss://` URL), each client
//! connection spliced to a new upstream connection by the core's [`Relay`] machine.
//!
//! A relay does not fit the [`App`] model: the client's `101` must wait for the upstream's
//! (an upstream that is down gives the client `502`), and the machine owns both sockets'
//! bytes. So its runners are its own, one per runtime, each only moving bytes between two
//! sockets and a runtime-neutral `Proxy` (`relay/proxy.rs`: front pipe, request head, routing,
//! relay machine, back pipe) and opening the upstream TCP connection when asked. What it
//! shares with the other servers is the [`Server`] around it: routing through an [`App`]
//! (pages, `/ping`, 404, 503 once shutting down), the outbox that shutdown closes every
//! connection through (1001 both ways), and the wait until each has ended and been logged.
//!
//! | runtime | a relayed connection |
//! |---|---|
//! | std | a thread that runs timers and the upstream connect, and a reader and a writer thread per socket |
//! | mio | one event loop per core, the first accepting; name lookups on a short-lived thread |
//! | tokio, smol | a task (one driving loop for both, over the driver's async traits) |
//!
//! [`Relay`]: sockwright::relay::Relay

#[cfg(feature = "async")]
mod async_rt;
mod log;
#[cfg(feature = "rt-mio")]
mod mio_rt;
mod proxy;
#[cfg(feature = "rt-std")]
mod std_rt;
#[cfg(test)]
mod tests;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use sockwright::handshake::{Rejection, Request, WsUrl};
use sockwright::relay::RelayConfig;
use sockwright_driver::{Message, Route, ServerOptions};

use crate::app::{App, Conn};
use crate::runner::shared::Shared;
use crate::runner::{Running, RuntimeKind};
use crate::{echo, http, Server};

/// What a relay server serves: its routes, how it builds upstream requests, and whom it
/// trusts for `wss://` upstreams.
#[derive(Clone, Debug)]
pub struct RelayOptions {
    /// Request paths and the upstream each goes to, e.g. `/chat` to
    /// `ws://127.0.0.1:9001/ws`. A client's query is appended to the upstream URL's.
    pub routes: Vec<(String, WsUrl)>,
    /// The core's relay settings: forwarded headers (default `Name`, `Topic`),
    /// `X-Forwarded-For`, the upstream timeout (default 10 s)… Its `front`, `front_conn` and
    /// `back_conn` are replaced by the server options' handshake and connection settings.
    pub config: RelayConfig,
    /// The roots trusted for `wss://` upstreams; `None`: the system's.
    pub upstream_tls: Option<Arc<rustls::ClientConfig>>,
}

/// Parses a `--route` value, `PATH=URL`: the path starts with `/` and is neither `/` (the
/// test page) nor `/ping`; the URL is `ws://` or `wss://`.
pub fn parse_route(text: &str) -> Result<(String, WsUrl), String> {
    let (path, url) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not PATH=URL, e.g. /chat=ws://127.0.0.1:9001/ws"))?;
    if !path.starts_with('/') || path.contains(['?', '#', ' ']) {
        return Err(format!(
            "route path {path:?} must start with / and hold no query"
        ));
    }
    if path == "/" || path == "/ping" {
        return Err(format!(
            "route path {path:?} is taken by the server's own page; pick another"
        ));
    }
    let url = WsUrl::parse(url).map_err(|e| format!("route {path}: {url:?}: {e}"))?;
    Ok((path.to_owned(), url))
}

impl Server {
    /// Binds `addr` and relays on `runtime`: each request to one of `relay`'s routes is
    /// forwarded to its upstream (see [`sockwright::relay`]). `options` give the client side
    /// its TLS, origin policy, limits and keepalive, and the upstream side the same limits
    /// and keepalive. `/` serves the test page (connecting to the first route), `/ping`
    /// answers `pong`. Shutdown closes both sides of every relay with 1001.
    pub fn start_relay(
        relay: RelayOptions,
        runtime: RuntimeKind,
        addr: SocketAddr,
        options: ServerOptions,
    ) -> io::Result<Server> {
        let service = Arc::new(Service::new(relay, &options));
        let shared = service.shared.clone();
        let running: Box<dyn Running> = match runtime {
            #[cfg(feature = "rt-std")]
            RuntimeKind::Std => std_rt::start(service, addr)?,
            #[cfg(feature = "rt-mio")]
            RuntimeKind::Mio => mio_rt::start(service, addr)?,
            #[cfg(feature = "rt-smol")]
            RuntimeKind::Smol => async_rt::start_smol(service, addr)?,
            #[cfg(feature = "rt-tokio")]
            RuntimeKind::Tokio => async_rt::start_tokio(service, addr)?,
            #[allow(unreachable_patterns)] // every runtime built in: nothing is left
            _ => {
                let _ = (service, addr);
                return Err(runtime.not_built());
            }
        };
        Ok(Server {
            shared,
            running: Some(running),
            runtime,
        })
    }
}

/// What every relayed connection of a server shares.
pub(crate) struct Service {
    shared: Arc<Shared>,
    routes: Arc<Routes>,
    config: RelayConfig,
    handshake_timeout: Duration,
    front_tls: Option<Arc<rustls::ServerConfig>>,
    upstream_tls: Option<Arc<rustls::ClientConfig>>,
}

impl Service {
    fn new(relay: RelayOptions, options: &ServerOptions) -> Service {
        let routes = Arc::new(Routes::new(relay.routes));
        let mut config = relay.config;
        config.front = options.handshake.clone();
        config.front_conn = options.connection.clone();
        config.back_conn = options.connection.clone();
        Service {
            shared: Arc::new(Shared::new(routes.clone(), options)),
            routes,
            config,
            handshake_timeout: options.handshake_timeout,
            front_tls: options.tls.clone(),
            upstream_tls: relay.upstream_tls,
        }
    }
}

/// The relay's routing, as an [`App`] so that the server loop's routing rules (503 once
/// shutting down, the log lines) apply: `/` and `/ping`, a route's path upgrades, anything
/// else is 404. Its connections are driven by the relay runners, which call no other
/// callback.
struct Routes {
    table: Vec<(String, WsUrl)>,
    page: String,
}

impl Routes {
    fn new(table: Vec<(String, WsUrl)>) -> Routes {
        let first = table.first().map_or("/", |(path, _)| path.as_str());
        Routes {
            page: test_page(first),
            table,
        }
    }

    fn upstream(&self, path: &str) -> Option<&WsUrl> {
        self.table
            .iter()
            .find(|(route, _)| route == path)
            .map(|(_, url)| url)
    }
}

impl App for Routes {
    fn route(&self, request: &Request) -> Route {
        match request.path() {
            "/" => http::page(request, http::HTML, self.page.as_bytes()),
            "/ping" => http::page(request, http::TEXT, b"pong\n"),
            // The relay validates the upgrade: a plain GET gets its 400 with the reason.
            path if self.upstream(path).is_some() => Route::Upgrade(Vec::new()),
            path => Route::Reject(Rejection::not_found(path)),
        }
    }

    fn on_message(&self, _: &mut Conn<'_>, _: Message) {
        // Never called: relayed messages stay inside the relay machine.
    }
}

/// The test page, set to connect to `path` instead of the echo server's endpoint.
fn test_page(path: &str) -> String {
    echo::test_page_for(path).unwrap_or_else(|| echo::TEST_PAGE.to_owned())
}
