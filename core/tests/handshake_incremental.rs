//! Incremental head parsing: any chunking gives the same request and the same trailing bytes,
//! bytes after the head are never lost, and both limits trigger while the head is still
//! arriving, without buffering past them.

use proptest::prelude::*;
use sockwright::handshake::{
    list_contains, list_elements, validate_request, HandshakeLimits, OriginPolicy, Parsed,
    Rejection, Request, RequestParser, ServerConfig, TokenMode,
};

const CHROME: &[u8] = b"GET /chat?room=1 HTTP/1.1\r\n\
Host: localhost:8080\r\n\
Connection: Upgrade\r\n\
Pragma: no-cache\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/124.0.0.0\r\n\
Upgrade: websocket\r\n\
Origin: http://localhost:8080\r\n\
Sec-WebSocket-Version: 13\r\n\
Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n\
Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\
\r\n";

/// A masked text frame "Hi" and a masked close frame, pipelined right after the head.
const FRAMES: &[u8] = b"\x81\x82\x01\x02\x03\x04\x49\x6b\x88\x80\x05\x06\x07\x08";

type Outcome = Result<(Request, Vec<u8>), Rejection>;

/// Feeds `input` cut at `cuts` (sorted positions); stops at the first complete head.
fn feed_in_chunks(input: &[u8], cuts: &[usize], limits: HandshakeLimits) -> Outcome {
    let mut parser = RequestParser::new(limits);
    let mut start = 0;
    for end in cuts.iter().copied().chain([input.len()]) {
        let end = end.clamp(start, input.len());
        match parser.feed(&input[start..end])? {
            Parsed::Complete { head, mut trailing } => {
                // Bytes not fed yet are still the caller's: append them for comparison.
                trailing.extend_from_slice(&input[end..]);
                return Ok((head, trailing));
            }
            Parsed::Partial => start = end,
        }
    }
    panic!("head never completed")
}

fn with_frames(head: &[u8]) -> Vec<u8> {
    [head, FRAMES].concat()
}

#[test]
fn one_chunk_returns_pipelined_frames_intact() {
    let (request, trailing) =
        feed_in_chunks(&with_frames(CHROME), &[], HandshakeLimits::default()).expect("valid");
    assert_eq!(trailing, FRAMES);
    assert_eq!(request.raw(), CHROME);
    assert_eq!(request.query(), Some("room=1"));
}

#[test]
fn every_two_way_split_gives_the_same_result() {
    let input = with_frames(CHROME);
    let whole = feed_in_chunks(&input, &[], HandshakeLimits::default());
    for cut in 0..=input.len() {
        let split = feed_in_chunks(&input, &[cut], HandshakeLimits::default());
        assert_eq!(split, whole, "split at {cut}");
    }
}

#[test]
fn byte_by_byte_gives_the_same_result() {
    let input = with_frames(CHROME);
    let whole = feed_in_chunks(&input, &[], HandshakeLimits::default());
    let cuts: Vec<usize> = (1..input.len()).collect();
    assert_eq!(
        feed_in_chunks(&input, &cuts, HandshakeLimits::default()),
        whole
    );
}

#[test]
fn bare_lf_heads_and_split_line_endings() {
    let lf = b"GET / HTTP/1.1\nHost: a\n\nrest";
    let crlf = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nrest";
    let limits = HandshakeLimits::default();
    for (name, input) in [("LF", &lf[..]), ("CRLF", &crlf[..])] {
        for cut in 0..=input.len() {
            let (request, trailing) = feed_in_chunks(input, &[cut], limits).expect(name);
            assert_eq!(trailing, b"rest", "{name} split at {cut}");
            assert_eq!(
                request.header("host"),
                Some(&b"a"[..]),
                "{name} split at {cut}"
            );
        }
    }
}

#[test]
fn never_ending_head_is_rejected_at_the_byte_limit() {
    let limits = HandshakeLimits {
        max_head_bytes: 16 * 1024,
        max_headers: usize::MAX,
    };
    let mut parser = RequestParser::new(limits);
    let mut fed = 0usize;
    let stream = b"GET / HTTP/1.1\r\n"
        .iter()
        .chain(b"X-Forever: yes\r\n".iter().cycle())
        .take(64 * 1024);
    for &byte in stream {
        fed += 1;
        match parser.feed(&[byte]) {
            Ok(Parsed::Partial) => assert!(parser.buffered() <= limits.max_head_bytes),
            Ok(Parsed::Complete { .. }) => panic!("the head has no end"),
            Err(rejection) => {
                assert_eq!(rejection.status(), 431);
                assert!(
                    rejection.reason().contains("16384 bytes"),
                    "{}",
                    rejection.reason()
                );
                assert_eq!(
                    fed,
                    limits.max_head_bytes + 1,
                    "rejected on the first byte over"
                );
                assert_eq!(parser.buffered(), limits.max_head_bytes);
                // Sticky: the parser stays rejected.
                assert_eq!(parser.feed(b"\r\n\r\n").err(), Some(rejection));
                return;
            }
        }
    }
    panic!("never rejected");
}

#[test]
fn oversized_chunk_is_not_buffered() {
    let limits = HandshakeLimits {
        max_head_bytes: 1024,
        max_headers: 64,
    };
    let mut parser = RequestParser::new(limits);
    assert!(matches!(
        parser.feed(b"GET / HTTP/1.1\r\n"),
        Ok(Parsed::Partial)
    ));
    let junk = vec![b'a'; 4096];
    let rejection = parser.feed(&junk).expect_err("over the limit");
    assert_eq!(rejection.status(), 431);
    assert!(parser.buffered() <= 1024, "buffered {}", parser.buffered());
}

#[test]
fn a_head_ending_exactly_at_the_limit_is_accepted() {
    let input = with_frames(CHROME);
    let limits = HandshakeLimits {
        max_head_bytes: CHROME.len(),
        max_headers: 64,
    };
    let (_, trailing) = feed_in_chunks(&input, &[], limits).expect("fits exactly");
    assert_eq!(trailing, FRAMES);
    let limits = HandshakeLimits {
        max_head_bytes: CHROME.len() - 1,
        max_headers: 64,
    };
    let rejection = feed_in_chunks(&input, &[], limits).expect_err("one byte short");
    assert_eq!(rejection.status(), 431);
}

#[test]
fn too_many_headers_is_rejected_before_the_head_ends() {
    let limits = HandshakeLimits::default();
    let mut parser = RequestParser::new(limits);
    assert!(matches!(
        parser.feed(b"GET / HTTP/1.1\r\n"),
        Ok(Parsed::Partial)
    ));
    for i in 0..limits.max_headers {
        let line = format!("X-H{i}: v\r\n");
        assert!(
            matches!(parser.feed(line.as_bytes()), Ok(Parsed::Partial)),
            "line {i}"
        );
    }
    // The 65th line is refused as soon as it ends; no empty line has been sent.
    let rejection = parser
        .feed(b"X-One-Too-Many: v\r\n")
        .expect_err("too many headers");
    assert_eq!(rejection.status(), 431);
    assert!(
        rejection.reason().contains("64 header lines"),
        "{}",
        rejection.reason()
    );
}

#[test]
fn exactly_max_headers_is_accepted() {
    let limits = HandshakeLimits {
        max_head_bytes: 16 * 1024,
        max_headers: 3,
    };
    let input = b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    let (request, _) = feed_in_chunks(input, &[], limits).expect("3 headers fit");
    assert_eq!(request.headers().count(), 3);
}

#[test]
fn feeding_after_complete_is_a_caller_error() {
    let mut parser = RequestParser::new(HandshakeLimits::default());
    assert!(matches!(parser.feed(CHROME), Ok(Parsed::Complete { .. })));
    assert_eq!(parser.feed(FRAMES).map_err(|r| r.status()), Err(500));
}

fn cuts_strategy() -> impl Strategy<Value = Vec<usize>> {
    let len = CHROME.len() + FRAMES.len();
    proptest::collection::vec(0..=len, 0..12).prop_map(|mut cuts| {
        cuts.sort_unstable();
        cuts
    })
}

proptest! {
    #[test]
    fn any_chunking_gives_the_same_result(cuts in cuts_strategy()) {
        let input = with_frames(CHROME);
        let whole = feed_in_chunks(&input, &[], HandshakeLimits::default());
        prop_assert_eq!(feed_in_chunks(&input, &cuts, HandshakeLimits::default()), whole);
    }

    #[test]
    fn any_chunking_of_an_oversized_head_gives_the_same_rejection(cuts in cuts_strategy()) {
        let input = with_frames(CHROME);
        let limits = HandshakeLimits { max_head_bytes: 200, max_headers: 64 };
        let whole = feed_in_chunks(&input, &[], limits);
        prop_assert_eq!(whole.as_ref().map_err(|r| r.status()).err(), Some(431));
        prop_assert_eq!(feed_in_chunks(&input, &cuts, limits), whole);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512), cut in 0usize..512) {
        let mut parser = RequestParser::new(HandshakeLimits { max_head_bytes: 256, max_headers: 8 });
        let cut = cut.min(bytes.len());
        for chunk in [&bytes[..cut], &bytes[cut..]] {
            if let Ok(Parsed::Complete { head, .. }) = parser.feed(chunk) {
                let _ = validate_request(&head, &ServerConfig::default());
            }
        }
        prop_assert!(parser.buffered() <= 256);
    }

    /// Hostile header values in every handshake header: validation answers, never panics, and
    /// keeps its reason short.
    #[test]
    fn arbitrary_header_values_never_panic(
        values in proptest::collection::vec(proptest::collection::vec(any::<u8>().prop_filter("no line end", |b| *b != b'\r' && *b != b'\n'), 0..300), 7),
        strict in any::<bool>(),
    ) {
        let names = ["Host", "Upgrade", "Connection", "Sec-WebSocket-Key", "Sec-WebSocket-Version", "Origin", "Sec-WebSocket-Protocol"];
        let mut input = b"GET / HTTP/1.1\r\n".to_vec();
        for (name, value) in names.iter().zip(&values) {
            input.extend_from_slice(name.as_bytes());
            input.extend_from_slice(b": ");
            input.extend_from_slice(value);
            input.extend_from_slice(b"\r\n");
        }
        input.extend_from_slice(b"\r\n");
        let cfg = ServerConfig {
            token_mode: if strict { TokenMode::Strict } else { TokenMode::Tolerant },
            origin: OriginPolicy::AllowList(vec!["https://a.example".into()]),
            subprotocols: vec!["chat".into()],
            ..ServerConfig::default()
        };
        match RequestParser::new(cfg.limits).feed(&input) {
            Ok(Parsed::Complete { head, .. }) => {
                if let Err(rejection) = validate_request(&head, &cfg) {
                    prop_assert!(rejection.reason().len() < 700, "{}", rejection.reason());
                }
            }
            Ok(Parsed::Partial) => prop_assert!(false, "complete head reported partial"),
            Err(rejection) => prop_assert_eq!(rejection.status(), 400),
        }
    }

    #[test]
    fn token_lists_never_panic(value in proptest::collection::vec(any::<u8>(), 0..200)) {
        for mode in [TokenMode::Tolerant, TokenMode::Strict] {
            let _ = list_contains([&value[..]], "upgrade", mode);
            prop_assert!(list_elements(&value, mode).count() <= value.len());
        }
    }
}
