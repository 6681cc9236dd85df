//! Every way a peer can break the protocol, as a table: the bytes it sends, the error, and the
//! close frame the connection answers with. Then the properties every failure shares.

mod support;

use std::time::Duration;

use sockwright::conn::{Config, Connection, Error, Event, Role};
use sockwright::frame::{encode_frame, OpCode, ProtocolError};
use support::{client, events, server, transmit, RFC_MASK};

/// A frame as a client sends it (masked with the RFC key).
fn from_client(b0: u8, payload: &[u8]) -> Vec<u8> {
    raw_frame(b0, payload, Some(RFC_MASK))
}

/// A frame as a server sends it (unmasked).
fn from_server(b0: u8, payload: &[u8]) -> Vec<u8> {
    raw_frame(b0, payload, None)
}

/// A frame with an arbitrary first byte (FIN, RSV and opcode bits as given).
fn raw_frame(b0: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(&mut out, true, OpCode::Binary, payload, mask);
    out[0] = b0;
    out
}

fn small_limits() -> Config {
    let mut config = Config::default();
    config.max_frame_size = 1024;
    config.max_message_size = 2048;
    config
}

struct Row {
    name: &'static str,
    role: Role,
    input: Vec<u8>,
    error: ProtocolError,
}

fn table() -> Vec<Row> {
    use ProtocolError as P;
    use Role::{Client, Server};
    let row = |name, role, input, error| Row {
        name,
        role,
        input,
        error,
    };
    let mut huge_header = vec![0x82, 0xff];
    huge_header.extend_from_slice(&(1u64 << 62).to_be_bytes());
    huge_header.extend_from_slice(&RFC_MASK);
    let mut top_bit = vec![0x82, 0xff];
    top_bit.extend_from_slice(&(1u64 << 63).to_be_bytes());
    top_bit.extend_from_slice(&RFC_MASK);
    vec![
        row(
            "unmasked frame to a server",
            Server,
            from_server(0x82, b"x"),
            P::UnmaskedClientFrame,
        ),
        row(
            "masked frame to a client",
            Client,
            from_client(0x82, b"x"),
            P::MaskedServerFrame,
        ),
        row(
            "reserved data opcode 3",
            Server,
            from_client(0x83, b""),
            P::ReservedOpcode(3),
        ),
        row(
            "reserved control opcode 11",
            Server,
            from_client(0x8b, b""),
            P::ReservedOpcode(11),
        ),
        row(
            "RSV1 without an extension",
            Server,
            from_client(0xc2, b"x"),
            P::ReservedBits(0b100),
        ),
        row(
            "RSV2",
            Client,
            from_server(0xa1, b"x"),
            P::ReservedBits(0b010),
        ),
        row(
            "RSV3",
            Server,
            from_client(0x91, b"x"),
            P::ReservedBits(0b001),
        ),
        row(
            "ping of 126 bytes",
            Server,
            from_client(0x89, &[0; 126]),
            P::ControlFrameTooLong(126),
        ),
        row(
            "fragmented ping",
            Server,
            from_client(0x09, b""),
            P::FragmentedControlFrame,
        ),
        row(
            "fragmented close",
            Client,
            from_server(0x08, b""),
            P::FragmentedControlFrame,
        ),
        row(
            "continuation without a message",
            Server,
            from_client(0x80, b"x"),
            P::UnexpectedContinuation,
        ),
        row(
            "new message inside a fragmented one",
            Server,
            [from_client(0x01, b"a"), from_client(0x81, b"b")].concat(),
            P::ExpectedContinuation,
        ),
        row(
            "invalid UTF-8 text",
            Server,
            from_client(0x81, b"\xff"),
            P::InvalidUtf8,
        ),
        row(
            "text ending mid-character",
            Client,
            from_server(0x81, b"\xce"),
            P::InvalidUtf8,
        ),
        row(
            "invalid UTF-8 in a first fragment",
            Server,
            from_client(0x01, b"ok\xc0\xaf"),
            P::InvalidUtf8,
        ),
        row(
            "close of 1 byte",
            Server,
            from_client(0x88, b"\x03"),
            P::CloseFrameTooShort,
        ),
        row(
            "close code 1005",
            Client,
            from_server(0x88, b"\x03\xed"),
            P::InvalidCloseCode(1005),
        ),
        row(
            "close code 999",
            Server,
            from_client(0x88, b"\x03\xe7"),
            P::InvalidCloseCode(999),
        ),
        row(
            "close reason not UTF-8",
            Server,
            from_client(0x88, b"\x03\xe8\xff"),
            P::InvalidUtf8,
        ),
        row(
            "frame over the frame limit",
            Server,
            from_client(0x82, &[0; 1025]),
            P::FrameTooLarge {
                len: 1025,
                max: 1024,
            },
        ),
        row(
            "2^62-byte frame header",
            Server,
            huge_header,
            P::FrameTooLarge {
                len: 1 << 62,
                max: 1024,
            },
        ),
        row(
            "64-bit length with the top bit set",
            Server,
            top_bit,
            P::LengthTopBitSet,
        ),
        row(
            "message over the message limit",
            Server,
            [
                from_client(0x02, &[0; 1000]),
                from_client(0x00, &[0; 1000]),
                from_client(0x80, &[0; 49]),
            ]
            .concat(),
            P::MessageTooLarge {
                len: 2049,
                max: 2048,
            },
        ),
    ]
}

fn connection(role: Role) -> Connection {
    match role {
        Role::Client => client(small_limits()),
        Role::Server => server(small_limits()),
    }
}

#[test]
fn each_violation_fails_with_its_error_and_close_code() {
    for Row {
        name,
        role,
        input,
        error,
    } in table()
    {
        let mut conn = connection(role);
        let got = conn.handle_read(Duration::ZERO, &input);
        assert_eq!(got, Err(Error::Protocol(error.clone())), "row {name:?}");
        // The close frame the peer gets carries the error's code and a reason.
        let sent = transmit(&mut conn);
        let payload = close_payload(&sent, role)
            .unwrap_or_else(|| panic!("row {name:?}: no close frame in {sent:x?}"));
        let code = u16::from_be_bytes([payload[0], payload[1]]);
        assert_eq!(code, error.close_code().0, "row {name:?}");
        assert!(
            payload.len() > 2,
            "row {name:?}: the close frame gives a reason"
        );
        assert!(conn.is_finished(), "row {name:?}");
    }
}

#[test]
fn each_violation_is_detected_whatever_the_chunking() {
    for Row {
        name,
        role,
        input,
        error,
    } in table()
    {
        for chunk in [1, 2, 3, 7] {
            let mut conn = connection(role);
            let got = input
                .chunks(chunk)
                .map(|piece| conn.handle_read(Duration::ZERO, piece))
                .find(Result::is_err);
            assert_eq!(
                got,
                Some(Err(Error::Protocol(error.clone()))),
                "row {name:?} in chunks of {chunk}"
            );
        }
    }
}

#[test]
fn errors_are_sticky_and_nothing_follows_the_close_frame() {
    let mut conn = server(Config::default());
    let error = conn
        .handle_read(Duration::ZERO, &from_server(0x81, b"hi"))
        .unwrap_err();
    assert!(!transmit(&mut conn).is_empty());
    // Valid input afterwards changes nothing: same error, no bytes, no events.
    assert_eq!(
        conn.handle_read(Duration::ZERO, &from_client(0x81, b"hi")),
        Err(error.clone())
    );
    assert_eq!(
        conn.handle_timeout(Duration::from_secs(100)),
        Err(error.clone())
    );
    assert_eq!(conn.error(), Some(&error));
    assert!(transmit(&mut conn).is_empty());
    assert!(events(&mut conn).is_empty());
    assert_eq!(conn.poll_timeout(), None);
}

#[test]
fn invalid_utf8_fails_in_the_middle_of_a_frame_still_arriving() {
    // A 1000-byte text frame whose 10th byte is invalid: the error comes with the first 20
    // bytes of payload, long before the frame ends.
    let mut payload = vec![b'a'; 1000];
    payload[9] = 0xff;
    let wire = from_client(0x81, &payload);
    let mut conn = server(Config::default());
    let header_len = 2 + 2 + 4;
    assert_eq!(
        conn.handle_read(Duration::ZERO, &wire[..header_len + 20]),
        Err(Error::Protocol(ProtocolError::InvalidUtf8))
    );
}

#[test]
fn invalid_utf8_fails_before_the_fragmented_message_ends() {
    let mut conn = server(Config::default());
    conn.handle_read(Duration::ZERO, &from_client(0x01, "κό".as_bytes()))
        .unwrap();
    // The second fragment holds a surrogate: fail now, not at the final fragment.
    let got = conn.handle_read(Duration::ZERO, &from_client(0x00, b"\xed\xa0\x80"));
    assert_eq!(got, Err(Error::Protocol(ProtocolError::InvalidUtf8)));
}

/// The payload of the close frame at the start of `wire`, unmasked.
fn close_payload(wire: &[u8], sender: Role) -> Option<Vec<u8>> {
    let (header, len) = sockwright::frame::FrameHeader::decode(wire).ok()??;
    if header.opcode != OpCode::Close {
        return None;
    }
    let mut payload = wire.get(len..len + header.payload_len as usize)?.to_vec();
    if let Some(key) = header.mask {
        assert_eq!(sender, Role::Client, "only clients mask");
        sockwright::frame::apply_mask(&mut payload, key, 0);
    }
    Some(payload)
}

#[test]
fn every_event_before_the_violation_is_still_delivered() {
    let mut conn = server(Config::default());
    let wire = [from_client(0x81, b"first"), from_client(0x81, b"\xff")].concat();
    assert!(conn.handle_read(Duration::ZERO, &wire).is_err());
    assert_eq!(
        events(&mut conn),
        [Event::Message(sockwright::conn::Message::Text(
            "first".into()
        ))]
    );
}

#[test]
fn a_message_before_a_violation_can_still_be_answered_before_the_close_frame() {
    // Autobahn 3.2/4.1.3/5.15: a valid message, then a violation, in one read. The message is
    // delivered and its echo goes out before the 1002 close.
    let mut conn = server(Config::default());
    let wire = [from_client(0x81, b"echo me"), from_client(0xa1, b"rsv2")].concat();
    let error = conn.handle_read(Duration::ZERO, &wire).unwrap_err();
    assert_eq!(error, Error::Protocol(ProtocolError::ReservedBits(0b010)));
    assert_eq!(conn.error(), Some(&error), "the error is known at once");
    assert!(
        !conn.is_finished(),
        "but the close waits for the events before it"
    );
    assert_eq!(
        conn.poll_event(),
        Some(Event::Message(sockwright::conn::Message::Text(
            "echo me".into()
        )))
    );
    conn.send_text("echo me").unwrap();
    assert_eq!(conn.poll_event(), None);
    assert!(conn.is_finished());
    let sent = transmit(&mut conn);
    assert_eq!(
        &sent[..9],
        &[0x81, 0x07, b'e', b'c', b'h', b'o', b' ', b'm', b'e']
    );
    assert_eq!(
        close_payload(&sent[9..], Role::Server).map(|p| [p[0], p[1]]),
        Some([0x03, 0xea])
    );
    assert_eq!(
        conn.send_text("late"),
        Err(sockwright::conn::SendError::Closed)
    );
}

#[test]
fn a_message_before_the_peers_close_can_still_be_answered_before_the_reply() {
    let mut conn = server(Config::default());
    let wire = [from_client(0x82, b"data"), from_client(0x88, b"\x03\xe8")].concat();
    conn.handle_read(Duration::ZERO, &wire).unwrap();
    assert_eq!(
        conn.poll_event(),
        Some(Event::Message(sockwright::conn::Message::Binary(
            bytes::Bytes::from_static(b"data")
        )))
    );
    conn.send_binary(b"data").unwrap();
    assert!(matches!(conn.poll_event(), Some(Event::Closed(c)) if c.code.0 == 1000));
    let sent = transmit(&mut conn);
    assert_eq!(&sent[..6], &[0x82, 0x04, b'd', b'a', b't', b'a']);
    assert_eq!(
        &sent[6..],
        &[0x88, 0x02, 0x03, 0xe8],
        "then the close reply echoing 1000"
    );
}
