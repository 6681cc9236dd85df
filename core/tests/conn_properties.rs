//! Properties that hold for any input: chunking does not change what comes out, encoding
//! round-trips, arbitrary bytes never panic.

mod support;

use std::time::Duration;

use proptest::prelude::*;
use sockwright::conn::{Config, Connection, Error, Event, Message};
use sockwright::frame::{encode_frame, FrameHeader, OpCode, MAX_HEADER_LEN};
use support::{client, events, server, transmit};

/// One thing a client can put on the wire.
#[derive(Clone, Debug)]
enum Piece {
    /// A text message split into this many fragments, with a ping between fragments.
    Text(String, usize),
    Binary(Vec<u8>, usize),
    Ping(Vec<u8>),
    /// Raw bytes, valid or not.
    Garbage(Vec<u8>),
}

fn piece() -> impl Strategy<Value = Piece> {
    prop_oneof![
        4 => (any::<String>(), 1..4usize).prop_map(|(s, n)| Piece::Text(s, n)),
        4 => (prop::collection::vec(any::<u8>(), 0..300), 1..4usize).prop_map(|(b, n)| Piece::Binary(b, n)),
        2 => prop::collection::vec(any::<u8>(), 0..126).prop_map(Piece::Ping),
        1 => prop::collection::vec(any::<u8>(), 0..20).prop_map(Piece::Garbage),
    ]
}

/// Encodes pieces as a client would, fragments split at byte positions (which may cut UTF-8
/// characters: the receiver must cope).
fn client_wire(pieces: &[Piece], mask: [u8; 4]) -> Vec<u8> {
    let mut wire = Vec::new();
    for piece in pieces {
        let (opcode, data, fragments) = match piece {
            Piece::Text(s, n) => (OpCode::Text, s.as_bytes(), *n),
            Piece::Binary(b, n) => (OpCode::Binary, b.as_slice(), *n),
            Piece::Ping(p) => {
                encode_frame(
                    &mut wire,
                    true,
                    OpCode::Ping,
                    p.get(..125).unwrap_or(p),
                    Some(mask),
                );
                continue;
            }
            Piece::Garbage(g) => {
                wire.extend_from_slice(g);
                continue;
            }
        };
        let size = data.len().div_ceil(fragments).max(1);
        let chunks: Vec<&[u8]> = if data.is_empty() {
            vec![&[][..]]
        } else {
            data.chunks(size).collect()
        };
        for (i, chunk) in chunks.iter().enumerate() {
            let op = if i == 0 { opcode } else { OpCode::Continuation };
            encode_frame(&mut wire, i + 1 == chunks.len(), op, chunk, Some(mask));
            if i + 1 < chunks.len() {
                encode_frame(&mut wire, true, OpCode::Ping, b"between", Some(mask));
            }
        }
    }
    wire
}

/// Feeds `wire` in pieces cut at `cuts` and returns events, bytes sent and the first error.
fn feed(
    conn: &mut Connection,
    wire: &[u8],
    cuts: &[usize],
) -> (Vec<Event>, Vec<u8>, Option<Error>) {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (wire.len() + 1)).collect();
    cuts.sort_unstable();
    cuts.push(wire.len());
    let mut start = 0;
    let mut error = None;
    for cut in cuts {
        if let Err(e) = conn.handle_read(Duration::ZERO, &wire[start..cut]) {
            error.get_or_insert(e);
        }
        start = cut;
    }
    (events(conn), transmit(conn), error)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn any_chunking_gives_the_same_events_bytes_and_error(
        pieces in prop::collection::vec(piece(), 0..8),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
        mask in any::<[u8; 4]>(),
    ) {
        let wire = client_wire(&pieces, mask);
        let whole = feed(&mut server(Config::default()), &wire, &[]);
        let chunked = feed(&mut server(Config::default()), &wire, &cuts);
        prop_assert_eq!(whole, chunked);
    }

    #[test]
    fn valid_messages_arrive_intact_whatever_the_fragmentation(
        pieces in prop::collection::vec(piece().prop_filter("valid", |p| !matches!(p, Piece::Garbage(_))), 0..8),
        mask in any::<[u8; 4]>(),
    ) {
        let wire = client_wire(&pieces, mask);
        let (events, _, error) = feed(&mut server(Config::default()), &wire, &[]);
        prop_assert_eq!(error, None);
        let messages: Vec<Message> = events.into_iter().filter_map(|e| match e { Event::Message(m) => Some(m), _ => None }).collect();
        let expected: Vec<Message> = pieces.iter().filter_map(|p| match p {
            Piece::Text(s, _) => Some(Message::Text(s.clone())),
            Piece::Binary(b, _) => Some(Message::Binary(b.clone().into())),
            _ => None,
        }).collect();
        prop_assert_eq!(messages, expected);
    }

    #[test]
    fn sends_round_trip_through_a_peer(texts in prop::collection::vec(any::<String>(), 0..5), blobs in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..70_000), 0..3)) {
        let mut c = client(Config::default());
        let mut s = server(Config::default());
        for t in &texts { c.send_text(t).unwrap(); s.send_text(t).unwrap(); }
        for b in &blobs { c.send_binary(b).unwrap(); s.send_binary(b).unwrap(); }
        s.handle_read(Duration::ZERO, &transmit(&mut c)).unwrap();
        c.handle_read(Duration::ZERO, &transmit(&mut s)).unwrap();
        let expected: Vec<Event> = texts.iter().map(|t| Event::Message(Message::Text(t.clone())))
            .chain(blobs.iter().map(|b| Event::Message(Message::Binary(b.clone().into())))).collect();
        prop_assert_eq!(events(&mut s), expected.clone());
        prop_assert_eq!(events(&mut c), expected);
    }

    #[test]
    fn frame_headers_round_trip(fin in any::<bool>(), rsv in 0u8..8, op in 0usize..6, mask in any::<Option<[u8; 4]>>(), len in prop_oneof![0u64..200, 60_000u64..70_000, any::<u64>().prop_map(|l| l >> 1)]) {
        let opcode = [OpCode::Continuation, OpCode::Text, OpCode::Binary, OpCode::Close, OpCode::Ping, OpCode::Pong][op];
        let (fin, len) = if opcode.is_control() { (true, len % 126) } else { (fin, len) };
        let header = FrameHeader { fin, rsv, opcode, mask, payload_len: len };
        let mut buf = [0; MAX_HEADER_LEN];
        let n = header.encode(&mut buf);
        prop_assert_eq!(n, header.encoded_len());
        prop_assert_eq!(FrameHeader::decode(&buf[..n]), Ok(Some((header, n))));
        // Any shorter prefix is incomplete, never an error or a wrong header.
        for short in 0..n {
            prop_assert_eq!(FrameHeader::decode(&buf[..short]), Ok(None));
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_either_role(bytes in prop::collection::vec(any::<u8>(), 0..600), cuts in prop::collection::vec(any::<usize>(), 0..6)) {
        let mut conn = server(Config::default());
        feed(&mut conn, &bytes, &cuts);
        let mut conn = client(Config::default());
        feed(&mut conn, &bytes, &cuts);
        conn.handle_eof(Duration::ZERO);
    }
}
