//! Phase 1, the handshake: the upstream request built from the client's, and the upstream's
//! `101` mapped back to the client.

use alloc::borrow::Cow;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::{RelayConfig, UpstreamFailure};
use crate::handshake::{
    check_header, is_token, list_elements, quoted, split_target, Accepted, ClientAccepted,
    ClientRequest, InvalidHeader, Rejection, Request, TokenMode, WsUrl,
};

/// Hop-by-hop headers (RFC 9110 §7.6.1, and `Keep-Alive` / `Proxy-Connection` from practice):
/// they describe one connection and are never forwarded. Every `Proxy-*` header is treated as
/// one too, and so is every header the message's own `Connection` header names.
const HOP_BY_HOP: &[&str] = &[
    "Connection",
    "Keep-Alive",
    "TE",
    "Trailer",
    "Transfer-Encoding",
    "Upgrade",
];

/// Headers of the WebSocket handshake itself (each side of the relay writes its own) and
/// headers that would give a head a body.
const HANDSHAKE: &[&str] = &["Host", "Content-Length"];

/// The header the relay appends the client's address to.
const FORWARDED_FOR: &str = "X-Forwarded-For";

/// Whether `name` is hop-by-hop by itself (not counting what a `Connection` header names).
pub fn is_hop_by_hop(name: &str) -> bool {
    HOP_BY_HOP.iter().any(|h| h.eq_ignore_ascii_case(name)) || has_prefix(name, "Proxy-")
}

/// Whether `name` belongs to the WebSocket handshake (`Host`, `Sec-WebSocket-*`) or frames a
/// body (`Content-Length`): the relay writes these itself on each side.
fn is_handshake_header(name: &str) -> bool {
    HANDSHAKE.iter().any(|h| h.eq_ignore_ascii_case(name)) || has_prefix(name, "Sec-WebSocket-")
}

fn has_prefix(name: &str, prefix: &str) -> bool {
    name.as_bytes()
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
}

/// The header names a `Connection` header lists (its hop-by-hop additions), lowercase.
fn connection_names<'a>(
    values: impl Iterator<Item = &'a [u8]>,
    mode: TokenMode,
) -> Result<Vec<Cow<'a, [u8]>>, crate::handshake::TokenListError> {
    let mut names = Vec::new();
    for value in values {
        for element in list_elements(value, mode) {
            names.push(element?);
        }
    }
    Ok(names)
}

/// Whether `name` is dropped between hops: hop-by-hop, or named by `Connection`.
fn is_dropped(name: &str, named: &[Cow<'_, [u8]>]) -> bool {
    is_hop_by_hop(name)
        || named
            .iter()
            .any(|n| n.eq_ignore_ascii_case(name.as_bytes()))
}

/// The request-target for the upstream: the upstream URL's path and query, then the client's
/// query when `forward_query` is on, joined with `&` (`ws://hub/im?topic=news` and a client's
/// `/chat?user_id=7` give `/im?topic=news&user_id=7`). The client's path is not used: the
/// route chose the upstream URL from it.
pub fn upstream_target(upstream: &WsUrl, front_query: Option<&str>, forward_query: bool) -> String {
    let target = upstream.target();
    match front_query {
        Some(query) if forward_query && !query.is_empty() => match split_target(target) {
            (path, Some(own)) if !own.is_empty() => format!("{path}?{own}&{query}"),
            (path, _) => format!("{path}?{query}"),
        },
        _ => target.to_string(),
    }
}

/// A front header value as text, or a 400 naming it.
fn text<'v>(name: &str, value: &'v [u8]) -> Result<&'v str, Rejection> {
    core::str::from_utf8(value).map_err(|_| {
        Rejection::new(
            400,
            format!(
                "{name} header {} is not UTF-8 text; the relay forwards headers as text",
                quoted(value)
            ),
        )
    })
}

fn cannot_forward(error: InvalidHeader) -> Rejection {
    Rejection::new(400, format!("the relay cannot forward {error}"))
}

/// Builds the upstream's upgrade request from the client's.
///
/// - Target: see [`upstream_target`]. `Host` is the upstream URL's.
/// - Subprotocols: every one the client offered, in its order (the upstream chooses; its
///   choice is passed back by [`map_response`]). One that is not a token is a 400.
/// - Headers: each header in [`RelayConfig::forward_headers`] that the client sent, every
///   line of it, under the configured spelling — unless it is hop-by-hop ([`is_hop_by_hop`],
///   or named by the client's `Connection` header), part of the handshake (`Host`,
///   `Sec-WebSocket-*`, `Content-Length`), or not a token (see [`RelayConfig::check`]).
///   Everything else, `Cookie` and `Origin` included, stays behind unless listed.
/// - `X-Forwarded-For` (when [`RelayConfig::forwarded_for`] is on): the client's chain, all
///   lines joined with `, `, then `client_addr` (the peer's IP address, no port), as nginx's
///   `$proxy_add_x_forwarded_for` does. With `client_addr` `None` the chain passes unchanged.
/// - `key`: 16 fresh random bytes for the upstream `Sec-WebSocket-Key` (the relay's own).
///
/// A header value that is not UTF-8 text or that the request builder refuses is a 400 whose
/// reason names it.
pub fn plan_upstream(
    front: &Request,
    upstream: &WsUrl,
    client_addr: Option<&str>,
    key: [u8; 16],
    cfg: &RelayConfig,
) -> Result<ClientRequest, Rejection> {
    let mode = cfg.front.token_mode;
    let named = connection_names(front.header_values("Connection"), mode)
        .map_err(|e| Rejection::new(400, format!("Connection header: {e}; {}", e.advice())))?;
    let target = upstream_target(upstream, front.query(), cfg.forward_query);
    let mut request = ClientRequest::new(&upstream.host_header(), &target, key)
        .map_err(|e| Rejection::new(400, format!("cannot forward the request target: {e}")))?;

    for value in front.header_values("Sec-WebSocket-Protocol") {
        for element in list_elements(value, mode) {
            let element = element
                .map_err(|e| Rejection::new(400, format!("Sec-WebSocket-Protocol header: {e}")))?;
            if !is_token(&element) {
                return Err(Rejection::new(
                    400,
                    format!(
                        "Sec-WebSocket-Protocol header offers {}, which is not a token",
                        quoted(&element)
                    ),
                ));
            }
            let protocol = text("Sec-WebSocket-Protocol", &element)?;
            if !request.subprotocols().iter().any(|p| p == protocol) {
                request = request.with_subprotocol(protocol).map_err(cannot_forward)?;
            }
        }
    }

    for (i, name) in cfg.forward_headers.iter().enumerate() {
        if !is_token(name.as_bytes())
            || is_dropped(name, &named)
            || is_handshake_header(name)
            || (cfg.forwarded_for && name.eq_ignore_ascii_case(FORWARDED_FOR))
            || cfg
                .forward_headers
                .iter()
                .take(i)
                .any(|n| n.eq_ignore_ascii_case(name))
        {
            continue;
        }
        for value in front.header_values(name) {
            let value = text(name, value)?;
            request = request.with_header(name, value).map_err(cannot_forward)?;
        }
    }

    if cfg.forwarded_for {
        let mut chain = String::new();
        if !is_dropped(FORWARDED_FOR, &named) {
            for value in front.header_values(FORWARDED_FOR) {
                let value = text(FORWARDED_FOR, value)?.trim();
                if !value.is_empty() {
                    if !chain.is_empty() {
                        chain.push_str(", ");
                    }
                    chain.push_str(value);
                }
            }
        }
        if let Some(addr) = client_addr {
            if !chain.is_empty() {
                chain.push_str(", ");
            }
            chain.push_str(addr);
        }
        if !chain.is_empty() {
            request = request
                .with_header(FORWARDED_FOR, &chain)
                .map_err(cannot_forward)?;
        }
    }
    Ok(request)
}

/// What the client's `101` carries from the upstream's: the subprotocol the upstream chose and
/// the upstream's end-to-end headers (e.g. `Set-Cookie`), in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MappedResponse {
    /// The subprotocol for the client's `101`: the upstream's choice.
    pub subprotocol: Option<String>,
    /// Headers for the client's `101`, as (name, value).
    pub headers: Vec<(String, String)>,
}

impl MappedResponse {
    /// The client's `101 Switching Protocols`: `front` (the client's validated request) with
    /// the upstream's subprotocol and headers.
    pub fn response(&self, front: &Accepted) -> Vec<u8> {
        let accepted = front.clone().with_subprotocol(self.subprotocol.clone());
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        // `map_response` kept only headers that `response_with_headers` accepts.
        accepted
            .response_with_headers(&headers)
            .unwrap_or_else(|_| accepted.response())
    }
}

/// Maps the upstream's validated `101` back to the client: the subprotocol it chose, which
/// must be one the client offered (otherwise [`UpstreamFailure::UnofferedSubprotocol`]), and
/// its headers minus hop-by-hop ones (including those its `Connection` header names), the
/// handshake's (`Sec-WebSocket-*`, `Content-Length`) and any whose value is not UTF-8 text
/// without control characters (those are dropped, not fatal).
pub fn map_response(
    front: &Request,
    upstream: &ClientAccepted,
    mode: TokenMode,
) -> Result<MappedResponse, UpstreamFailure> {
    let subprotocol = match upstream.subprotocol() {
        None => None,
        Some(chosen) => {
            let offered = front
                .header_values("Sec-WebSocket-Protocol")
                .flat_map(|v| list_elements(v, mode))
                .any(|e| e.is_ok_and(|e| *e == *chosen.as_bytes()));
            if !offered {
                return Err(UpstreamFailure::UnofferedSubprotocol(chosen.to_string()));
            }
            Some(chosen.to_string())
        }
    };
    let response = upstream.response();
    // A malformed Connection list in a response we already validated names nothing usable.
    let named = connection_names(response.header_values("Connection"), mode).unwrap_or_default();
    let headers = response
        .headers()
        .filter(|(name, _)| !is_dropped(name, &named) && !is_handshake_header(name))
        .filter_map(|(name, value)| {
            let value = core::str::from_utf8(value).ok()?;
            check_header(name, value, &[]).ok()?;
            Some((name.to_string(), value.to_string()))
        })
        .collect();
    Ok(MappedResponse {
        subprotocol,
        headers,
    })
}

/// Checks a configured header name: a token that can actually be forwarded.
pub(super) fn check_forward_header(name: &str, forwarded_for: bool) -> Result<(), InvalidHeader> {
    if !is_token(name.as_bytes()) {
        return Err(InvalidHeader::new(name, "name is not an HTTP token"));
    }
    if is_hop_by_hop(name) {
        return Err(InvalidHeader::new(
            name,
            "is a hop-by-hop header and is never forwarded",
        ));
    }
    if is_handshake_header(name) {
        return Err(InvalidHeader::new(
            name,
            "is written by each side's handshake and is never forwarded",
        ));
    }
    if forwarded_for && name.eq_ignore_ascii_case(FORWARDED_FOR) {
        return Err(InvalidHeader::new(
            name,
            "is appended to by the relay (forwarded_for is on); do not list it",
        ));
    }
    Ok(())
}
