//! Incremental HTTP/1.1 head parsing, shared by requests and responses.
//!
//! Each call to [`HeadParser::feed`] scans only the bytes it is given for the end of the head
//! (an empty line), keeping its position across calls, and counts header lines on the way, so
//! both limits trigger while the head is still arriving. httparse runs exactly once, on the
//! complete head. (RUSTSEC-2023-0065: re-parsing a growing buffer on every read is quadratic.)
//!
//! The parsed head keeps the head bytes in one `Vec` and the method / target / reason and each
//! header name and value as ranges into it: no allocation per header.

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::marker::PhantomData;

/// Limits on a handshake head, applied while it arrives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HandshakeLimits {
    /// Most bytes of head (start line + headers + the empty line) accepted before the head
    /// ends. Default 16 KiB: browsers send 0.5–2 KiB, large cookies can reach several KiB, and
    /// 16 KiB bounds what a slow or hostile peer can make us hold per pending connection.
    pub max_head_bytes: usize,
    /// Most header lines accepted. Default 64: browsers send about 15, proxies add a handful of
    /// forwarding headers; more is almost certainly abuse, and the count bounds parse work.
    pub max_headers: usize,
}

impl Default for HandshakeLimits {
    fn default() -> Self {
        HandshakeLimits {
            max_head_bytes: 16 * 1024,
            max_headers: 64,
        }
    }
}

/// Why a head could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum HeadError {
    /// The head did not end within `max_head_bytes`.
    TooLarge { limit: usize },
    /// The head has more than `max_headers` header lines.
    TooManyHeaders { limit: usize },
    /// httparse refused the head; the text is its error.
    Malformed(String),
    /// `feed` was called again after the head was complete (caller misuse).
    AlreadyComplete,
}

/// A byte range into the head buffer; `u32`-free `usize` pair, `Copy` unlike `Range`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Span {
    start: usize,
    end: usize,
}

impl Span {
    /// The position of `part` inside `base`, if `part` is a sub-slice of it. Empty parts map to
    /// an empty span (httparse may hand out a static `""`).
    fn of(base: &[u8], part: &[u8]) -> Option<Span> {
        if part.is_empty() {
            return Some(Span::default());
        }
        let start = (part.as_ptr() as usize).checked_sub(base.as_ptr() as usize)?;
        let end = start.checked_add(part.len())?;
        (end <= base.len()).then_some(Span { start, end })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct HeaderSpan {
    name: Span,
    value: Span,
}

/// The first line of a head: what differs between a request and a response.
pub(crate) trait StartLine: Sized {
    /// Runs httparse over a complete head. Returns the start line, the HTTP minor version, the
    /// header spans and how many bytes httparse consumed.
    fn parse(head: &[u8], header_capacity: usize) -> Result<ParsedHead<Self>, String>;
}

/// What [`StartLine::parse`] returns.
pub(crate) struct ParsedHead<L> {
    line: L,
    minor_version: u8,
    headers: Vec<HeaderSpan>,
    consumed: usize,
}

/// A request line: method and request-target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RequestLine {
    pub(crate) method: Span,
    pub(crate) target: Span,
}

/// A status line: status code and reason phrase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StatusLine {
    pub(crate) code: u16,
    pub(crate) reason: Span,
}

fn header_spans(head: &[u8], headers: &[httparse::Header<'_>]) -> Option<Vec<HeaderSpan>> {
    headers
        .iter()
        .map(|h| {
            Some(HeaderSpan {
                name: Span::of(head, h.name.as_bytes())?,
                value: Span::of(head, h.value)?,
            })
        })
        .collect()
}

const SPAN_BUG: &str = "parsed head does not point into the buffer";

fn complete(status: httparse::Status<usize>) -> Result<usize, String> {
    match status {
        httparse::Status::Complete(n) => Ok(n),
        httparse::Status::Partial => Err("incomplete head".to_string()),
    }
}

impl StartLine for RequestLine {
    fn parse(head: &[u8], header_capacity: usize) -> Result<ParsedHead<Self>, String> {
        let mut storage = vec![httparse::EMPTY_HEADER; header_capacity];
        let mut req = httparse::Request::new(&mut storage);
        let consumed = complete(req.parse(head).map_err(|e| e.to_string())?)?;
        let method = Span::of(head, req.method.unwrap_or("").as_bytes());
        let target = Span::of(head, req.path.unwrap_or("").as_bytes());
        let (Some(method), Some(target)) = (method, target) else {
            return Err(SPAN_BUG.to_string());
        };
        Ok(ParsedHead {
            line: RequestLine { method, target },
            minor_version: req.version.unwrap_or(1),
            headers: header_spans(head, req.headers).ok_or_else(|| SPAN_BUG.to_string())?,
            consumed,
        })
    }
}

impl StartLine for StatusLine {
    fn parse(head: &[u8], header_capacity: usize) -> Result<ParsedHead<Self>, String> {
        let mut storage = vec![httparse::EMPTY_HEADER; header_capacity];
        let mut resp = httparse::Response::new(&mut storage);
        let consumed = complete(resp.parse(head).map_err(|e| e.to_string())?)?;
        let reason = Span::of(head, resp.reason.unwrap_or("").as_bytes())
            .ok_or_else(|| SPAN_BUG.to_string())?;
        Ok(ParsedHead {
            line: StatusLine {
                code: resp.code.unwrap_or(0),
                reason,
            },
            minor_version: resp.version.unwrap_or(1),
            headers: header_spans(head, resp.headers).ok_or_else(|| SPAN_BUG.to_string())?,
            consumed,
        })
    }
}

/// A parsed head: the bytes plus ranges into them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Head<L> {
    bytes: Vec<u8>,
    pub(crate) line: L,
    pub(crate) minor_version: u8,
    headers: Vec<HeaderSpan>,
}

impl<L> Head<L> {
    /// The text of a span that httparse handed out as `&str` (so it is UTF-8).
    pub(crate) fn text(&self, span: Span) -> &str {
        core::str::from_utf8(self.bytes(span)).unwrap_or("")
    }

    pub(crate) fn bytes(&self, span: Span) -> &[u8] {
        self.bytes.get(span.start..span.end).unwrap_or(&[])
    }

    /// Every header line as (name, value), in order.
    pub(crate) fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> + '_ {
        self.headers
            .iter()
            .map(|h| (self.text(h.name), self.bytes(h.value)))
    }

    /// The values of every line of header `name` (ASCII-case-insensitive), in order.
    pub(crate) fn header_values<'h, 'n>(&'h self, name: &'n str) -> HeaderValues<'h, 'n> {
        HeaderValues {
            bytes: &self.bytes,
            headers: self.headers.iter(),
            name,
        }
    }

    /// The first line of header `name`.
    pub(crate) fn header(&self, name: &str) -> Option<&[u8]> {
        self.header_values(name).next()
    }

    /// The whole head as received.
    pub(crate) fn raw(&self) -> &[u8] {
        &self.bytes
    }
}

/// The values of every line of one header, in order (see `Request::header_values`).
#[derive(Clone, Debug)]
pub struct HeaderValues<'h, 'n> {
    bytes: &'h [u8],
    headers: core::slice::Iter<'h, HeaderSpan>,
    name: &'n str,
}

impl<'h> Iterator for HeaderValues<'h, '_> {
    type Item = &'h [u8];

    fn next(&mut self) -> Option<&'h [u8]> {
        let bytes = self.bytes;
        let slice = |span: Span| bytes.get(span.start..span.end).unwrap_or(&[]);
        self.headers
            .by_ref()
            .find(|h| slice(h.name).eq_ignore_ascii_case(self.name.as_bytes()))
            .map(|h| slice(h.value))
    }
}

/// What [`HeadParser::feed`] returns when it does not fail.
#[derive(Debug)]
pub(crate) enum HeadStatus<L> {
    /// The head has not ended yet; feed more bytes.
    Partial,
    /// The head is complete; `trailing` are the bytes fed after it.
    Complete { head: Head<L>, trailing: Vec<u8> },
}

/// Finds the end of an HTTP head incrementally, then parses it once.
#[derive(Clone, Debug)]
pub(crate) struct HeadParser<L> {
    limits: HandshakeLimits,
    buf: Vec<u8>,
    /// The current line has a byte other than CR/LF.
    line_has_content: bool,
    /// The start line has been seen (empty lines before it are skipped, as httparse does).
    seen_start_line: bool,
    header_lines: usize,
    /// Set once the parser has returned `Complete` or an error; later calls get this error.
    finished: Option<HeadError>,
    line: PhantomData<L>,
}

/// Where the scan of new bytes ended.
enum Scan {
    /// The head ends after this many of the scanned bytes.
    End(usize),
    NeedMore,
    TooManyHeaders,
}

impl<L: StartLine> HeadParser<L> {
    pub(crate) fn new(limits: HandshakeLimits) -> Self {
        HeadParser {
            limits,
            buf: Vec::new(),
            line_has_content: false,
            seen_start_line: false,
            header_lines: 0,
            finished: None,
            line: PhantomData,
        }
    }

    /// Bytes held so far (never more than `max_head_bytes`).
    pub(crate) fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Takes more bytes of the head. Errors are sticky: later calls return the same error.
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> Result<HeadStatus<L>, HeadError> {
        if let Some(error) = &self.finished {
            return Err(error.clone());
        }
        let result = self.feed_inner(bytes);
        match &result {
            Ok(HeadStatus::Partial) => {}
            Ok(HeadStatus::Complete { .. }) => self.finished = Some(HeadError::AlreadyComplete),
            Err(error) => self.finished = Some(error.clone()),
        }
        result
    }

    fn feed_inner(&mut self, bytes: &[u8]) -> Result<HeadStatus<L>, HeadError> {
        let room = self.limits.max_head_bytes.saturating_sub(self.buf.len());
        let window = bytes.get(..room).unwrap_or(bytes);
        match self.scan(window) {
            Scan::TooManyHeaders => Err(HeadError::TooManyHeaders {
                limit: self.limits.max_headers,
            }),
            Scan::NeedMore if bytes.len() > room => Err(HeadError::TooLarge {
                limit: self.limits.max_head_bytes,
            }),
            Scan::NeedMore => {
                self.buf.extend_from_slice(bytes);
                Ok(HeadStatus::Partial)
            }
            Scan::End(n) => {
                let (rest_of_head, trailing) = bytes.split_at_checked(n).unwrap_or((bytes, &[]));
                self.buf.extend_from_slice(rest_of_head);
                self.finish(trailing)
            }
        }
    }

    /// Scans only `new` bytes, carrying the line state over from earlier calls.
    fn scan(&mut self, new: &[u8]) -> Scan {
        for (i, &b) in new.iter().enumerate() {
            match b {
                b'\n' if !self.line_has_content => {
                    if self.seen_start_line {
                        return Scan::End(i + 1);
                    }
                }
                b'\n' => {
                    self.line_has_content = false;
                    if !self.seen_start_line {
                        self.seen_start_line = true;
                    } else {
                        self.header_lines += 1;
                        if self.header_lines > self.limits.max_headers {
                            return Scan::TooManyHeaders;
                        }
                    }
                }
                b'\r' => {}
                _ => self.line_has_content = true,
            }
        }
        Scan::NeedMore
    }

    /// Parses the complete head in `self.buf`, once.
    fn finish(&mut self, trailing: &[u8]) -> Result<HeadStatus<L>, HeadError> {
        let bytes = core::mem::take(&mut self.buf);
        // One spare slot: the line count and httparse's idea of a header could differ on
        // malformed input, and httparse must then report the real problem, not TooManyHeaders.
        let parsed = L::parse(&bytes, self.header_lines + 1).map_err(HeadError::Malformed)?;
        let mut head_bytes = bytes;
        // httparse ends the head where the scan did; if it ever stops earlier, keep the
        // difference as trailing bytes rather than lose it.
        let mut all_trailing = head_bytes.split_off(parsed.consumed.min(head_bytes.len()));
        all_trailing.extend_from_slice(trailing);
        Ok(HeadStatus::Complete {
            head: Head {
                bytes: head_bytes,
                line: parsed.line,
                minor_version: parsed.minor_version,
                headers: parsed.headers,
            },
            trailing: all_trailing,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUEST: &[u8] = b"GET /chat?x=1 HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nx-a: 2\r\n\r\n";

    fn parser(max_head_bytes: usize, max_headers: usize) -> HeadParser<RequestLine> {
        HeadParser::new(HandshakeLimits {
            max_head_bytes,
            max_headers,
        })
    }

    #[test]
    fn feed_table() {
        type Expect = Result<(usize, &'static [u8]), HeadError>; // (head length, trailing)
        let rows: &[(&str, &[u8], usize, usize, Expect)] = &[
            ("crlf", REQUEST, 1024, 8, Ok((REQUEST.len(), b""))),
            (
                "bare lf",
                b"GET / HTTP/1.1\nHost: a\n\n",
                1024,
                8,
                Ok((24, b"")),
            ),
            (
                "trailing kept",
                b"GET / HTTP/1.1\r\nHost: a\r\n\r\n\x81\x00",
                1024,
                8,
                Ok((27, b"\x81\x00")),
            ),
            (
                "leading empty lines",
                b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
                1024,
                8,
                Ok((31, b"")),
            ),
            (
                "exactly at byte limit",
                b"GET / HTTP/1.1\r\nHost: a\r\n\r\nrest",
                27,
                8,
                Ok((27, b"rest")),
            ),
            (
                "one byte over",
                b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
                26,
                8,
                Err(HeadError::TooLarge { limit: 26 }),
            ),
            (
                "exactly max headers",
                REQUEST,
                1024,
                3,
                Ok((REQUEST.len(), b"")),
            ),
            (
                "one header too many",
                REQUEST,
                1024,
                2,
                Err(HeadError::TooManyHeaders { limit: 2 }),
            ),
            (
                "no headers",
                b"GET / HTTP/1.1\r\n\r\n",
                1024,
                0,
                Ok((18, b"")),
            ),
        ];
        for (name, input, max_bytes, max_headers, expected) in rows {
            let got = parser(*max_bytes, *max_headers)
                .feed(input)
                .map(|status| match status {
                    HeadStatus::Complete { head, trailing } => (head.raw().len(), trailing),
                    HeadStatus::Partial => panic!("row {name}: partial"),
                });
            let expected = expected.clone().map(|(n, t)| (n, t.to_vec()));
            assert_eq!(got, expected, "row {name}");
        }
    }

    #[test]
    fn malformed_heads_table() {
        let rows: &[(&str, &[u8], &str)] = &[
            (
                "bad version",
                b"GET / HTTP/2.0\r\nHost: a\r\n\r\n",
                "version",
            ),
            (
                "space in header name",
                b"GET / HTTP/1.1\r\nHo st: a\r\n\r\n",
                "header name",
            ),
            (
                "CR CR LF ends the head",
                b"GET / HTTP/1.1\r\nHost: a\r\n\r\r\n",
                "new line",
            ),
            ("no target", b"GET\r\n\r\n", ""),
        ];
        for (name, input, needle) in rows {
            match parser(1024, 8).feed(input) {
                Err(HeadError::Malformed(why)) => {
                    assert!(why.to_lowercase().contains(needle), "row {name}: {why}")
                }
                other => panic!("row {name}: {other:?}"),
            }
        }
    }

    #[test]
    fn header_accessors() {
        let Ok(HeadStatus::Complete { head, .. }) = parser(1024, 8).feed(REQUEST) else {
            panic!("complete");
        };
        assert_eq!(head.text(head.line.method), "GET");
        assert_eq!(head.text(head.line.target), "/chat?x=1");
        assert_eq!(head.minor_version, 1);
        assert_eq!(head.header("HOST"), Some(&b"a"[..]));
        let xa: Vec<&[u8]> = head.header_values("X-a").collect();
        assert_eq!(xa, [&b"1"[..], &b"2"[..]]);
        assert_eq!(head.header("missing"), None);
        assert_eq!(head.headers().count(), 3);
    }

    #[test]
    fn errors_are_sticky_and_complete_is_final() {
        let mut p = parser(1024, 8);
        assert!(matches!(p.feed(REQUEST), Ok(HeadStatus::Complete { .. })));
        assert_eq!(p.feed(b"more").err(), Some(HeadError::AlreadyComplete));

        let mut p = parser(10, 8);
        assert_eq!(
            p.feed(REQUEST).err(),
            Some(HeadError::TooLarge { limit: 10 })
        );
        assert_eq!(p.feed(b"").err(), Some(HeadError::TooLarge { limit: 10 }));
        assert_eq!(p.buffered(), 0, "the oversized chunk was not buffered");
    }
}
