//! The test page in a real browser: headless Chromium loads `/` from the echo server of each
//! runtime, the test clicks the page's own buttons (connect, send text, send binary), and
//! the echoes must appear in the page's log, received by the browser's own WebSocket. A
//! screenshot of each page is kept in `target/test-artifacts/browser-RUNTIME.png`.
//!
//! Chromium is driven over the DevTools protocol, which is JSON over a WebSocket: the test
//! talks to it with `sockwright-std`'s client, so Chromium's DevTools server is one more
//! independent peer for our client. One browser serves the four runtimes, a tab each.
//!
//! Needs `chromium` (Debian package `chromium`): without it the test prints a notice and
//! passes, unless `SOCKWRIGHT_REQUIRE_PEERS=1`, which makes it fail.

mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::peers::{self, Killed, TempDir};
use common::{Sockwright, STEP};
use serde_json::{json, Value};
use sockwright_std::{ClientOptions, Message, WebSocket};

/// Each runtime's echo server, its page loaded and used in a tab of one headless Chromium.
#[test]
fn the_test_page_echoes_in_headless_chromium() {
    let Some(chromium) = peers::find("chromium", "chromium", "the test page in Chromium") else {
        return;
    };
    let mut browser = Browser::start(&chromium);
    for runtime in ["std", "mio", "smol", "tokio"] {
        let server = Sockwright::echo(&["--runtime", runtime]);
        // The page connects to the path its `path` parameter names.
        let page = format!("http://{}/?path=/ws%3Ffrom%3Dchromium", server.addr);
        let mut tab = browser.open(&page);
        // A new tab starts on about:blank, itself "complete": wait for the page's own.
        tab.wait_for(
            "the page",
            "document.readyState === 'complete' && !!document.getElementById('connect')",
        );
        let message = format!("hello from Chromium on {runtime}");
        tab.eval(&format!(
            "document.getElementById('text').value = {}; \
             document.getElementById('connect').click()",
            json!(message)
        ));
        tab.wait_for(
            "the page's WebSocket to open",
            "document.getElementById('state').textContent === 'connected'",
        );
        server.wait_log("open /ws?from=chromium");
        tab.eval("document.getElementById('send').click(); document.getElementById('sendBinary').click()");
        let text_echo = format!("< text: {message}");
        let binary_echo = format!("< binary ({} bytes): {message}", message.len());
        tab.wait_for(
            "both echoes in the page's log",
            &format!(
                "document.getElementById('log').innerText.includes({}) && \
                 document.getElementById('log').innerText.includes({})",
                json!(text_echo),
                json!(binary_echo)
            ),
        );
        let screenshot = peers::artifact(&format!("browser-{runtime}.png"));
        tab.screenshot(&screenshot);
        peers::notice(&format!(
            "screenshot of the page on {runtime}: {}",
            screenshot.display()
        ));
        tab.eval("document.getElementById('disconnect').click()");
        tab.wait_for(
            "the close in the page's log",
            "document.getElementById('log').innerText.includes('closed 1000')",
        );
        server.wait_log("closed 1000");
        tab.close();
    }
    browser.close();
}

/// Headless Chromium with a profile of its own, and the DevTools connection to it.
struct Browser {
    devtools: DevTools,
    process: Killed,
    _profile: TempDir,
}

impl Browser {
    /// Starts `chromium` and connects to its DevTools endpoint (the port it picked is in
    /// `DevToolsActivePort` in the profile directory).
    fn start(chromium: &Path) -> Browser {
        let profile = TempDir::new("chromium");
        let child = Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                // Only loopback traffic, whatever proxy the environment names.
                "--no-proxy-server",
                // Containers often have a small /dev/shm; /tmp does as well.
                "--disable-dev-shm-usage",
                "--remote-debugging-port=0",
                "--window-size=900,760",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromium");
        let mut process = Killed(child);
        let active_port = profile.path().join("DevToolsActivePort");
        let deadline = Instant::now() + 3 * STEP;
        let endpoint = loop {
            let text = fs::read_to_string(&active_port).unwrap_or_default();
            if let [port, path] = text.lines().collect::<Vec<_>>()[..] {
                break format!("ws://127.0.0.1:{port}{path}");
            }
            if let Ok(Some(status)) = process.0.try_wait() {
                panic!("chromium exited at start: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "chromium wrote no DevToolsActivePort"
            );
            thread::sleep(Duration::from_millis(50));
        };
        let ws = sockwright_std::connect(&endpoint, ClientOptions::default())
            .unwrap_or_else(|e| panic!("connecting to DevTools at {endpoint}: {e}"));
        Browser {
            devtools: DevTools { ws, next_id: 1 },
            process,
            _profile: profile,
        }
    }

    /// A new tab showing `url`.
    fn open(&mut self, url: &str) -> Tab<'_> {
        let target = self
            .devtools
            .call("Target.createTarget", json!({ "url": url }), None);
        let target = target["targetId"].as_str().expect("a target id").to_owned();
        let attached = self.devtools.call(
            "Target.attachToTarget",
            json!({ "targetId": target, "flatten": true }),
            None,
        );
        let session = attached["sessionId"]
            .as_str()
            .expect("a session id")
            .to_owned();
        Tab {
            devtools: &mut self.devtools,
            target,
            session,
        }
    }

    /// Closes the browser and waits for it to exit (it is killed if it does not). The
    /// answer is not awaited: the browser may close the connection first.
    fn close(mut self) {
        self.devtools.send("Browser.close", json!({}), None);
        let deadline = Instant::now() + STEP;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.process.0.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A tab, reached through its DevTools session.
struct Tab<'a> {
    devtools: &'a mut DevTools,
    target: String,
    session: String,
}

impl Tab<'_> {
    /// Runs JavaScript in the page; its value (JSON).
    fn eval(&mut self, expression: &str) -> Value {
        let result = self.devtools.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true }),
            Some(&self.session),
        );
        if let Some(exception) = result.get("exceptionDetails") {
            panic!("{expression}: {exception}");
        }
        result["result"]["value"].clone()
    }

    /// Waits until `condition` (JavaScript) is true in the page, at most [`STEP`].
    fn wait_for(&mut self, what: &str, condition: &str) {
        let deadline = Instant::now() + STEP;
        while self.eval(condition) != Value::Bool(true) {
            if Instant::now() > deadline {
                let log = self.eval("document.body ? document.body.innerText : ''");
                panic!("waited {STEP:?} for {what}; the page says:\n{log}");
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Closes the tab.
    fn close(self) {
        let target = json!({ "targetId": self.target });
        self.devtools.call("Target.closeTarget", target, None);
    }

    /// Saves a PNG of the page to `path`.
    fn screenshot(&mut self, path: &Path) {
        let shot = self.devtools.call(
            "Page.captureScreenshot",
            json!({ "format": "png" }),
            Some(&self.session),
        );
        let png = STANDARD
            .decode(shot["data"].as_str().expect("screenshot data"))
            .expect("base64 screenshot");
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
        fs::write(path, png).expect("write the screenshot");
    }
}

/// The DevTools protocol: JSON commands with ids over one WebSocket, answered in kind, with
/// events in between (ignored here).
struct DevTools {
    ws: WebSocket,
    next_id: u64,
}

impl DevTools {
    /// Sends `method` with `params` (to a tab's `session`, or the browser) and returns the
    /// result of its answer.
    fn call(&mut self, method: &str, params: Value, session: Option<&str>) -> Value {
        let id = self.send(method, params, session);
        loop {
            let message = self
                .ws
                .read_timeout(STEP)
                .unwrap_or_else(|e| panic!("waiting for the answer to {method}: {e}"));
            let Message::Text(text) = message else {
                continue;
            };
            let answer: Value = serde_json::from_str(&text).expect("DevTools sends JSON");
            if answer["id"] != json!(id) {
                continue; // an event, or the answer to another session's command
            }
            if let Some(error) = answer.get("error") {
                panic!("{method}: {error}");
            }
            return answer["result"].clone();
        }
    }

    /// Sends `method` with `params` and returns its id.
    fn send(&mut self, method: &str, params: Value, session: Option<&str>) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let mut command = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            command["sessionId"] = json!(session);
        }
        self.ws
            .send(command.to_string())
            .unwrap_or_else(|e| panic!("sending {method}: {e}"));
        id
    }
}
