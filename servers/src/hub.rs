//! The push / broadcast hub: the core's [`Hub`] (who is connected, as which user, in which
//! topics; who gets a message; the slow-consumer policy) behind HTTP and WebSocket endpoints.
//!
//! - `GET /im?user_id=U[&topic=T]…[&name=N]` (WebSocket): registers the connection as a
//!   session of user `U` in topics `T` (repeat `topic` for more; none means the default
//!   room, so plain `/im?user_id=…` connections all hear each other). `Topic` header lines
//!   (comma-separated lists) add topics and a `Name` header gives a name when the query has
//!   none: a relay forwards them. Without `user_id`, or with a bad id, name or topic, the
//!   request is refused with `400` and the reason (`503` when the hub is full) before it is
//!   upgraded. Each text or binary message goes, with its type, to every session in the
//!   sender's topics, the sender included. A session ends with its connection; a user's
//!   other sessions stay.
//! - `POST /publish[?topic=T | ?user_id=U]`: the body is sent to every session of topic `T`,
//!   or of user `U`, or, with neither, to every session. It goes as a text message when it is
//!   UTF-8, as binary when it is not or when `Content-Type` is `application/octet-stream`
//!   (a `text/*` body that is not UTF-8 is refused with `400`). The reply is
//!   `{"recipients":R,"delivered":D}`: `R` sessions were addressed and `D` of them had the
//!   message handed to their connection (see [`Outbox::publish`] for when that verdict is
//!   final). The body may be at most the hub's `max_queued_bytes` (`413` otherwise), as
//!   no session could queue more.
//! - `/ping` answers `pong`; `/` serves the test page, connected to `/im?user_id=…`.
//!
//! Every message is encoded once and the same bytes are shared by all its recipients; each
//! recipient's connection queues it or applies the slow-consumer policy on its own, so a
//! slow reader holds back no one else.

use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use sockwright::conn;
use sockwright::frame::{CloseCode, SharedFrame};
use sockwright::handshake::{Rejection, Request};
use sockwright::hub::{ConfigError, Handle, Hub, HubConfig, RegisterError, Registration, Target};
use sockwright_driver::{BodyHandler, Handshake, Message, Route};
use tracing::{debug, warn};

use crate::app::{App, Conn, ConnId, End};
use crate::id_map::IdMap;
use crate::outbox::Outbox;
use crate::{echo, http};

/// The hub's WebSocket endpoint.
pub const WS_PATH: &str = "/im";

/// Where backends publish.
pub const PUBLISH_PATH: &str = "/publish";

/// `application/json`.
const JSON: &str = "application/json";

/// The hub server's app. See the [module docs](self).
pub struct HubServer {
    inner: Arc<Inner>,
    /// Answers `POST /publish` once its body has been read.
    publish: BodyHandler,
    page: String,
}

/// What the app's callbacks and the publish endpoint share.
struct Inner {
    config: Arc<HubConfig>,
    /// The registry. One lock is enough: it is held only to route (index lookups and a list
    /// of recipients, plus the one encoding of a client's message, which the core does as it
    /// routes), never while a frame is handed to the connections, which happens after it is
    /// released; a backend's publish is encoded before it is taken.
    state: Mutex<State>,
    /// The server's outbox, from [`App::on_start`].
    outbox: OnceLock<Arc<Outbox>>,
}

/// The core's hub, and which connection each session is.
struct State {
    hub: Hub,
    handles: IdMap<ConnId, Handle>,
    conns: IdMap<Handle, ConnId>,
}

impl HubServer {
    /// A hub server with `config` (limits, default room, slow-consumer policy), once the core
    /// accepts it.
    pub fn new(config: HubConfig) -> Result<HubServer, ConfigError> {
        let hub = Hub::new(config.clone())?;
        let inner = Arc::new(Inner {
            config: Arc::new(config),
            state: Mutex::new(State {
                hub,
                handles: IdMap::default(),
                conns: IdMap::default(),
            }),
            outbox: OnceLock::new(),
        });
        let publisher = inner.clone();
        let publish =
            BodyHandler::new(move |request, body| publisher.publish_request(request, body));
        Ok(HubServer {
            inner,
            publish,
            page: test_page(),
        })
    }

    /// The limits and policies in force.
    pub fn config(&self) -> &HubConfig {
        &self.inner.config
    }

    /// How many sessions are registered.
    pub fn sessions(&self) -> usize {
        self.inner.state().hub.len()
    }
}

impl App for HubServer {
    fn route(&self, request: &Request) -> Route {
        match request.path() {
            WS_PATH => match self.inner.check(request) {
                // The core then validates the upgrade itself (a plain GET gets its 400).
                Ok(_) => Route::Upgrade(Vec::new()),
                Err(rejection) => Route::Reject(rejection),
            },
            PUBLISH_PATH if request.method() == "POST" => Route::Body {
                limit: self.inner.config.max_queued_bytes,
                respond: self.publish.clone(),
            },
            PUBLISH_PATH => {
                let reason = format!(
                    "method {} is not allowed here; POST the message as the body",
                    request.method()
                );
                let rejection = Rejection::new(405, reason);
                // A constant, valid header: `with_header` cannot refuse it.
                Route::Reject(
                    rejection
                        .clone()
                        .with_header("Allow", "POST")
                        .unwrap_or(rejection),
                )
            }
            "/" => http::page(request, http::HTML, self.page.as_bytes()),
            "/ping" => http::page(request, http::TEXT, b"pong\n"),
            path => Route::Reject(Rejection::not_found(path)),
        }
    }

    fn on_start(&self, outbox: &Arc<Outbox>) {
        let _ = self.inner.outbox.set(outbox.clone());
    }

    fn on_open(&self, conn: &mut Conn<'_>, handshake: &Handshake) {
        let Handshake::Server { request, .. } = handshake else {
            return;
        };
        let registered = registration(request).and_then(|registration| {
            let mut state = self.inner.state();
            let handle = state.hub.register(registration).map_err(|e| refusal(&e))?;
            state.handles.insert(conn.id(), handle);
            state.conns.insert(handle, conn.id());
            Ok(())
        });
        if let Err(rejection) = registered {
            // Checked before the upgrade; the hub may have filled up since.
            let code = match rejection.status() {
                503 => CloseCode::TRY_AGAIN_LATER,
                _ => CloseCode::POLICY_VIOLATION,
            };
            let _ = conn.close(code, rejection.reason());
        }
    }

    fn on_message(&self, conn: &mut Conn<'_>, message: Message) {
        let fan_out = {
            let mut state = self.inner.state();
            let Some(&handle) = state.handles.get(&conn.id()) else {
                return; // not registered: it is being closed
            };
            let message = match message {
                Message::Text(text) => conn::Message::Text(text),
                Message::Binary(data) => conn::Message::Binary(data),
                _ => return, // only text and binary messages come here
            };
            // The core encodes the frame once, here, for every recipient.
            match state.hub.on_message(handle, &message) {
                Ok(fan_out) => {
                    let ids = state.ids(fan_out.recipients());
                    Ok((fan_out.into_parts().0, ids))
                }
                Err(e) => Err(e),
            }
        };
        match fan_out {
            Ok((frame, ids)) => {
                conn.outbox().fan_out(ids, &frame, &self.inner.config);
            }
            Err(e) => {
                let _ = conn.close(e.close_code(), &e.to_string());
            }
        }
    }

    fn on_close(&self, id: ConnId, _: &End) {
        let mut state = self.inner.state();
        if let Some(handle) = state.handles.remove(&id) {
            state.conns.remove(&handle);
            state.hub.unregister(handle);
        }
    }
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        // The registry is consistent between calls; a panic elsewhere leaves it usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether a `/im` request would be registered (before it is upgraded).
    fn check(&self, request: &Request) -> Result<Registration, Rejection> {
        let registration = registration(request)?;
        self.state()
            .hub
            .check(&registration)
            .map_err(|e| refusal(&e))?;
        Ok(registration)
    }

    /// `POST /publish`, its body read: the HTTP response.
    fn publish_request(&self, request: &Request, body: &[u8]) -> Vec<u8> {
        match self.publish_body(request, body) {
            Ok((recipients, delivered)) => {
                let json = format!("{{\"recipients\":{recipients},\"delivered\":{delivered}}}\n");
                http::response(200, JSON, json.as_bytes(), false)
            }
            Err(rejection) => rejection.response(),
        }
    }

    /// Publishes the body to the query's target: how many sessions were addressed and how
    /// many had it handed to their connection.
    fn publish_body(&self, request: &Request, body: &[u8]) -> Result<(usize, usize), Rejection> {
        let query = Query::parse(request.query());
        let target = match (query.single("topic")?, query.single("user_id")?) {
            (Some(_), Some(_)) => {
                return Err(Rejection::new(
                    400,
                    "publish to a topic or to a user_id, not both",
                ))
            }
            (Some(topic), None) => Target::Topic(topic),
            (None, Some(user)) => Target::User(user),
            (None, None) => Target::All,
        };
        let frame = frame_for(request, body)?;
        let Some(outbox) = self.outbox.get() else {
            return Err(Rejection::new(503, "the hub is not serving yet"));
        };
        let ids = {
            let mut state = self.state();
            let fan_out = state
                .hub
                .publish(target, frame.clone(), None)
                .map_err(|e| Rejection::new(e.http_status(), e.to_string()))?;
            state.ids(fan_out.recipients())
        };
        let recipients = ids.len();
        let delivered = outbox
            .publish(ids, &frame, &self.config)
            .iter()
            .filter(|(_, delivery)| *delivery == sockwright::hub::Delivery::Queued)
            .count();
        debug!("publish to {target:?}: {recipients} recipient(s), {delivered} delivered");
        Ok((recipients, delivered))
    }
}

impl State {
    /// The connections of `handles` (a fan-out's recipients), in order.
    fn ids(&self, handles: &[Handle]) -> Vec<ConnId> {
        handles
            .iter()
            .filter_map(|handle| self.conns.get(handle).copied())
            .collect()
    }
}

/// The message a publish body makes: binary for `application/octet-stream` or bytes that
/// are not UTF-8, text otherwise (encoded once, here).
fn frame_for(request: &Request, body: &[u8]) -> Result<SharedFrame, Rejection> {
    let media_type = request
        .header("Content-Type")
        .and_then(|value| std::str::from_utf8(value).ok())
        .map(|value| {
            value
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    if media_type == "application/octet-stream" {
        return Ok(SharedFrame::binary(body));
    }
    match std::str::from_utf8(body) {
        Ok(text) => Ok(SharedFrame::text(text)),
        Err(e) if media_type.starts_with("text/") => Err(Rejection::new(
            400,
            format!(
                "the body is declared {media_type} but is not UTF-8 (byte {}); send it as \
                 application/octet-stream to publish binary",
                e.valid_up_to()
            ),
        )),
        Err(_) => Ok(SharedFrame::binary(body)),
    }
}

/// What a `/im` request registers: `user_id`, `topic`s and `name` from the query, more
/// topics from `Topic` headers, the name from a `Name` header if the query has none.
fn registration(request: &Request) -> Result<Registration, Rejection> {
    let query = Query::parse(request.query());
    let Some(user_id) = query.single("user_id")? else {
        return Err(Rejection::new(
            400,
            format!("user_id is required: connect to {WS_PATH}?user_id=YOUR_ID"),
        ));
    };
    let mut registration = Registration::new(user_id).with_topics(query.all("topic"));
    for line in request.header_values("Topic") {
        let line = header_text("Topic", line)?;
        // A list, as proxies merge repeated lines; empty elements are skipped (RFC 9110).
        let topics = line.split(',').map(str::trim).filter(|t| !t.is_empty());
        registration = registration.with_topics(topics);
    }
    match query.single("name")? {
        Some(name) => registration = registration.with_name(name),
        None => {
            if let Some(name) = request.header("Name") {
                registration = registration.with_name(header_text("Name", name)?);
            }
        }
    }
    Ok(registration)
}

fn header_text<'v>(name: &str, value: &'v [u8]) -> Result<&'v str, Rejection> {
    std::str::from_utf8(value)
        .map_err(|_| Rejection::new(400, format!("{name} header is not UTF-8")))
}

/// The refusal of a registration the core turned down: its status and its words.
fn refusal(error: &RegisterError) -> Rejection {
    Rejection::new(error.http_status(), error.to_string())
}

/// A request's query parameters, percent-decoded (`+` is a space).
struct Query(Vec<(String, String)>);

impl Query {
    /// Bytes that do not decode to UTF-8 become U+FFFD, which no id is refused for; the
    /// core bounds each value's length.
    fn parse(query: Option<&str>) -> Query {
        let pairs = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .map(|(name, value)| (name.into_owned(), value.into_owned()))
            .collect();
        Query(pairs)
    }

    /// Every value of `name`, in order.
    fn all<'q, 'n>(&'q self, name: &'n str) -> impl Iterator<Item = &'q str> + use<'q, 'n> {
        self.0
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, value)| value.as_str())
    }

    /// The value of `name`, if given; refused when it is given more than once.
    fn single(&self, name: &str) -> Result<Option<&str>, Rejection> {
        let mut values = self.all(name);
        let first = values.next();
        if values.next().is_some() {
            return Err(Rejection::new(
                400,
                format!("{name} is given more than once in the query"),
            ));
        }
        Ok(first)
    }
}

/// The echo server's test page, titled for the hub and connected to `/im?user_id=…`.
fn test_page() -> String {
    let Some(page) = echo::test_page_for("/im?user_id=guest") else {
        warn!("the hub's test page could not be made from the echo page; it connects to /ws");
        return echo::TEST_PAGE.to_owned();
    };
    page.replacen(
        "<title>sockwright echo</title>",
        "<title>sockwright hub</title>",
        1,
    )
    .replacen("<h1>sockwright echo</h1>", "<h1>sockwright hub</h1>", 1)
    .replacen(
        "Every message sent to the WebSocket endpoint comes back with its own type.",
        "Every message is delivered to every session in the sender's topics (the sender \
             included). Open the page twice with different user ids, or publish from a \
             backend: <code>curl -d hello http://HOST/publish</code>.",
        1,
    )
}
