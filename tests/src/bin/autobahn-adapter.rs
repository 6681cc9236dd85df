//! Autobahn harness for the adapters, through the same interface as the conformance suite:
//!
//! - `autobahn-adapter server NAME [127.0.0.1:0]`: NAME's echo server (prints
//!   `listening on ADDR`, serves until killed), for Autobahn's `fuzzingclient` mode;
//! - `autobahn-adapter client NAME`: NAME's client for `fuzzingserver` mode: reads
//!   `AUTOBAHN_URL` and `AUTOBAHN_AGENT`, runs every case echoing each message, then asks for
//!   the reports.

use std::process::ExitCode;
use std::time::Duration;

use sockwright_driver::{ClientOptions, Error, Message, ServerOptions};
use sockwright_tests::adapters::{self, Adapter};

/// Longer than any Autobahn case waits (9.x moves 16 MiB messages at unlimited speed).
const WAIT: Duration = Duration::from_secs(60);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(mode), Some(name)) = (args.first(), args.get(1)) else {
        eprintln!("usage: autobahn-adapter server|client NAME [ADDR]");
        return ExitCode::from(2);
    };
    let Some(adapter) = adapters::by_name(name) else {
        eprintln!("no adapter {name:?}");
        return ExitCode::from(2);
    };
    match mode.as_str() {
        "server" => serve(adapter.as_ref()),
        "client" => match run_client(adapter.as_ref()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        },
        _ => ExitCode::from(2),
    }
}

fn serve(adapter: &dyn Adapter) -> ExitCode {
    let (addr, _guard) = adapter.echo_server(ServerOptions::default());
    println!("listening on {addr}");
    loop {
        std::thread::park();
    }
}

fn run_client(adapter: &dyn Adapter) -> Result<(), Error> {
    let url = std::env::var("AUTOBAHN_URL").unwrap_or_else(|_| "ws://127.0.0.1:9001".into());
    let url = url.trim_end_matches('/');
    let agent = std::env::var("AUTOBAHN_AGENT").unwrap_or_else(|_| adapter.name().into());

    let mut count = 0usize;
    session(adapter, &format!("{url}/getCaseCount"), |message| {
        if let Message::Text(text) = message {
            count = text.trim().parse().unwrap_or(0);
        }
        None
    })?;
    eprintln!("{count} cases");
    for case in 1..=count {
        let target = format!("{url}/runCase?case={case}&agent={agent}");
        if let Err(e) = session(adapter, &target, |m| m.is_data().then_some(m)) {
            eprintln!("case {case}: {e}");
        }
    }
    session(
        adapter,
        &format!("{url}/updateReports?agent={agent}"),
        |_| None,
    )
}

/// Runs one connection to its end, sending back whatever `reply` returns for each message.
fn session(
    adapter: &dyn Adapter,
    url: &str,
    mut reply: impl FnMut(Message) -> Option<Message>,
) -> Result<(), Error> {
    let mut client = adapter.connect(url, ClientOptions::default())?;
    while let Some(item) = client.recv(WAIT) {
        match item {
            Ok(Message::Close(_)) => break,
            Ok(message) => {
                if let Some(answer) = reply(message) {
                    // The connection may already be failing; the suite judges the outcome.
                    let _ = client.send(answer);
                }
            }
            Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::TimedOut => {
                return Err(Error::Io(e));
            }
            Err(_) => continue,
        }
    }
    Ok(())
}
