//! Target `ws_url`: `WsUrl::parse`. The input is the URL text.
//!
//! Oracles: a parsed URL displays as a URL that parses to the same value; its parts are what
//! a connection needs (a non-empty host that is a name, an IPv4 address or, exactly when it
//! holds a `:`, an IPv6 address; a port from 1; a target starting with `/` in visible ASCII;
//! the scheme's default port when none was given); the client request builder accepts its
//! `Host` header and target; an error has a message.

use std::net::Ipv6Addr;

use sockwright::handshake::{ClientRequest, WsUrl};

/// `WsUrl::parse` and what a parsed URL promises.
pub fn run_ws_url(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let url = match WsUrl::parse(text) {
        Ok(url) => url,
        Err(error) => {
            assert!(!error.to_string().is_empty());
            return;
        }
    };
    let host = url.host();
    assert!(!host.is_empty(), "empty host from {text:?}");
    if host.contains(':') {
        assert!(
            host.parse::<Ipv6Addr>().is_ok(),
            "host {host:?} from {text:?} is not IPv6"
        );
    } else {
        assert!(
            host.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')),
            "host {host:?} from {text:?}"
        );
    }
    assert_ne!(url.port(), 0);
    let target = url.target();
    assert!(target.starts_with('/'), "target {target:?}");
    assert!(
        target.bytes().all(|b| b.is_ascii_graphic()),
        "target {target:?}"
    );
    let scheme_len = text.find("://").expect("a parsed URL has a scheme");
    assert_eq!(url.is_secure(), scheme_len == 3, "the scheme of {text:?}");
    let host_header = url.host_header();
    if !host_header.ends_with(&format!(":{}", url.port())) {
        assert_eq!(
            url.port(),
            if url.is_secure() { 443 } else { 80 },
            "port of {text:?}"
        );
    }
    let shown = url.to_string();
    assert_eq!(
        WsUrl::parse(&shown),
        Ok(url.clone()),
        "{text:?} displays as {shown:?}"
    );
    ClientRequest::new(&host_header, target, [0; 16])
        .unwrap_or_else(|e| panic!("the request builder refuses {text:?}: {e}"));
}
