//! Test harness shared by the connection tests: a virtual-time `Pair` of connections that talk
//! to each other in memory, in the style of quinn-proto's `Pair`.
#![allow(dead_code)]

use std::time::Duration;

use sockwright::conn::{Config, Connection, Error, Event};

/// A fixed client masking key, so encoded client frames can be compared with byte vectors.
pub const RFC_MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A client connection whose every frame is masked with [`RFC_MASK`].
pub fn client(config: Config) -> Connection {
    Connection::client(config, Duration::ZERO, || RFC_MASK)
}

/// A server connection.
pub fn server(config: Config) -> Connection {
    Connection::server(config, Duration::ZERO)
}

/// Every event `conn` has queued.
pub fn events(conn: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| conn.poll_event()).collect()
}

/// Every byte `conn` has queued.
pub fn transmit(conn: &mut Connection) -> Vec<u8> {
    let mut out = Vec::new();
    conn.poll_transmit(&mut out);
    out
}

/// A client and a server joined by an in-memory wire, on a virtual clock.
pub struct Pair {
    pub client: Connection,
    pub server: Connection,
    pub now: Duration,
    pub client_events: Vec<Event>,
    pub server_events: Vec<Event>,
    pub client_errors: Vec<Error>,
    pub server_errors: Vec<Error>,
    /// When false, the server's bytes are dropped instead of reaching the client (a peer
    /// that stopped reading, or a cut wire).
    pub server_to_client: bool,
    /// When false, the client's bytes are dropped.
    pub client_to_server: bool,
}

impl Pair {
    /// A pair with the same config on both ends.
    pub fn new(config: Config) -> Self {
        Self::with_configs(config.clone(), config)
    }

    /// A pair with its own config for each end.
    pub fn with_configs(client_config: Config, server_config: Config) -> Self {
        Self {
            client: client(client_config),
            server: server(server_config),
            now: Duration::ZERO,
            client_events: Vec::new(),
            server_events: Vec::new(),
            client_errors: Vec::new(),
            server_errors: Vec::new(),
            server_to_client: true,
            client_to_server: true,
        }
    }

    /// Moves bytes both ways until neither end has anything to send, collecting events.
    pub fn drive(&mut self) {
        loop {
            let from_client = transmit(&mut self.client);
            let from_server = transmit(&mut self.server);
            if from_client.is_empty() && from_server.is_empty() {
                break;
            }
            if self.client_to_server && !from_client.is_empty() {
                if let Err(e) = self.server.handle_read(self.now, &from_client) {
                    self.server_errors.push(e);
                }
            }
            if self.server_to_client && !from_server.is_empty() {
                if let Err(e) = self.client.handle_read(self.now, &from_server) {
                    self.client_errors.push(e);
                }
            }
            self.server_events.extend(events(&mut self.server));
            self.client_events.extend(events(&mut self.client));
        }
        self.server_events.extend(events(&mut self.server));
        self.client_events.extend(events(&mut self.client));
    }

    /// Advances the clock by `by` in steps, firing each end's timer when it comes due and
    /// driving the wire after each step.
    pub fn advance(&mut self, by: Duration) {
        let end = self.now + by;
        loop {
            self.drive();
            let next = [self.client.poll_timeout(), self.server.poll_timeout()]
                .into_iter()
                .flatten()
                .filter(|t| *t <= end)
                .min();
            let Some(next) = next else { break };
            self.now = self.now.max(next);
            if self.client.poll_timeout().is_some_and(|t| t <= self.now) {
                if let Err(e) = self.client.handle_timeout(self.now) {
                    self.client_errors.push(e);
                }
            }
            if self.server.poll_timeout().is_some_and(|t| t <= self.now) {
                if let Err(e) = self.server.handle_timeout(self.now) {
                    self.server_errors.push(e);
                }
            }
        }
        self.now = end;
        self.drive();
    }
}
