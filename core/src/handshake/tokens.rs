//! Comma-separated header lists per RFC 9110 §5.6.1: `Connection`, `Upgrade`,
//! `Sec-WebSocket-Protocol`, `Sec-WebSocket-Extensions`.
//!
//! A list is a run of elements separated by commas, with optional whitespace (SP / HTAB) around
//! them; empty elements (`, ,upgrade,`) are ignored, and several header lines of the same name
//! form one list. A comma inside a quoted string does not split.
//!
//! Some proxy configurations send a quoted element, e.g. `Connection: "upgrade"`. RFC 9110 does
//! not allow that for these headers (their elements are tokens), but refusing it breaks
//! deployments that work with other servers, so [`TokenMode::Tolerant`] (the default) unquotes
//! such elements and [`TokenMode::Strict`] rejects them with [`TokenListError::QuotedElement`].

use alloc::borrow::Cow;
use alloc::vec::Vec;
use core::fmt;

/// How to treat an element that is a quoted string, such as `Connection: "upgrade"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TokenMode {
    /// Accept a quoted element and compare its unquoted content (backslash escapes resolved).
    /// This is what browsers' peers in practice need behind misconfigured proxies.
    #[default]
    Tolerant,
    /// Reject a quoted element: the element grammar for these headers is a plain token.
    Strict,
}

/// Why a header list could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenListError {
    /// A whole element is a quoted string and the mode is [`TokenMode::Strict`].
    QuotedElement,
    /// A quoted string has no closing `"`.
    UnterminatedQuote,
    /// Text follows the closing `"` of a quoted element before the next comma.
    TextAfterQuote,
}

impl TokenListError {
    /// What to do about it, for the person reading a rejection.
    pub fn advice(self) -> &'static str {
        match self {
            TokenListError::QuotedElement => {
                "strict mode accepts plain tokens only; remove the quotes from the header value \
                 in the proxy configuration (in nginx, proxy_set_header Connection \"upgrade\"; \
                 sends upgrade without quotes; quotes arrive only when escaped or nested)"
            }
            TokenListError::UnterminatedQuote => "close the quoted string with '\"'",
            TokenListError::TextAfterQuote => "separate list elements with ','",
        }
    }
}

impl fmt::Display for TokenListError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TokenListError::QuotedElement => "a list element is a quoted string",
            TokenListError::UnterminatedQuote => "a quoted string is not terminated",
            TokenListError::TextAfterQuote => "text follows a quoted string inside one element",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for TokenListError {}

/// Iterates over the elements of one header line's list. Borrowed unless an element had to be
/// unquoted. Stops after the first error.
#[derive(Clone, Debug)]
pub struct ListElements<'a> {
    rest: &'a [u8],
    mode: TokenMode,
}

/// The elements of one header value, e.g. `keep-alive, Upgrade` → `keep-alive`, `Upgrade`.
pub fn list_elements(value: &[u8], mode: TokenMode) -> ListElements<'_> {
    ListElements { rest: value, mode }
}

/// Whether the list formed by all `values` (one per header line) has an element equal to
/// `token`, compared ASCII-case-insensitively (as `Connection` and `Upgrade` require).
///
/// Every element is read even after a match, so a strict-mode violation anywhere is reported.
pub fn list_contains<'a>(
    values: impl IntoIterator<Item = &'a [u8]>,
    token: &str,
    mode: TokenMode,
) -> Result<bool, TokenListError> {
    let mut found = false;
    for value in values {
        for element in list_elements(value, mode) {
            found |= element?.eq_ignore_ascii_case(token.as_bytes());
        }
    }
    Ok(found)
}

impl<'a> Iterator for ListElements<'a> {
    type Item = Result<Cow<'a, [u8]>, TokenListError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            self.rest = trim_start(self.rest);
            match self.rest.split_first() {
                None => return None,
                Some((b',', after)) => self.rest = after, // an empty element
                Some((b'"', after)) => {
                    let item = self.quoted_element(after);
                    if item.is_err() {
                        self.rest = &[];
                    }
                    return Some(item);
                }
                Some(_) => {
                    let item = self.plain_element();
                    if item.is_err() {
                        self.rest = &[];
                    }
                    return Some(item);
                }
            }
        }
    }
}

impl<'a> ListElements<'a> {
    /// An element that starts with `"`: one quoted string, then only whitespace until `,`.
    fn quoted_element(&mut self, after_quote: &'a [u8]) -> Result<Cow<'a, [u8]>, TokenListError> {
        if self.mode == TokenMode::Strict {
            return Err(TokenListError::QuotedElement);
        }
        let (content, rest) = split_quoted(after_quote)?;
        let rest = trim_start(rest);
        match rest.split_first() {
            None => self.rest = rest,
            Some((b',', after)) => self.rest = after,
            Some(_) => return Err(TokenListError::TextAfterQuote),
        }
        Ok(content)
    }

    /// An element that does not start with `"`; it may hold quoted strings inside (extension
    /// parameters such as `foo; bar="a,b"`), whose commas do not split.
    fn plain_element(&mut self) -> Result<Cow<'a, [u8]>, TokenListError> {
        let mut in_quote = false;
        let mut escaped = false;
        let mut end = self.rest.len();
        for (i, &b) in self.rest.iter().enumerate() {
            if escaped {
                escaped = false;
            } else if in_quote && b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_quote = !in_quote;
            } else if b == b',' && !in_quote {
                end = i;
                break;
            }
        }
        if in_quote {
            return Err(TokenListError::UnterminatedQuote);
        }
        let (element, rest) = self.rest.split_at_checked(end).unwrap_or((self.rest, &[]));
        // Skip the comma itself, if there is one.
        self.rest = rest.get(1..).unwrap_or(&[]);
        Ok(Cow::Borrowed(trim_end(element)))
    }
}

/// Splits the content of a quoted string (starting after the opening `"`) from what follows
/// the closing `"`, resolving `\x` escapes (RFC 9110 §5.6.4 quoted-pair).
fn split_quoted(input: &[u8]) -> Result<(Cow<'_, [u8]>, &[u8]), TokenListError> {
    let mut unescaped: Option<Vec<u8>> = None;
    let mut iter = input.iter().enumerate();
    while let Some((i, &b)) = iter.next() {
        match b {
            b'"' => {
                let rest = input.get(i + 1..).unwrap_or(&[]);
                let content = match unescaped {
                    Some(owned) => Cow::Owned(owned),
                    None => Cow::Borrowed(input.get(..i).unwrap_or(&[])),
                };
                return Ok((content, rest));
            }
            b'\\' => {
                let owned = unescaped.get_or_insert_with(|| input.get(..i).unwrap_or(&[]).to_vec());
                match iter.next() {
                    Some((_, &escaped)) => owned.push(escaped),
                    None => return Err(TokenListError::UnterminatedQuote),
                }
            }
            _ => {
                if let Some(owned) = unescaped.as_mut() {
                    owned.push(b);
                }
            }
        }
    }
    Err(TokenListError::UnterminatedQuote)
}

fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn trim_start(mut s: &[u8]) -> &[u8] {
    while let Some((&b, rest)) = s.split_first() {
        if !is_ows(b) {
            break;
        }
        s = rest;
    }
    s
}

fn trim_end(mut s: &[u8]) -> &[u8] {
    while let Some((&b, rest)) = s.split_last() {
        if !is_ows(b) {
            break;
        }
        s = rest;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;

    type Elements = Result<Vec<String>, TokenListError>;

    fn elements(value: &[u8], mode: TokenMode) -> Elements {
        list_elements(value, mode)
            .map(|e| e.map(|e| String::from_utf8_lossy(&e).into_owned()))
            .collect()
    }

    fn ok(items: &[&str]) -> Elements {
        Ok(items.iter().map(|s| String::from(*s)).collect())
    }

    #[test]
    fn elements_table() {
        use TokenMode::{Strict, Tolerant};
        let rows: &[(&str, &[u8], TokenMode, Elements)] = &[
            ("single", b"Upgrade", Strict, ok(&["Upgrade"])),
            (
                "firefox",
                b"keep-alive, Upgrade",
                Strict,
                ok(&["keep-alive", "Upgrade"]),
            ),
            ("empty elements", b", ,upgrade,", Strict, ok(&["upgrade"])),
            ("tabs and spaces", b"\t a \t,\tb ", Strict, ok(&["a", "b"])),
            ("empty value", b"", Strict, ok(&[])),
            ("only commas", b" , ,, ", Strict, ok(&[])),
            ("inner space kept", b"a b, c", Strict, ok(&["a b", "c"])),
            (
                "quoted tolerant",
                b"\"upgrade\"",
                Tolerant,
                ok(&["upgrade"]),
            ),
            (
                "quoted strict",
                b"\"upgrade\"",
                Strict,
                Err(TokenListError::QuotedElement),
            ),
            (
                "quoted second element",
                b"keep-alive, \"Upgrade\"",
                Tolerant,
                ok(&["keep-alive", "Upgrade"]),
            ),
            (
                "comma inside quotes",
                b"\"a,b\", c",
                Tolerant,
                ok(&["a,b", "c"]),
            ),
            (
                "escapes resolved",
                b"\"a\\\"b\\\\c\"",
                Tolerant,
                ok(&["a\"b\\c"]),
            ),
            ("escaped comma", b"\"a\\,b\"", Tolerant, ok(&["a,b"])),
            (
                "unterminated",
                b"\"upgrade",
                Tolerant,
                Err(TokenListError::UnterminatedQuote),
            ),
            (
                "dangling escape",
                b"\"up\\",
                Tolerant,
                Err(TokenListError::UnterminatedQuote),
            ),
            (
                "text after quote",
                b"\"up\"grade",
                Tolerant,
                Err(TokenListError::TextAfterQuote),
            ),
            (
                "space after quote",
                b"\"up\" , x",
                Tolerant,
                ok(&["up", "x"]),
            ),
            (
                "extension parameter with quoted comma",
                b"foo; bar=\"a,b\", baz",
                Strict,
                ok(&["foo; bar=\"a,b\"", "baz"]),
            ),
            (
                "unterminated inside element",
                b"foo; bar=\"a",
                Strict,
                Err(TokenListError::UnterminatedQuote),
            ),
        ];
        for (name, value, mode, expected) in rows {
            assert_eq!(&elements(value, *mode), expected, "row {name}");
        }
    }

    #[test]
    fn contains_table() {
        use TokenMode::{Strict, Tolerant};
        type Row<'a> = (
            &'a str,
            &'a [&'a [u8]],
            &'a str,
            TokenMode,
            Result<bool, TokenListError>,
        );
        let rows: &[Row] = &[
            ("exact", &[b"upgrade"], "upgrade", Strict, Ok(true)),
            (
                "case-insensitive",
                &[b"UpGrAdE"],
                "upgrade",
                Strict,
                Ok(true),
            ),
            (
                "firefox",
                &[b"keep-alive, Upgrade"],
                "upgrade",
                Strict,
                Ok(true),
            ),
            (
                "two lines",
                &[b"keep-alive", b"Upgrade"],
                "upgrade",
                Strict,
                Ok(true),
            ),
            ("no lines", &[], "upgrade", Strict, Ok(false)),
            (
                "substring prefix",
                &[b"noupgrade"],
                "upgrade",
                Tolerant,
                Ok(false),
            ),
            (
                "substring suffix",
                &[b"upgrade-insecure"],
                "upgrade",
                Tolerant,
                Ok(false),
            ),
            (
                "longer token",
                &[b"websocketx"],
                "websocket",
                Tolerant,
                Ok(false),
            ),
            (
                "space-separated is one element",
                &[b"keep-alive upgrade"],
                "upgrade",
                Tolerant,
                Ok(false),
            ),
            (
                "quoted tolerant",
                &[b"\"upgrade\""],
                "upgrade",
                Tolerant,
                Ok(true),
            ),
            (
                "quoted strict",
                &[b"\"upgrade\""],
                "upgrade",
                Strict,
                Err(TokenListError::QuotedElement),
            ),
            (
                "strict error after match",
                &[b"upgrade, \"keep-alive\""],
                "upgrade",
                Strict,
                Err(TokenListError::QuotedElement),
            ),
            (
                "not utf-8 ignored",
                &[b"\xFF\xFE, upgrade"],
                "upgrade",
                Strict,
                Ok(true),
            ),
        ];
        for (name, values, token, mode, expected) in rows {
            let got = list_contains(values.iter().copied(), token, *mode);
            assert_eq!(&got, expected, "row {name}");
        }
    }
}
