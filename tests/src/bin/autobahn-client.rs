//! A client over the core alone, for Autobahn's `fuzzingserver` mode. Reads `AUTOBAHN_URL`
//! (`ws://127.0.0.1:PORT`) and `AUTOBAHN_AGENT`, runs every case echoing each message, then asks
//! the server to write its reports.

use std::io;
use std::net::TcpStream;

use sockwright::conn::Message;
use sockwright_tests::blocking;

fn session(
    host: &str,
    target: &str,
    mut on_message: impl FnMut(&mut sockwright::conn::Connection, Message),
) -> io::Result<()> {
    let mut stream = TcpStream::connect(host)?;
    let (mut conn, trailing) = blocking::connect(&mut stream, host, target)?;
    blocking::run(&mut stream, &mut conn, &trailing, &mut on_message)?;
    Ok(())
}

fn main() -> io::Result<()> {
    let url = std::env::var("AUTOBAHN_URL").unwrap_or_else(|_| "ws://127.0.0.1:9001".into());
    let agent = std::env::var("AUTOBAHN_AGENT").unwrap_or_else(|_| "sockwright".into());
    let host = url
        .trim_start_matches("ws://")
        .trim_end_matches('/')
        .to_string();

    let mut count = 0usize;
    session(&host, "/getCaseCount", |_, message| {
        if let Message::Text(text) = message {
            count = text.trim().parse().unwrap_or(0);
        }
    })?;
    eprintln!("{count} cases");
    for case in 1..=count {
        if let Err(e) = session(
            &host,
            &format!("/runCase?case={case}&agent={agent}"),
            blocking::echo,
        ) {
            eprintln!("case {case}: {e}");
        }
    }
    session(&host, &format!("/updateReports?agent={agent}"), |_, _| {})?;
    Ok(())
}
