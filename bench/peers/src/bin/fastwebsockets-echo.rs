//! Echo server on fastwebsockets: hyper answers the upgrade, then every text or binary frame
//! goes back (whole messages, through the fragment collector).

use fastwebsockets::{upgrade, FragmentCollector, OpCode, WebSocketError};
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

#[tokio::main]
async fn main() {
    let listener = sockwright_bench_peers::bind().await;
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(async move {
            let connection = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(upgrade_to_echo))
                .with_upgrades();
            let _ = connection.await;
        });
    }
}

async fn upgrade_to_echo(
    mut request: Request<Incoming>,
) -> Result<Response<Empty<Bytes>>, WebSocketError> {
    let (response, websocket) = upgrade::upgrade(&mut request)?;
    tokio::spawn(async move {
        let Ok(websocket) = websocket.await else {
            return;
        };
        let mut ws = FragmentCollector::new(websocket);
        while let Ok(frame) = ws.read_frame().await {
            let echoed = match frame.opcode {
                OpCode::Close => return,
                OpCode::Text | OpCode::Binary => ws.write_frame(frame).await,
                _ => Ok(()),
            };
            if echoed.is_err() {
                return;
            }
        }
    });
    Ok(response)
}
