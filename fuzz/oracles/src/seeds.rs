//! The seed corpus, written as code: RFC 6455 example frames (§5.7), real browser handshakes
//! (Chrome, Firefox, Safari, with their header sets), the quoted-`Connection` cases, responses
//! with subprotocols, close frames with each code, and short scripts for the machines.
//!
//! `cargo run -p sockwright-fuzz-oracles --example write_seeds` writes them to
//! `fuzz/corpus/<target>/<name>`; the test `seeds_are_committed` checks the files there are
//! these.

use crate::wire::{encode, op};

/// One seed file.
pub struct Seed {
    /// The target.
    pub target: &'static str,
    /// The file name.
    pub name: String,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// Every seed.
pub fn seeds() -> Vec<Seed> {
    let mut all = Vec::new();
    let mut add = |target: &'static str, name: &str, bytes: Vec<u8>| {
        all.push(Seed {
            target,
            name: name.to_string(),
            bytes,
        });
    };
    for (name, head) in requests() {
        add("handshake_server", name, head);
    }
    for (name, head) in responses() {
        add("handshake_client", name, head);
    }
    for (name, value) in token_lists() {
        add("token_list", name, value.to_vec());
    }
    for (name, url) in urls() {
        add("ws_url", name, url.as_bytes().to_vec());
    }
    for (name, settings, seed, stream) in frame_streams(Some(MASK)) {
        add(
            "frame_server",
            &name,
            [&[settings, seed][..], &stream].concat(),
        );
    }
    for (name, settings, seed, stream) in frame_streams(None) {
        add(
            "frame_client",
            &name,
            [&[settings, seed][..], &stream].concat(),
        );
    }
    for (name, script) in connection_scripts() {
        add("connection", name, script);
    }
    for (name, script) in relay_scripts() {
        add("relay", name, script);
    }
    for (name, script) in hub_scripts() {
        add("hub", name, script);
    }
    all
}

/// RFC 6455 §5.7's masking key.
const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

const KEY_LINE: &str = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

fn head(lines: &[&str]) -> Vec<u8> {
    let mut out = lines.join("\r\n");
    out.push_str("\r\n\r\n");
    out.into_bytes()
}

fn requests() -> Vec<(&'static str, Vec<u8>)> {
    let plain = |connection: &str, upgrade: &str| {
        format!(
            "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: {upgrade}\r\n\
             Connection: {connection}\r\n{KEY_LINE}Sec-WebSocket-Version: 13\r\n\r\n"
        )
        .into_bytes()
    };
    let rfc = b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
        Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n\
        Sec-WebSocket-Version: 13\r\n\r\n"
        .to_vec();
    let mut with_frame = rfc.clone();
    with_frame.extend(encode(true, 0, op::TEXT, b"Hello", Some(MASK)));
    vec![
        ("rfc6455-section-1.3", rfc),
        ("rfc6455-with-first-frame", with_frame),
        (
            "chrome-120",
            head(&[
                "GET /chat HTTP/1.1",
                "Host: localhost:9001",
                "Connection: Upgrade",
                "Pragma: no-cache",
                "Cache-Control: no-cache",
                "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
                "Upgrade: websocket",
                "Origin: http://localhost:9001",
                "Sec-WebSocket-Version: 13",
                "Accept-Encoding: gzip, deflate, br",
                "Accept-Language: en-US,en;q=0.9",
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
            ]),
        ),
        (
            "firefox-121",
            head(&[
                "GET /chat HTTP/1.1",
                "Host: localhost:9001",
                "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
                "Accept: */*",
                "Accept-Language: en-US,en;q=0.5",
                "Accept-Encoding: gzip, deflate, br",
                "Sec-WebSocket-Version: 13",
                "Origin: http://localhost:9001",
                "Sec-WebSocket-Protocol: chat",
                "Sec-WebSocket-Extensions: permessage-deflate",
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                "Connection: keep-alive, Upgrade",
                "Sec-Fetch-Dest: empty",
                "Sec-Fetch-Mode: websocket",
                "Sec-Fetch-Site: same-origin",
                "Pragma: no-cache",
                "Cache-Control: no-cache",
                "Upgrade: websocket",
            ]),
        ),
        (
            "safari-17",
            head(&[
                "GET /chat HTTP/1.1",
                "Host: localhost:9001",
                "Upgrade: websocket",
                "Connection: Upgrade",
                "Pragma: no-cache",
                "Cache-Control: no-cache",
                "Origin: https://example.com",
                "Sec-WebSocket-Version: 13",
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                "Sec-WebSocket-Extensions: permessage-deflate",
                "User-Agent: Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15",
                "Accept-Language: en-GB,en;q=0.9",
                "Accept-Encoding: gzip, deflate",
            ]),
        ),
        (
            "nginx-proxied",
            head(&[
                "GET /im?user_id=7 HTTP/1.1",
                "Upgrade: websocket",
                "Connection: upgrade",
                "Host: backend",
                "X-Real-IP: 192.0.2.7",
                "X-Forwarded-For: 192.0.2.7",
                "Sec-WebSocket-Version: 13",
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                "Name: ann",
                "Topic: news",
            ]),
        ),
        ("quoted-connection", plain("\"upgrade\"", "websocket")),
        ("quoted-connection-escaped", plain("\"up\\grade\"", "websocket")),
        ("keep-alive-upgrade", plain("keep-alive, Upgrade", "websocket")),
        ("upgrade-h2c-websocket", plain("Upgrade", "h2c, websocket")),
        ("quoted-upgrade-unterminated", plain("Upgrade", "\"websocket")),
        ("connection-two-lines", {
            let mut h = plain("keep-alive", "websocket");
            let at = h.len() - 2;
            h.splice(at..at, b"Connection: Upgrade\r\n".iter().copied());
            h
        }),
        ("post", b"POST /chat HTTP/1.1\r\nHost: a\r\n\r\n".to_vec()),
        ("http-1.0", b"GET /chat HTTP/1.0\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n".to_vec()),
        ("version-8", plain("Upgrade", "websocket").replace_last(b"13", b"8")),
        ("lf-only", b"GET / HTTP/1.1\nHost: a\nUpgrade: websocket\nConnection: Upgrade\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\nSec-WebSocket-Version: 13\n\n".to_vec()),
        ("leading-empty-lines", [&b"\r\n\r\n"[..], &plain("Upgrade", "websocket")].concat()),
        ("too-many-headers", {
            let mut h = b"GET / HTTP/1.1\r\n".to_vec();
            for i in 0..70 {
                h.extend(format!("X-{i}: {i}\r\n").bytes());
            }
            h.extend(b"\r\n");
            h
        }),
        ("partial-head", b"GET /chat HTTP/1.1\r\nHost: a\r\nUpgr".to_vec()),
    ]
}

/// `replace_last` for the one seed that needs it.
trait ReplaceLast {
    fn replace_last(self, from: &[u8], to: &[u8]) -> Vec<u8>;
}

impl ReplaceLast for Vec<u8> {
    fn replace_last(mut self, from: &[u8], to: &[u8]) -> Vec<u8> {
        if let Some(at) = self.windows(from.len()).rposition(|w| w == from) {
            self.splice(at..at + from.len(), to.iter().copied());
        }
        self
    }
}

fn responses() -> Vec<(&'static str, Vec<u8>)> {
    let accept = "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
    let ok = |extra: &[&str]| {
        let mut lines = vec![
            "HTTP/1.1 101 Switching Protocols",
            "Upgrade: websocket",
            "Connection: Upgrade",
            accept,
        ];
        lines.extend_from_slice(extra);
        head(&lines)
    };
    let mut with_frame = ok(&[]);
    with_frame.extend(encode(true, 0, op::TEXT, b"Hello", None));
    vec![
        ("rfc6455-101", ok(&[])),
        ("subprotocol-chat", ok(&["Sec-WebSocket-Protocol: chat"])),
        ("subprotocol-superchat", ok(&["Sec-WebSocket-Protocol: superchat"])),
        ("subprotocol-unoffered", ok(&["Sec-WebSocket-Protocol: other"])),
        ("subprotocol-two", ok(&["Sec-WebSocket-Protocol: chat, superchat"])),
        ("subprotocol-quoted", ok(&["Sec-WebSocket-Protocol: \"chat\""])),
        ("extension", ok(&["Sec-WebSocket-Extensions: permessage-deflate"])),
        ("with-first-frame", with_frame),
        ("set-cookie", ok(&["Set-Cookie: session=abc; HttpOnly", "Server: nginx"])),
        (
            "quoted-connection",
            head(&["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: \"upgrade\"", accept]),
        ),
        (
            "wrong-accept",
            head(&["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Accept: x3JJHMbDL1EzLkh9GBhXDw=="]),
        ),
        ("no-upgrade", head(&["HTTP/1.1 101 Switching Protocols", "Connection: Upgrade", accept])),
        (
            "forbidden",
            b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\nforbidden\n".to_vec(),
        ),
        ("bad-gateway-no-reason", b"HTTP/1.1 502 \r\nContent-Length: 0\r\n\r\n".to_vec()),
        ("garbage", b"SSH-2.0-OpenSSH_9.6\r\n".to_vec()),
    ]
}

fn token_lists() -> Vec<(&'static str, &'static [u8])> {
    vec![
        ("upgrade", b"Upgrade"),
        ("firefox-connection", b"keep-alive, Upgrade"),
        ("quoted-upgrade", b"\"upgrade\""),
        ("upgrade-h2c-websocket", b"h2c, websocket"),
        ("two-lines", b"keep-alive\nUpgrade"),
        ("empty-elements", b", ,upgrade,"),
        ("comma-in-quotes", b"\"a,b\", c"),
        ("escapes", b"\"a\\\"b\\\\c\""),
        ("unterminated", b"\"upgrade"),
        ("text-after-quote", b"\"up\"grade"),
        (
            "extension-params",
            b"permessage-deflate; client_max_window_bits, x-webkit-deflate-frame",
        ),
        ("quoted-param", b"foo; bar=\"a,b\", baz"),
        ("subprotocols", b"chat, superchat\nv2.bookings.example.net"),
        ("tabs", b"\t a \t,\tb "),
    ]
}

fn urls() -> Vec<(&'static str, &'static str)> {
    vec![
        ("ws", "ws://example.com/chat"),
        (
            "wss-port-query",
            "wss://example.com:8443/im?user_id=7&topic=news",
        ),
        ("ipv6", "ws://[::1]:9001/ws"),
        ("ipv4", "ws://127.0.0.1:9001"),
        ("query-only", "wss://h?x=1"),
        ("default-port", "ws://h:80/"),
        ("uppercase-scheme", "WSS://Example.COM/"),
        ("fragment", "ws://h/#frag"),
        ("userinfo", "ws://user:pass@h/"),
        ("http", "http://example.com/"),
        ("port-zero", "ws://h:0/"),
    ]
}

/// Frame streams for the frame targets: (name, settings, chunking seed, stream). `mask` is the
/// peer's key: a server reads masked frames, a client unmasked ones.
fn frame_streams(mask: Option<[u8; 4]>) -> Vec<(String, u8, u8, Vec<u8>)> {
    let f = |fin: bool, opcode: u8, payload: &[u8]| encode(fin, 0, opcode, payload, mask);
    let mut streams: Vec<(String, u8, u8, Vec<u8>)> = vec![
        (
            "rfc6455-5.7-hello".into(),
            0,
            0,
            f(true, op::TEXT, b"Hello"),
        ),
        (
            "rfc6455-5.7-fragmented-hello".into(),
            0,
            1,
            [f(false, op::TEXT, b"Hel"), f(true, op::CONTINUATION, b"lo")].concat(),
        ),
        (
            "rfc6455-5.7-ping-pong".into(),
            0,
            7,
            [f(true, op::PING, b"Hello"), f(true, op::PONG, b"Hello")].concat(),
        ),
        (
            "rfc6455-5.7-binary-256".into(),
            0,
            9,
            f(true, op::BINARY, &[0x42; 256]),
        ),
        (
            "ping-between-fragments".into(),
            0,
            33,
            [
                f(false, op::TEXT, b"ab"),
                f(true, op::PING, b""),
                f(true, op::CONTINUATION, b"cd"),
            ]
            .concat(),
        ),
        (
            "utf8-split-across-fragments".into(),
            0,
            2,
            [
                f(false, op::TEXT, "κό".as_bytes()),
                f(true, op::CONTINUATION, "σμε".as_bytes()),
            ]
            .concat(),
        ),
        (
            "invalid-utf8-mid-fragment".into(),
            0,
            3,
            [
                f(false, op::TEXT, b"ok"),
                f(false, op::CONTINUATION, b"\xf4\x90"),
                f(true, op::CONTINUATION, b"x"),
            ]
            .concat(),
        ),
        (
            "too-big-for-small-limits".into(),
            2,
            5,
            f(true, op::BINARY, &[1; 70]),
        ),
        (
            "rsv1-allowed".into(),
            4,
            0,
            encode(true, 4, op::TEXT, b"x", mask),
        ),
        (
            "reserved-opcode".into(),
            0,
            0,
            encode(true, 0, 0x3, b"", mask),
        ),
        (
            "wrong-masking".into(),
            0,
            0,
            encode(
                true,
                0,
                op::TEXT,
                b"x",
                if mask.is_some() { None } else { Some(MASK) },
            ),
        ),
        (
            "length-top-bit".into(),
            0,
            0,
            vec![0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0],
        ),
        (
            "message-then-close".into(),
            0,
            11,
            [f(true, op::TEXT, b"bye"), f(true, op::CLOSE, &[0x03, 0xe8])].concat(),
        ),
    ];
    for code in [
        1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999,
    ] {
        let payload = [&code.to_be_bytes()[..], b"reason"].concat();
        streams.push((format!("close-{code}"), 0, 0, f(true, op::CLOSE, &payload)));
    }
    for (name, payload) in [
        ("close-empty", &[][..]),
        ("close-one-byte", &[0x03][..]),
        ("close-1005-invalid", &[0x03, 0xed][..]),
        ("close-1006-invalid", &[0x03, 0xee][..]),
        ("close-999-invalid", &[0x03, 0xe7][..]),
        ("close-5000-invalid", &[0x13, 0x88][..]),
        ("close-bad-utf8-reason", &[0x03, 0xe8, 0xff][..]),
    ] {
        streams.push((name.into(), 0, 0, f(true, op::CLOSE, payload)));
    }
    streams
}

// ----- scripts for the machines (see each target's `Setup` and `Op` for the layout) -----

/// A length of two bytes (big-endian) and the bytes: a byte string whose maximum is ≥ 256.
fn long(bytes: &[u8]) -> Vec<u8> {
    [&(bytes.len() as u16).to_be_bytes()[..], bytes].concat()
}

/// A byte string whose maximum is < 256: one length byte.
fn short(bytes: &[u8]) -> Vec<u8> {
    [&[bytes.len() as u8][..], bytes].concat()
}

/// A two-byte number.
fn n16(n: u16) -> Vec<u8> {
    n.to_be_bytes().to_vec()
}

/// `conn::FrameSpec`: flags (bit 0 FIN), opcode, payload.
fn frame_spec(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    [&[u8::from(fin), opcode][..], &long(payload)].concat()
}

fn connection_scripts() -> Vec<(&'static str, Vec<u8>)> {
    // Setup: flags, outbound preset, size preset, interval, pong timeout, close timeout, preload.
    let server = |flags: u8, outbound: u8, sizes: u8, preload: &[u8]| {
        [&[flags, outbound, sizes, 10, 10, 10][..], &long(preload)].concat()
    };
    let hello = encode(true, 0, op::TEXT, b"Hello", Some(MASK));
    let close_1000 = encode(true, 0, op::CLOSE, &[0x03, 0xe8], Some(MASK));
    let take_all = [&[10u8][..], &n16(0)].concat();
    let send_text = |text: &[u8]| [&[2u8][..], &long(text)].concat();
    vec![
        (
            "echo-then-close",
            [
                server(0, 3, 0, &hello),
                send_text(b"Hello"),
                take_all.clone(),
                vec![7],
                n16(1000),
                short(b"bye"),
                take_all.clone(),
                vec![0],
                frame_spec(true, op::CLOSE, &[0x03, 0xe8]),
            ]
            .concat(),
        ),
        (
            "peer-closes",
            [
                server(0, 3, 0, &[hello.clone(), close_1000.clone()].concat()),
                vec![12, 0],
                take_all.clone(),
            ]
            .concat(),
        ),
        (
            "keepalive-times-out",
            [server(2, 3, 0, b""), vec![9, 9, 9], take_all.clone()].concat(),
        ),
        (
            "keepalive-answered",
            [
                server(2, 3, 0, b""),
                vec![9],
                vec![0],
                frame_spec(true, op::PONG, b""),
                vec![9, 9],
            ]
            .concat(),
        ),
        (
            "backpressure",
            [
                server(0, 0, 0, b""),
                vec![3],
                n16(100),
                vec![3],
                n16(100),
                vec![5],
                short(b"p"),
                vec![10],
                n16(7),
                take_all.clone(),
            ]
            .concat(),
        ),
        (
            "ping-flood-while-full",
            [
                server(0, 0, 0, b""),
                vec![3],
                n16(120),
                vec![0],
                frame_spec(true, op::PING, b"1"),
                vec![0],
                frame_spec(true, op::PING, b"22"),
                vec![7],
                n16(1001),
                short(b""),
                take_all.clone(),
            ]
            .concat(),
        ),
        (
            "shared-frames",
            [
                server(0, 2, 0, b""),
                vec![4, 0],
                n16(2000),
                vec![4, 1],
                n16(10),
                vec![10],
                n16(100),
                take_all.clone(),
            ]
            .concat(),
        ),
        (
            "client-role",
            [
                server(1, 3, 0, &encode(true, 0, op::TEXT, b"Hello", None)),
                send_text(b"hi"),
                vec![4, 0],
                n16(5),
                take_all.clone(),
            ]
            .concat(),
        ),
        (
            "close-timeout-backwards-time",
            [
                server(0, 3, 0, b""),
                vec![7],
                n16(4000),
                short(b"done"),
                vec![8, 1],
                n16(500),
                vec![9],
                vec![11],
            ]
            .concat(),
        ),
        (
            "violation-after-message",
            [
                server(
                    0,
                    3,
                    1,
                    &[
                        hello.clone(),
                        encode(true, 0, op::BINARY, &[0; 2000], Some(MASK)),
                    ]
                    .concat(),
                ),
                vec![12, 1],
                take_all.clone(),
            ]
            .concat(),
        ),
        (
            "eof-mid-frame",
            [server(0, 3, 0, &hello[..4]), vec![11], take_all].concat(),
        ),
    ]
}

fn relay_scripts() -> Vec<(&'static str, Vec<u8>)> {
    // Setup: flags, upstream timeout, ping interval, pong timeout, close timeout.
    let setup = |flags: u8| vec![flags, 100, 10, 10, 10];
    let take = |back: bool| [&[10u8, u8::from(back)][..], &n16(0)].concat();
    let accept = |choice: u8| vec![4, choice];
    let front_text = [&[0u8][..], &frame_spec(true, op::TEXT, b"to upstream")].concat();
    let back_text = [&[2u8][..], &frame_spec(true, op::TEXT, b"to client")].concat();
    let close = [&[11u8][..], &n16(1001), &short(b"shutdown")].concat();
    vec![
        (
            "open-forward-close",
            [
                setup(0),
                take(true),
                accept(0),
                take(false),
                front_text.clone(),
                take(true),
                back_text.clone(),
                take(false),
                close.clone(),
                take(true),
                take(false),
            ]
            .concat(),
        ),
        (
            "subprotocol-chat",
            [
                setup(1),
                take(true),
                accept(1),
                take(false),
                front_text.clone(),
                take(true),
            ]
            .concat(),
        ),
        (
            "subprotocol-unoffered",
            [setup(1), take(true), accept(3), take(false)].concat(),
        ),
        (
            "upstream-refuses",
            [
                setup(0),
                take(true),
                vec![3],
                long(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"),
                take(false),
            ]
            .concat(),
        ),
        (
            "upstream-unreachable",
            [setup(8), vec![7], take(false)].concat(),
        ),
        (
            "upstream-times-out",
            [setup(0), take(true), vec![9], take(false)].concat(),
        ),
        (
            "early-client-frame",
            [
                setup(0),
                front_text.clone(),
                take(true),
                accept(0),
                take(false),
                take(true),
            ]
            .concat(),
        ),
        (
            "client-leaves",
            [
                setup(0),
                take(true),
                accept(0),
                front_text,
                vec![5],
                take(true),
                take(false),
            ]
            .concat(),
        ),
        (
            "upstream-lost",
            [
                setup(4),
                take(true),
                accept(0),
                back_text,
                vec![6],
                vec![9],
                take(false),
            ]
            .concat(),
        ),
        (
            "backpressure",
            [
                setup(2 | 16),
                take(true),
                accept(0),
                [&[0u8][..], &frame_spec(true, op::BINARY, &[7; 1000])].concat(),
                [&[0u8][..], &frame_spec(true, op::BINARY, &[8; 1000])].concat(),
                vec![10, 1],
                n16(100),
                take(true),
            ]
            .concat(),
        ),
        ("close-before-open", [setup(0), close].concat()),
    ]
}

fn hub_scripts() -> Vec<(&'static str, Vec<u8>)> {
    // Setup: flags, queue preset, connection-limit preset, sessions preset, topics preset,
    // id-length preset.
    let setup = |flags: u8, queue: u8| vec![flags, queue, 3, 3, 3, 3];
    // Register: tag, user index, name flag, topic count and indexes, client byte.
    let register =
        |user: u8, topics: &[u8]| [&[0u8, user, 0, topics.len() as u8][..], topics, &[0]].concat();
    let publish_all = |len: u16| [&[2u8, 2, 0, 1][..], &n16(len), &[0]].concat();
    let deliver_all = |plan: u8| vec![4, plan];
    let drain = |nth: u8| [&[6u8, nth][..], &n16(0)].concat();
    vec![
        (
            "register-publish-deliver",
            [
                setup(0, 3),
                register(0, &[]),
                register(3, &[1]),
                publish_all(5),
                deliver_all(0),
                drain(0),
                drain(1),
            ]
            .concat(),
        ),
        (
            "message-to-topic",
            [
                setup(0, 3),
                register(0, &[1]),
                register(1, &[1, 2]),
                vec![3, 0, 1],
                n16(12),
                deliver_all(0),
                drain(0),
                drain(1),
            ]
            .concat(),
        ),
        (
            "sender-excluded",
            [
                setup(1, 3),
                register(0, &[]),
                register(1, &[]),
                vec![3, 0, 0],
                n16(3),
                deliver_all(0),
            ]
            .concat(),
        ),
        (
            "slow-consumer-closed",
            [
                setup(0, 0),
                register(0, &[]),
                publish_all(40),
                deliver_all(0),
                deliver_all(0),
                drain(0),
            ]
            .concat(),
        ),
        (
            "slow-consumer-drop",
            [
                setup(2, 0),
                register(0, &[]),
                publish_all(40),
                deliver_all(0),
                deliver_all(0),
                drain(0),
            ]
            .concat(),
        ),
        (
            "unregister-then-deliver",
            [
                setup(0, 3),
                register(0, &[]),
                register(1, &[]),
                publish_all(9),
                vec![1, 0, 0],
                deliver_all(0),
                register(2, &[]),
                vec![1, 0, 1],
                deliver_all(0),
            ]
            .concat(),
        ),
        (
            "publish-to-user",
            [
                setup(0, 3),
                register(0, &[]),
                register(0, &[1]),
                [&[2u8, 1, 0, 0][..], &n16(4), &[0]].concat(),
                deliver_all(0),
            ]
            .concat(),
        ),
        (
            "invalid-registrations",
            [
                setup(0, 3),
                [&[0u8, 4][..], &short(b""), &[0, 0, 0]].concat(),
                [&[0u8, 0, 0, 1, 4][..], &short(b"a\nb"), &[0]].concat(),
            ]
            .concat(),
        ),
        (
            "peer-close-then-deliver",
            [
                setup(0, 3),
                register(0, &[]),
                vec![7, 0],
                publish_all(3),
                deliver_all(0),
            ]
            .concat(),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_names_are_unique_per_target() {
        let all = seeds();
        let mut names: Vec<(&str, &str)> =
            all.iter().map(|s| (s.target, s.name.as_str())).collect();
        names.sort_unstable();
        let count = names.len();
        names.dedup();
        assert_eq!(names.len(), count);
    }
}
