//! `Sec-WebSocket-Accept`: the server's proof that it read the client's key (RFC 6455 §1.3),
//! and the check that a `Sec-WebSocket-Key` is well formed (§4.1: 16 random bytes, base64).

use alloc::string::String;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sha1::{Digest, Sha1};

/// The GUID that RFC 6455 §1.3 appends to the key before hashing.
const WEBSOCKET_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Computes the `Sec-WebSocket-Accept` value for a `Sec-WebSocket-Key` value:
/// `base64(sha1(key ++ GUID))`, per RFC 6455 §1.3.
///
/// The key is used exactly as sent (after the surrounding whitespace that HTTP strips); it is
/// not decoded.
///
/// ```
/// use sockwright::handshake::accept_key;
/// assert_eq!(accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// ```
pub fn accept_key(sec_websocket_key: &[u8]) -> String {
    let mut sha1 = Sha1::new();
    sha1.update(sec_websocket_key);
    sha1.update(WEBSOCKET_GUID);
    STANDARD.encode(sha1.finalize())
}

/// Encodes 16 key bytes as the `Sec-WebSocket-Key` header value (24 base64 characters).
pub(crate) fn encode_key(key: &[u8; 16]) -> String {
    STANDARD.encode(key)
}

/// Whether a `Sec-WebSocket-Key` value is base64 (with padding) of exactly 16 bytes, as
/// RFC 6455 §4.2.1 item 5 requires. Decodes into a stack buffer: no allocation.
pub(crate) fn is_valid_key(value: &[u8]) -> bool {
    // 16 bytes are always 24 base64 characters ending in "=="; anything else is not a key.
    if value.len() != 24 {
        return false;
    }
    let mut decoded = [0u8; 18];
    matches!(STANDARD.decode_slice(value, &mut decoded), Ok(16))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_table() {
        let rows: &[(&str, &[u8], &str)] = &[
            (
                "RFC 6455 §1.3 example",
                b"dGhlIHNhbXBsZSBub25jZQ==",
                "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
            ),
            (
                "RFC 6455 §4.2.2 key of zeros",
                b"AAAAAAAAAAAAAAAAAAAAAA==",
                "ICX+Yqv66kxgM0FcWaLWlFLwTAI=",
            ),
            (
                "empty key still hashes",
                b"",
                "Kfh9QIsMVZcl6xEPYxPHzW8SZ8w=",
            ),
        ];
        for (name, key, expected) in rows {
            assert_eq!(accept_key(key), *expected, "row {name}");
        }
    }

    #[test]
    fn key_validity_table() {
        let rows: &[(&str, &[u8], bool)] = &[
            ("16 bytes", b"dGhlIHNhbXBsZSBub25jZQ==", true),
            ("16 zero bytes", b"AAAAAAAAAAAAAAAAAAAAAA==", true),
            ("15 bytes", b"dGhlIHNhbXBsZSBub25j", false),
            ("17 bytes", b"dGhlIHNhbXBsZSBub25jZWU=", false),
            ("missing padding", b"dGhlIHNhbXBsZSBub25jZQ", false),
            ("not base64", b"dGhlIHNhbXBsZSBub25jZ!==", false),
            ("empty", b"", false),
            ("url-safe alphabet", b"-_-_-_-_-_-_-_-_-_-_-A==", false),
        ];
        for (name, key, expected) in rows {
            assert_eq!(is_valid_key(key), *expected, "row {name}");
        }
    }

    #[test]
    fn encoded_key_round_trips() {
        let key = encode_key(b"the sample nonce");
        assert_eq!(key, "dGhlIHNhbXBsZSBub25jZQ==");
        assert!(is_valid_key(key.as_bytes()));
    }
}
