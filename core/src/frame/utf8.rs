//! Incremental UTF-8 validation that fails at the first byte that cannot be part of valid text,
//! so a fragmented (or slowly arriving) text message is rejected in its middle, not at its end.

use core::fmt;

/// The input is not UTF-8.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Utf8Error;

impl fmt::Display for Utf8Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid UTF-8")
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Utf8Error {}

/// Validates UTF-8 text that arrives in pieces.
///
/// Feed each piece with [`feed`](Self::feed); it fails as soon as a byte makes the text invalid
/// (including a sequence that is cut short but can already never be completed, such as
/// `F4 90`). Call [`finish`](Self::finish) at the end of the text.
#[derive(Clone, Debug, Default)]
pub struct Utf8Validator {
    /// The start of a character split across pieces (at most 3 bytes).
    pending: [u8; 4],
    pending_len: u8,
}

impl Utf8Validator {
    /// A validator at the start of a text.
    pub fn new() -> Self {
        Self::default()
    }

    /// Validates the next piece of the text.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<(), Utf8Error> {
        // Complete a character carried over from the previous piece, one byte at a time.
        while self.pending_len > 0 {
            let Some((&byte, rest)) = bytes.split_first() else {
                return Ok(());
            };
            self.pending[usize::from(self.pending_len)] = byte;
            self.pending_len += 1;
            bytes = rest;
            match core::str::from_utf8(&self.pending[..usize::from(self.pending_len)]) {
                Ok(_) => self.pending_len = 0,
                Err(e) if e.error_len().is_some() => return Err(Utf8Error),
                Err(_) => {} // still incomplete
            }
        }
        match core::str::from_utf8(bytes) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_some() => Err(Utf8Error),
            Err(e) => {
                // A character cut short at the end of this piece: keep its start (1–3 bytes).
                let tail = &bytes[e.valid_up_to()..];
                self.pending[..tail.len()].copy_from_slice(tail);
                self.pending_len = tail.len() as u8;
                Ok(())
            }
        }
    }

    /// Ends the text: fails if it stopped in the middle of a character. Resets the validator.
    pub fn finish(&mut self) -> Result<(), Utf8Error> {
        let complete = self.pending_len == 0;
        self.pending_len = 0;
        if complete {
            Ok(())
        } else {
            Err(Utf8Error)
        }
    }

    /// Whether the text so far ends in the middle of a character.
    pub fn is_mid_character(&self) -> bool {
        self.pending_len > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_in_pieces(text: &[u8], piece: usize) -> Result<(), Utf8Error> {
        let mut v = Utf8Validator::new();
        for chunk in text.chunks(piece.max(1)) {
            v.feed(chunk)?;
        }
        v.finish()
    }

    #[test]
    fn agrees_with_core_str_for_every_piece_size() {
        let samples: &[&[u8]] = &[
            b"",
            b"plain ascii",
            "κόσμε".as_bytes(),
            "Hello-µ@ßöäüàá-UTF-8!!".as_bytes(),
            "\u{10FFFF}\u{FFFF}\u{10000}".as_bytes(),
            b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited",
            b"\xf4\x90\x80\x80",
            b"\xc0\xaf",
            b"\xe0\x80\xaf",
            b"abc\xff",
            b"\xf0\x9f\x98",
            b"\xce",
        ];
        for text in samples {
            let expected = core::str::from_utf8(text).is_ok();
            for piece in 1..=text.len().max(1) {
                assert_eq!(
                    feed_in_pieces(text, piece).is_ok(),
                    expected,
                    "{text:x?} in pieces of {piece}"
                );
            }
        }
    }

    #[test]
    fn fails_fast_at_the_first_impossible_byte() {
        // F4 90 can never start a valid character (> U+10FFFF): fail before the rest arrives.
        let mut v = Utf8Validator::new();
        v.feed(b"ok \xf4").unwrap();
        assert_eq!(v.feed(b"\x90"), Err(Utf8Error));
        // A surrogate (ED A0) is rejected at its second byte.
        let mut v = Utf8Validator::new();
        assert_eq!(v.feed(b"\xed\xa0"), Err(Utf8Error));
    }

    #[test]
    fn a_character_cut_at_the_end_is_pending_until_finish() {
        let mut v = Utf8Validator::new();
        v.feed(b"\xf0\x9f").unwrap();
        assert!(v.is_mid_character());
        assert_eq!(v.finish(), Err(Utf8Error));
    }
}
