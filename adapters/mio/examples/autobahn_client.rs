//! A client for Autobahn|Testsuite's `fuzzingserver` mode, on one event loop: it asks for the
//! case count, runs every case echoing each message, then asks for the reports, each
//! connection opened from the handler when the previous one closes. Reads `AUTOBAHN_URL`
//! (default `ws://127.0.0.1:9001`) and `AUTOBAHN_AGENT` (default `sockwright-mio`).

use sockwright_mio::{ClientOptions, Closed, ConnId, Context, Error, EventLoop, Handler, Message};

struct Autobahn {
    url: String,
    agent: String,
    cases: usize,
    /// The case running now; 0 while the count is asked for.
    case: usize,
}

impl Autobahn {
    /// Opens the connection that follows the one that just closed.
    fn next(&mut self, ctx: &mut Context<'_>) {
        let target = if self.case < self.cases {
            self.case += 1;
            format!("/runCase?case={}&agent={}", self.case, self.agent)
        } else if self.case == self.cases {
            self.case += 1;
            format!("/updateReports?agent={}", self.agent)
        } else {
            return ctx.stop();
        };
        if let Err(e) = ctx.connect(&format!("{}{target}", self.url), ClientOptions::default()) {
            eprintln!("{target}: {e}");
            ctx.stop();
        }
    }
}

impl Handler for Autobahn {
    fn on_message(&mut self, ctx: &mut Context<'_>, id: ConnId, message: Message) {
        match message {
            Message::Text(text) if self.case == 0 => self.cases = text.trim().parse().unwrap_or(0),
            message if message.is_data() => {
                let _ = ctx.send(id, message);
            }
            _ => {}
        }
    }

    fn on_close(&mut self, ctx: &mut Context<'_>, _: ConnId, result: Result<Closed, Error>) {
        if let Err(e) = result {
            if self.case > 0 && self.case <= self.cases {
                eprintln!("case {}: {e}", self.case);
            }
        }
        self.next(ctx);
    }
}

fn main() -> Result<(), Error> {
    let url = std::env::var("AUTOBAHN_URL").unwrap_or_else(|_| "ws://127.0.0.1:9001".into());
    let url = url.trim_end_matches('/').to_string();
    let agent = std::env::var("AUTOBAHN_AGENT").unwrap_or_else(|_| "sockwright-mio".into());
    let mut event_loop = EventLoop::new(Autobahn {
        url: url.clone(),
        agent,
        cases: 0,
        case: 0,
    })?;
    event_loop.connect(&format!("{url}/getCaseCount"), ClientOptions::default())?;
    let done = event_loop.run()?;
    eprintln!("{} cases run", done.cases);
    Ok(())
}
