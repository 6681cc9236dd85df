//! Outside programs the tests talk to (nginx, chromium): finding them, the rule for when
//! one is missing, and what they need around them (a temporary directory, a free port, a
//! child process killed by its id when the test ends, a place for artifacts).

use std::env;
use std::fs;
use std::io::{self, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::atomic::{AtomicUsize, Ordering};

/// With this variable set to `1`, a missing outside program fails the test (CI sets it);
/// without it the test prints a notice and passes without running.
pub const REQUIRE_PEERS: &str = "SOCKWRIGHT_REQUIRE_PEERS";

/// Where `program` is installed: on `PATH`, or in the system directories (nginx lives in
/// `/usr/sbin`, often not on a user's `PATH`). `None` after a skip notice when it is
/// missing; a panic naming the package instead when [`REQUIRE_PEERS`] is `1`.
pub fn find(program: &str, package: &str, test: &str) -> Option<PathBuf> {
    let system = ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"];
    let path = env::var_os("PATH").unwrap_or_default();
    let found = env::split_paths(&path)
        .chain(system.iter().map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file());
    if found.is_none() {
        let why = format!(
            "{test}: `{program}` is not installed (Debian package `{package}`: \
             apt-get install -y {package})"
        );
        if env::var(REQUIRE_PEERS).as_deref() == Ok("1") {
            panic!("{why}; {REQUIRE_PEERS}=1 requires it");
        }
        notice(&format!(
            "SKIPPED {why}; set {REQUIRE_PEERS}=1 to make this a failure"
        ));
    }
    found
}

/// Prints `text` on standard error even when the test passes (straight to the stream, past
/// the test harness's capture of `eprintln!`): skips and artifacts are news.
pub fn notice(text: &str) {
    let _ = writeln!(io::stderr(), "{text}");
}

/// A directory of its own under the system's temporary directory, removed when dropped.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// A new empty directory named after `label`, the process and a counter.
    pub fn new(label: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = env::temp_dir().join(format!("sockwright-{label}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("create a temporary directory");
        TempDir { path }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A path inside it, as a string (for configuration files and command lines).
    pub fn join(&self, name: &str) -> String {
        self.path.join(name).display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// A port on 127.0.0.1 that was free a moment ago (bound, then released). Another process
/// may take it before the program that is given it binds it: callers retry then.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}

/// A child process killed (by its id) and reaped when dropped.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Where a test keeps what a person may want to look at afterwards (e.g. screenshots):
/// `test-artifacts/NAME` in the target directory, which is created.
pub fn artifact(name: &str) -> PathBuf {
    let target_tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let dir = target_tmp
        .parent()
        .unwrap_or(target_tmp)
        .join("test-artifacts");
    fs::create_dir_all(&dir).expect("create the artifacts directory");
    dir.join(name)
}
