//! The echo server: every text or binary message comes back on its connection with its own
//! type. WebSocket at [`WS_PATH`]; `/ping` answers `pong`; `/` serves a test page that
//! connects to [`WS_PATH`].

use sockwright::handshake::{Rejection, Request};
use sockwright_driver::{Message, Route};

use crate::app::{App, Conn};
use crate::http;

/// The path of the echo WebSocket endpoint.
pub const WS_PATH: &str = "/ws";

/// The test page served at `/`: connect, send text or binary, watch the echoes, disconnect.
/// Plain HTML and JavaScript, no external assets.
pub const TEST_PAGE: &str = include_str!("page.html");

/// The meta tag that names the page's WebSocket endpoint (its script reads it).
const PATH_META: &str = r#"<meta name="sockwright-path" content="/ws">"#;

/// The test page set to connect to `path` of the server that serves it (a path and query
/// the server chose, not one from a request). `None` if the page no longer has the tag.
pub(crate) fn test_page_for(path: &str) -> Option<String> {
    let escaped = path
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;");
    let meta = format!(r#"<meta name="sockwright-path" content="{escaped}">"#);
    TEST_PAGE
        .contains(PATH_META)
        .then(|| TEST_PAGE.replacen(PATH_META, &meta, 1))
}

/// The echo server's app.
#[derive(Clone, Copy, Debug, Default)]
pub struct Echo;

impl App for Echo {
    fn route(&self, request: &Request) -> Route {
        match request.path() {
            // The core validates the upgrade; a plain GET gets its 400 with the reason.
            WS_PATH => Route::Upgrade(Vec::new()),
            "/" => http::page(request, http::HTML, TEST_PAGE.as_bytes()),
            "/ping" => http::page(request, http::TEXT, b"pong\n"),
            path => Route::Reject(Rejection::not_found(path)),
        }
    }

    fn on_message(&self, conn: &mut Conn<'_>, message: Message) {
        // An error means the connection is closing; its close is reported on its own.
        let _ = conn.send(message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sockwright::handshake::{Parsed, RequestParser};

    fn request(head: &str) -> Request {
        let mut parser = RequestParser::new(Default::default());
        match parser.feed(head.as_bytes()) {
            Ok(Parsed::Complete { head, .. }) => head,
            other => panic!("{other:?}"),
        }
    }

    fn respond(route: Route) -> String {
        match route {
            Route::Respond(bytes) => String::from_utf8(bytes).unwrap(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn routes() {
        let get = |path: &str| request(&format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert!(matches!(Echo.route(&get("/ws")), Route::Upgrade(h) if h.is_empty()));
        assert!(matches!(Echo.route(&get("/ws?x=1")), Route::Upgrade(_)));
        assert!(respond(Echo.route(&get("/ping"))).ends_with("\r\n\r\npong\n"));
        let page = respond(Echo.route(&get("/")));
        assert!(
            page.contains("Content-Type: text/html; charset=utf-8"),
            "{page}"
        );
        assert!(page.contains("new WebSocket("), "{page}");
        match Echo.route(&get("/nope")) {
            Route::Reject(r) => assert_eq!(r.status(), 404),
            other => panic!("{other:?}"),
        }
        let post = request("POST /ping HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
        match Echo.route(&post) {
            Route::Reject(r) => {
                assert_eq!(r.status(), 405);
                assert!(r.headers().any(|(n, v)| n == "Allow" && v == "GET, HEAD"));
            }
            other => panic!("{other:?}"),
        }
        let head = request("HEAD /ping HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(respond(Echo.route(&head)).ends_with("\r\n\r\n"));
    }

    #[test]
    fn the_test_page_can_point_elsewhere() {
        let page = test_page_for("/im?user_id=a&topic=\"x\"").unwrap();
        assert!(page.contains(
            r#"<meta name="sockwright-path" content="/im?user_id=a&amp;topic=&quot;x&quot;">"#
        ));
        assert!(!page.contains(PATH_META));
    }
}
