//! The library on each runtime, in process: an app that fans every message out to every
//! connection through the outbox (the path a hub takes), the order of callbacks, and
//! `Server::shutdown`.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::ws;
use sockwright::handshake::Request;
use sockwright_servers::{
    App, Conn, ConnId, End, Handshake, Message, Refusal, Route, RuntimeKind, Server, ServerOptions,
};
use tungstenite::protocol::frame::coding::CloseCode;

/// Every message goes to every open connection; callbacks are recorded.
#[derive(Default)]
struct Broadcast {
    events: Mutex<Vec<String>>,
}

impl App for Broadcast {
    fn route(&self, _: &Request) -> Route {
        Route::Upgrade(vec![("X-App".into(), "broadcast".into())])
    }

    fn on_open(&self, conn: &mut Conn<'_>, handshake: &Handshake) {
        let Handshake::Server { request, .. } = handshake else {
            panic!("a server handshake");
        };
        self.events
            .lock()
            .unwrap()
            .push(format!("open {} {}", conn.id(), request.path()));
        conn.send(format!("welcome {}", conn.id())).unwrap();
    }

    fn on_message(&self, conn: &mut Conn<'_>, message: Message) {
        if message == Message::Text("bye".into()) {
            let _ = conn.close(sockwright::frame::CloseCode::NORMAL, "as asked");
            return;
        }
        let outbox = conn.outbox();
        for id in outbox.ids() {
            outbox.send(id, message.clone()).unwrap();
        }
    }

    fn on_close(&self, id: ConnId, end: &End) {
        self.events
            .lock()
            .unwrap()
            .push(format!("close {id} {end}"));
    }
}

fn text(ws: &mut tungstenite::WebSocket<common::Tcp>) -> String {
    loop {
        match ws.read().expect("read") {
            tungstenite::Message::Text(text) => return text.as_str().to_owned(),
            tungstenite::Message::Ping(_) | tungstenite::Message::Pong(_) => {}
            other => panic!("{other:?}"),
        }
    }
}

fn fan_out(runtime: RuntimeKind) {
    let app = Arc::new(Broadcast::default());
    let addr = "127.0.0.1:0".parse().unwrap();
    let server = Server::start(app.clone(), runtime, addr, ServerOptions::default()).unwrap();
    let addr = server.local_addr();

    let mut a = ws(addr, "/a", None).unwrap();
    assert!(text(&mut a).starts_with("welcome #"));
    let mut b = ws(addr, "/b", None).unwrap();
    assert!(text(&mut b).starts_with("welcome #"));
    assert_eq!(server.outbox().len(), 2);

    a.send(tungstenite::Message::text("to all")).unwrap();
    assert_eq!(text(&mut a), "to all");
    assert_eq!(text(&mut b), "to all");
    b.send(tungstenite::Message::binary(vec![1, 2, 3])).unwrap();
    for client in [&mut a, &mut b] {
        match client.read().unwrap() {
            tungstenite::Message::Binary(data) => assert_eq!(&data[..], [1, 2, 3]),
            other => panic!("{other:?}"),
        }
    }

    // The app closes a connection; the outbox then refuses it.
    let ids_before = server.outbox().ids();
    b.send(tungstenite::Message::text("bye")).unwrap();
    match b.read().unwrap() {
        tungstenite::Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::Normal),
        other => panic!("{other:?}"),
    }
    while b.read().is_ok() {}
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while server.outbox().len() != 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "b never left the outbox"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let gone = ids_before
        .into_iter()
        .find(|id| !server.outbox().ids().contains(id))
        .unwrap();
    let refused = server.outbox().send(gone, "late").unwrap_err();
    assert_eq!(refused.reason, Refusal::Gone);
    assert_eq!(refused.message, Message::Text("late".into()));

    // Shutdown: a gets 1001 (and answers it, from its own thread) and everything has
    // ended in time.
    let client = std::thread::spawn(move || {
        let close = a.read().unwrap();
        while a.read().is_ok() {}
        close
    });
    let left = server.shutdown(Duration::from_secs(5));
    assert_eq!(left, 0);
    match client.join().unwrap() {
        tungstenite::Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::Away),
        other => panic!("{other:?}"),
    }

    let events = app.events.lock().unwrap().clone();
    assert_eq!(events.len(), 4, "{events:?}");
    assert!(
        events[0].starts_with("open #") && events[0].ends_with(" /a"),
        "{events:?}"
    );
    assert!(events[1].ends_with(" /b"), "{events:?}");
    assert!(events[2].contains("closed 1000"), "{events:?}");
    assert!(events[3].contains("closed 1001"), "{events:?}");
}

#[test]
fn fan_out_on_std() {
    fan_out(RuntimeKind::Std);
}

#[test]
fn fan_out_on_mio() {
    fan_out(RuntimeKind::Mio);
}

#[test]
fn fan_out_on_smol() {
    fan_out(RuntimeKind::Smol);
}

#[test]
fn fan_out_on_tokio() {
    fan_out(RuntimeKind::Tokio);
}
