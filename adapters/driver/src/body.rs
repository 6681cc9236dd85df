//! Reading a plain request's body for [`Route::Body`](crate::Route::Body): the length comes
//! from the core ([`request_body_length`]), the bytes from the transport, then the handler's
//! response is written and the connection closes.

use std::fmt;
use std::sync::Arc;

use sockwright::handshake::{request_body_length, Rejection, Request};

/// Answers a request once its whole body has arrived: gets the request head and the body,
/// returns the raw HTTP response (see [`Route::Body`](crate::Route::Body)). Cheap to clone.
#[derive(Clone)]
pub struct BodyHandler(Arc<RespondFn>);

type RespondFn = dyn Fn(&Request, &[u8]) -> Vec<u8> + Send + Sync;

impl BodyHandler {
    /// A handler from a closure.
    pub fn new(respond: impl Fn(&Request, &[u8]) -> Vec<u8> + Send + Sync + 'static) -> Self {
        BodyHandler(Arc::new(respond))
    }

    /// The response to `request` with `body`.
    pub fn respond(&self, request: &Request, body: &[u8]) -> Vec<u8> {
        (self.0)(request, body)
    }
}

impl fmt::Debug for BodyHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BodyHandler(Fn)")
    }
}

/// A request whose body is being read.
pub(crate) struct BodyReader {
    request: Request,
    respond: BodyHandler,
    /// The body's length, from `Content-Length`.
    length: usize,
    /// The bytes so far. Grown as they arrive, not reserved up front: a client that
    /// announces a large body and sends nothing costs nothing.
    body: Vec<u8>,
}

/// What feeding bytes to a [`BodyReader`] gave.
pub(crate) enum BodyProgress {
    /// More bytes are needed.
    Reading(Box<BodyReader>),
    /// The body is complete: the request and the handler's response.
    Done(Request, Vec<u8>),
}

impl BodyReader {
    /// Starts reading the body of `request` (at most `limit` bytes) with the bytes that came
    /// after its head; refused as the core says (411, 413, 400).
    pub(crate) fn start(
        request: Request,
        limit: usize,
        respond: BodyHandler,
        trailing: &[u8],
    ) -> Result<BodyProgress, Rejection> {
        let length = request_body_length(&request, limit)?;
        let reader = BodyReader {
            request,
            respond,
            length,
            body: Vec::new(),
        };
        Ok(reader.feed(trailing))
    }

    /// Takes the body's next bytes; bytes past its end (a pipelined request) are ignored, as
    /// the connection closes after the response.
    pub(crate) fn feed(mut self, bytes: &[u8]) -> BodyProgress {
        let wanted = self.length - self.body.len();
        self.body
            .extend_from_slice(bytes.get(..wanted.min(bytes.len())).unwrap_or_default());
        if self.body.len() < self.length {
            return BodyProgress::Reading(Box::new(self));
        }
        let response = self.respond.respond(&self.request, &self.body);
        BodyProgress::Done(self.request, response)
    }
}
