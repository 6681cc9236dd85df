//! Target `token_list`: the RFC 9110 list reader behind `Connection`, `Upgrade` and
//! `Sec-WebSocket-Protocol`, tolerant of quoted values. The input is header values, one per
//! line (`\n`), as they would arrive on several header lines.
//!
//! Oracles: in both modes the core's elements and error equal a reference reader's, written
//! here one byte at a time from the grammar; `list_contains` agrees with the elements; strict
//! mode reads nothing differently from tolerant mode, it only refuses more; and the elements,
//! written back as quoted strings (and as plain tokens, when they are tokens), read back the
//! same.

use sockwright::handshake::{list_contains, list_elements, TokenListError, TokenMode};

/// The list reader, both modes, against the reference.
pub fn run_token_list(data: &[u8]) {
    let lines: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    for mode in [TokenMode::Tolerant, TokenMode::Strict] {
        let mut all = Vec::new();
        let mut first_error = None;
        for line in &lines {
            let core = core_elements(line, mode);
            assert_eq!(
                core,
                reference_elements(line, mode),
                "line {line:?} in {mode:?} mode"
            );
            match core {
                Ok(elements) => all.extend(elements),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        let mut tokens = vec![b"upgrade".to_vec(), b"websocket".to_vec()];
        tokens.extend(all.first().cloned());
        for token in tokens {
            let Ok(token) = std::str::from_utf8(&token) else {
                continue;
            };
            let got = list_contains(lines.iter().copied(), token, mode);
            let expected = match first_error {
                Some(e) => Err(e),
                None => Ok(all.iter().any(|e| e.eq_ignore_ascii_case(token.as_bytes()))),
            };
            assert_eq!(got, expected, "list_contains({token:?}) in {mode:?} mode");
        }
    }
    for line in &lines {
        let tolerant = core_elements(line, TokenMode::Tolerant);
        if let Ok(strict) = core_elements(line, TokenMode::Strict) {
            assert_eq!(
                Ok(strict),
                tolerant,
                "strict mode read {line:?} differently"
            );
        }
        if let Ok(elements) = tolerant {
            assert_round_trip(&elements);
        }
    }
}

fn core_elements(value: &[u8], mode: TokenMode) -> Result<Vec<Vec<u8>>, TokenListError> {
    list_elements(value, mode)
        .map(|e| e.map(|e| e.into_owned()))
        .collect()
}

/// Elements written back as a list read back the same: every element as a quoted string;
/// and, when every element is a token, as a plain `a, b` list in strict mode.
fn assert_round_trip(elements: &[Vec<u8>]) {
    let mut quoted = Vec::new();
    for (i, element) in elements.iter().enumerate() {
        if i > 0 {
            quoted.extend_from_slice(b" , ");
        }
        quoted.push(b'"');
        for &b in element {
            if b == b'"' || b == b'\\' {
                quoted.push(b'\\');
            }
            quoted.push(b);
        }
        quoted.push(b'"');
    }
    assert_eq!(
        core_elements(&quoted, TokenMode::Tolerant).as_deref(),
        Ok(elements)
    );
    if elements.iter().all(|e| is_token(e)) {
        let plain = elements.join(&b", "[..]);
        assert_eq!(
            core_elements(&plain, TokenMode::Strict).as_deref(),
            Ok(elements)
        );
    }
}

fn is_token(text: &[u8]) -> bool {
    !text.is_empty()
        && text
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// The reference reader: RFC 9110 §5.6.1 lists with §5.6.4 quoted strings, as the core
/// documents them. Empty elements and whitespace around elements are dropped; an element
/// that is one quoted string is unquoted (tolerant) or refused (strict) and may be followed
/// only by whitespace; other elements run to the next comma outside quotes, backslash
/// escaping inside quotes. Reading stops at the first error.
pub fn reference_elements(value: &[u8], mode: TokenMode) -> Result<Vec<Vec<u8>>, TokenListError> {
    let mut elements = Vec::new();
    let mut i = 0;
    let n = value.len();
    loop {
        while i < n && (is_ows(value[i]) || value[i] == b',') {
            i += 1;
        }
        if i == n {
            return Ok(elements);
        }
        if value[i] == b'"' {
            if mode == TokenMode::Strict {
                return Err(TokenListError::QuotedElement);
            }
            i += 1;
            let mut content = Vec::new();
            loop {
                match value.get(i) {
                    None => return Err(TokenListError::UnterminatedQuote),
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(b'\\') => {
                        let escaped = value.get(i + 1).ok_or(TokenListError::UnterminatedQuote)?;
                        content.push(*escaped);
                        i += 2;
                    }
                    Some(&b) => {
                        content.push(b);
                        i += 1;
                    }
                }
            }
            while i < n && is_ows(value[i]) {
                i += 1;
            }
            if i < n && value[i] != b',' {
                return Err(TokenListError::TextAfterQuote);
            }
            elements.push(content);
        } else {
            let start = i;
            let mut in_quote = false;
            while i < n {
                match value[i] {
                    b'\\' if in_quote => i += 1,
                    b'"' => in_quote = !in_quote,
                    b',' if !in_quote => break,
                    _ => {}
                }
                i += 1;
            }
            if in_quote {
                return Err(TokenListError::UnterminatedQuote);
            }
            let mut end = i.min(n);
            while end > start && is_ows(value[end - 1]) {
                end -= 1;
            }
            elements.push(value[start..end].to_vec());
        }
    }
}
