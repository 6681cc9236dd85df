//! The `sockwright` binary. The echo, hub and relay servers land with the servers issue.

fn main() {
    eprintln!(
        "sockwright {}: the servers land with the servers issue",
        env!("CARGO_PKG_VERSION")
    );
    std::process::exit(2);
}
