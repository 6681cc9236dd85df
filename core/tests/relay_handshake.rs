//! Relay phase 1, as functions: the upstream request built from the client's, the upstream's
//! `101` mapped back, and the `502` a failed upstream gives the client.

mod relay_support;

use std::time::Duration;

use relay_support::{front_request, request, RELAY_KEY};
use sockwright::handshake::{
    validate_request, validate_response, ClientHandshakeError, HandshakeLimits, Parsed,
    ResponseParser, ServerConfig, TokenMode, WsUrl,
};
use sockwright::relay::{
    bad_gateway, map_response, plan_upstream, upstream_target, RelayConfig, UpstreamFailure,
};

fn url(s: &str) -> WsUrl {
    WsUrl::parse(s).expect("valid url")
}

/// The header lines of a built request, as (name, value), without the request line.
fn header_lines(bytes: &[u8]) -> Vec<(String, String)> {
    let req = request(bytes);
    req.headers()
        .map(|(n, v)| (n.to_string(), String::from_utf8_lossy(v).into_owned()))
        .collect()
}

fn has(lines: &[(String, String)], name: &str) -> Vec<String> {
    lines
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
        .collect()
}

#[test]
fn upstream_request_table() {
    struct Row {
        name: &'static str,
        target: &'static str,
        extra: &'static str,
        upstream: &'static str,
        addr: Option<&'static str>,
        cfg: fn(&mut RelayConfig),
        want_target: &'static str,
        /// (header, expected values in order; empty = absent)
        want: &'static [(&'static str, &'static [&'static str])],
    }
    fn default(_: &mut RelayConfig) {}
    let rows = [
        Row {
            name: "Name and Topic forwarded, others not",
            target: "/chat",
            extra: "Name: alice\r\nTopic: news\r\nCookie: s=1\r\nOrigin: https://app\r\n",
            upstream: "ws://up:9001/ws",
            addr: None,
            cfg: default,
            want_target: "/ws",
            want: &[
                ("Name", &["alice"]),
                ("Topic", &["news"]),
                ("Cookie", &[]),
                ("Origin", &[]),
                ("X-Forwarded-For", &[]),
                ("Host", &["up:9001"]),
            ],
        },
        Row {
            name: "every line of a forwarded header, configured spelling",
            target: "/chat",
            extra: "topic: a\r\nTOPIC: b\r\n",
            upstream: "ws://up/ws",
            addr: None,
            cfg: default,
            want_target: "/ws",
            want: &[("Topic", &["a", "b"]), ("Host", &["up"])],
        },
        Row {
            name: "configured list replaces the default",
            target: "/chat",
            extra: "Name: alice\r\nAuthorization: Bearer x\r\nOrigin: https://app\r\n",
            upstream: "ws://up/ws",
            addr: None,
            cfg: |c| c.forward_headers = vec!["Authorization".into(), "Origin".into()],
            want_target: "/ws",
            want: &[
                ("Name", &[]),
                ("Authorization", &["Bearer x"]),
                ("Origin", &["https://app"]),
            ],
        },
        Row {
            name: "hop-by-hop never forwarded even when listed",
            target: "/chat",
            extra: "Keep-Alive: 5\r\nTE: trailers\r\nProxy-Authorization: x\r\nTrailer: y\r\n",
            upstream: "ws://up/ws",
            addr: None,
            cfg: |c| {
                c.forward_headers = ["Keep-Alive", "TE", "Proxy-Authorization", "Trailer", "Upgrade", "Connection"]
                    .map(String::from)
                    .to_vec()
            },
            want_target: "/ws",
            want: &[
                ("Keep-Alive", &[]),
                ("TE", &[]),
                ("Proxy-Authorization", &[]),
                ("Trailer", &[]),
                ("Upgrade", &["websocket"]),
                ("Connection", &["Upgrade"]),
            ],
        },
        Row {
            name: "a header the client's Connection names is hop-by-hop",
            target: "/chat",
            // front_request sends "Connection: Upgrade"; a second line names Name.
            extra: "Connection: Name\r\nName: alice\r\nTopic: t\r\n",
            upstream: "ws://up/ws",
            addr: None,
            cfg: default,
            want_target: "/ws",
            want: &[("Name", &[]), ("Topic", &["t"])],
        },
        Row {
            name: "handshake headers never forwarded; the relay's own key",
            target: "/chat",
            extra: "Sec-WebSocket-Extensions: permessage-deflate\r\n",
            upstream: "ws://up/ws",
            addr: None,
            cfg: |c| {
                c.forward_headers = ["Sec-WebSocket-Key", "Sec-WebSocket-Extensions", "Host", "Content-Length"]
                    .map(String::from)
                    .to_vec()
            },
            want_target: "/ws",
            want: &[
                ("Sec-WebSocket-Key", &["cmVsYXkncyBvd24ga2V5IQ=="]),
                ("Sec-WebSocket-Extensions", &[]),
                ("Host", &["up"]),
                ("Content-Length", &[]),
            ],
        },
        Row {
            name: "X-Forwarded-For added",
            target: "/chat",
            extra: "",
            upstream: "ws://up/ws",
            addr: Some("203.0.113.7"),
            cfg: default,
            want_target: "/ws",
            want: &[("X-Forwarded-For", &["203.0.113.7"])],
        },
        Row {
            name: "X-Forwarded-For appended to every line of the chain",
            target: "/chat",
            extra: "X-Forwarded-For: 198.51.100.1, 10.0.0.1\r\nX-Forwarded-For: 10.0.0.2\r\n",
            upstream: "ws://up/ws",
            addr: Some("2001:db8::1"),
            cfg: default,
            want_target: "/ws",
            want: &[(
                "X-Forwarded-For",
                &["198.51.100.1, 10.0.0.1, 10.0.0.2, 2001:db8::1"],
            )],
        },
        Row {
            name: "X-Forwarded-For chain passes without an address",
            target: "/chat",
            extra: "X-Forwarded-For: 198.51.100.1\r\n",
            upstream: "ws://up/ws",
            addr: None,
            cfg: default,
            want_target: "/ws",
            want: &[("X-Forwarded-For", &["198.51.100.1"])],
        },
        Row {
            name: "forwarded_for off: nothing added, nothing passed unless listed",
            target: "/chat",
            extra: "X-Forwarded-For: 198.51.100.1\r\n",
            upstream: "ws://up/ws",
            addr: Some("203.0.113.7"),
            cfg: |c| c.forwarded_for = false,
            want_target: "/ws",
            want: &[("X-Forwarded-For", &[])],
        },
        Row {
            name: "client query appended when the upstream has none",
            target: "/im?user_id=7",
            extra: "",
            upstream: "ws://up/ws",
            addr: None,
            cfg: default,
            want_target: "/ws?user_id=7",
            want: &[],
        },
        Row {
            name: "client query after the upstream's",
            target: "/im?user_id=7&x=1",
            extra: "",
            upstream: "wss://up:8443/im?topic=news",
            addr: None,
            cfg: default,
            want_target: "/im?topic=news&user_id=7&x=1",
            want: &[("Host", &["up:8443"])],
        },
        Row {
            name: "empty client query adds nothing",
            target: "/im?",
            extra: "",
            upstream: "ws://up/ws?a=b",
            addr: None,
            cfg: default,
            want_target: "/ws?a=b",
            want: &[],
        },
        Row {
            name: "forward_query off",
            target: "/im?user_id=7",
            extra: "",
            upstream: "ws://up/ws",
            addr: None,
            cfg: |c| c.forward_query = false,
            want_target: "/ws",
            want: &[],
        },
        Row {
            name: "subprotocols forwarded in order, duplicates once",
            target: "/chat",
            extra: "Sec-WebSocket-Protocol: chat, v2.chat\r\nSec-WebSocket-Protocol: chat, \"json\"\r\n",
            upstream: "ws://up/ws",
            addr: None,
            cfg: default,
            want_target: "/ws",
            want: &[("Sec-WebSocket-Protocol", &["chat, v2.chat, json"])],
        },
    ];
    for row in rows {
        let mut cfg = RelayConfig::default();
        (row.cfg)(&mut cfg);
        let front = front_request(row.target, row.extra);
        let planned = plan_upstream(&front, &url(row.upstream), row.addr, RELAY_KEY, &cfg)
            .unwrap_or_else(|e| panic!("row {}: {e}", row.name));
        assert_eq!(planned.target(), row.want_target, "row {}", row.name);
        let lines = header_lines(&planned.to_bytes());
        for (header, values) in row.want {
            assert_eq!(has(&lines, header), *values, "row {}: {header}", row.name);
        }
    }
}

#[test]
fn upstream_request_refusals_name_the_header() {
    let cfg = RelayConfig::default();
    let up = url("ws://up/ws");
    let rows: &[(&str, &[u8], &str)] = &[
        (
            "forwarded value not UTF-8",
            b"Name: al\xFFce\r\n",
            "Name header \"al\\xFFce\" is not UTF-8",
        ),
        (
            "subprotocol not a token",
            b"Sec-WebSocket-Protocol: a/b\r\n",
            "offers \"a/b\", which is not a token",
        ),
        (
            "bad Connection list",
            b"Connection: \"upgrade\r\n",
            "Connection header",
        ),
    ];
    for (name, extra, needle) in rows {
        let mut head = b"GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n".to_vec();
        head.extend_from_slice(extra);
        head.extend_from_slice(b"\r\n");
        let front = request(&head);
        match plan_upstream(&front, &up, None, RELAY_KEY, &cfg) {
            Err(r) => {
                assert_eq!(r.status(), 400, "row {name}");
                assert!(r.reason().contains(needle), "row {name}: {}", r.reason());
            }
            Ok(req) => panic!("row {name}: planned {req:?}"),
        }
    }
}

#[test]
fn upstream_target_rule() {
    let rows = [
        ("ws://u/a", None, true, "/a"),
        ("ws://u/a", Some("q=1"), true, "/a?q=1"),
        ("ws://u/a?", Some("q=1"), true, "/a?q=1"),
        ("ws://u/a?x=2", Some("q=1"), true, "/a?x=2&q=1"),
        ("ws://u/a?x=2", Some("q=1"), false, "/a?x=2"),
        ("ws://u?x=2", Some(""), true, "/?x=2"),
    ];
    for (upstream, query, forward, want) in rows {
        assert_eq!(
            upstream_target(&url(upstream), query, forward),
            want,
            "{upstream} {query:?}"
        );
    }
}

#[test]
fn config_check_reports_unforwardable_names() {
    assert!(RelayConfig::default().check().is_ok());
    for (name, needle) in [
        ("Connection", "hop-by-hop"),
        ("proxy-authorization", "hop-by-hop"),
        ("Sec-WebSocket-Key", "handshake"),
        ("X-Forwarded-For", "forwarded_for"),
        ("Bad Name", "token"),
    ] {
        let mut cfg = RelayConfig::default();
        cfg.forward_headers.push(name.into());
        let err = cfg.check().expect_err(name);
        assert!(err.to_string().contains(needle), "{name}: {err}");
    }
    let mut cfg = RelayConfig::default();
    cfg.forwarded_for = false;
    cfg.forward_headers.push("X-Forwarded-For".into());
    assert!(cfg.check().is_ok());
}

/// The upstream's answer to a planned request, through the response parser.
fn upstream_answer(
    extra: &[u8],
    subprotocol: Option<&str>,
) -> (
    sockwright::handshake::ClientRequest,
    sockwright::handshake::ClientAccepted,
) {
    let front = front_request("/chat", "Sec-WebSocket-Protocol: chat, json\r\n");
    let planned = plan_upstream(
        &front,
        &url("ws://up/ws"),
        None,
        RELAY_KEY,
        &RelayConfig::default(),
    )
    .expect("planned");
    let up_req = request(&planned.to_bytes());
    let cfg = ServerConfig {
        subprotocols: subprotocol.into_iter().map(String::from).collect(),
        ..ServerConfig::default()
    };
    let accepted = validate_request(&up_req, &cfg).expect("upstream accepts");
    let mut response = accepted.response();
    response.truncate(response.len() - 2);
    response.extend_from_slice(extra);
    response.extend_from_slice(b"\r\n");
    let Ok(Parsed::Complete { head, .. }) =
        ResponseParser::new(HandshakeLimits::default()).feed(&response)
    else {
        panic!("response parses");
    };
    let done = validate_response(&head, &planned, TokenMode::Tolerant).expect("valid 101");
    (planned, done)
}

#[test]
fn response_mapping_passes_end_to_end_headers_only() {
    let (_, done) = upstream_answer(
        b"Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Backend: 3\r\nKeep-Alive: 5\r\n\
         Connection: X-Secret\r\nX-Secret: s\r\nContent-Length: 0\r\nProxy-Agent: p\r\n\
         Sec-WebSocket-Version: 13\r\nX-Latin: caf\xC3\xA9\r\nX-Bin: \xFF\r\n",
        Some("json"),
    );
    let front = front_request("/chat", "Sec-WebSocket-Protocol: chat, json\r\n");
    let mapped = map_response(&front, &done, TokenMode::Tolerant).expect("maps");
    assert_eq!(mapped.subprotocol.as_deref(), Some("json"));
    let names: Vec<&str> = mapped.headers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["Set-Cookie", "Set-Cookie", "X-Backend", "X-Latin"]);

    let accepted = validate_request(&front, &ServerConfig::default()).expect("front valid");
    assert_eq!(
        accepted.subprotocol(),
        None,
        "the relay's front config chooses nothing"
    );
    let bytes = String::from_utf8(mapped.response(&accepted)).expect("text");
    assert!(
        bytes.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{bytes}"
    );
    assert!(bytes.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
    assert!(
        bytes.contains("Sec-WebSocket-Protocol: json\r\n"),
        "{bytes}"
    );
    assert!(bytes
        .ends_with("Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Backend: 3\r\nX-Latin: café\r\n\r\n"));
}

#[test]
fn response_mapping_refuses_a_subprotocol_the_client_did_not_offer() {
    let (_, done) = upstream_answer(b"", Some("chat"));
    let front = front_request("/chat", "Sec-WebSocket-Protocol: json\r\n");
    let failure = map_response(&front, &done, TokenMode::Tolerant).expect_err("unoffered");
    assert_eq!(
        failure,
        UpstreamFailure::UnofferedSubprotocol("chat".into())
    );
    let (_, done) = upstream_answer(b"", None);
    let mapped = map_response(&front, &done, TokenMode::Tolerant).expect("none chosen is fine");
    assert_eq!(mapped.subprotocol, None);
}

#[test]
fn bad_gateway_reasons() {
    let up = url("ws://10.0.0.5:9001/im");
    let rows = [
        (
            UpstreamFailure::Handshake(ClientHandshakeError::Status {
                code: 403,
                reason: "Forbidden".into(),
            }),
            "upstream ws://10.0.0.5:9001/im refused the WebSocket handshake with 403 \"Forbidden\"",
        ),
        (
            UpstreamFailure::Handshake(ClientHandshakeError::Status {
                code: 404,
                reason: String::new(),
            }),
            "upstream ws://10.0.0.5:9001/im refused the WebSocket handshake with 404 \"Not Found\"",
        ),
        (
            UpstreamFailure::Unreachable("connection refused".into()),
            "upstream ws://10.0.0.5:9001/im could not be reached: connection refused",
        ),
        (
            UpstreamFailure::TimedOut(Duration::from_secs(10)),
            "upstream ws://10.0.0.5:9001/im did not answer the WebSocket handshake within 10000 ms (upstream_timeout)",
        ),
        (
            UpstreamFailure::ClosedEarly,
            "upstream ws://10.0.0.5:9001/im closed the connection before answering the WebSocket handshake",
        ),
        (
            UpstreamFailure::Handshake(ClientHandshakeError::WrongAccept {
                expected: "x".into(),
                got: None,
            }),
            "upstream ws://10.0.0.5:9001/im sent an invalid handshake response: Sec-WebSocket-Accept header is missing; expected \"x\"",
        ),
        (
            UpstreamFailure::UnofferedSubprotocol("chat".into()),
            "upstream ws://10.0.0.5:9001/im chose subprotocol \"chat\", which the client did not offer",
        ),
    ];
    for (failure, reason) in rows {
        let r = bad_gateway(Some(&up), &failure);
        assert_eq!(r.status(), 502);
        assert_eq!(r.reason(), reason);
        assert!(r.response().starts_with(b"HTTP/1.1 502 Bad Gateway\r\n"));
    }
    let hidden = bad_gateway(None, &UpstreamFailure::ClosedEarly);
    assert_eq!(
        hidden.reason(),
        "upstream closed the connection before answering the WebSocket handshake"
    );
}
