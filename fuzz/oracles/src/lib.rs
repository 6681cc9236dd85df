//! sockwright's fuzz targets as plain functions, each with its oracles.
//!
//! Every `run_*` function takes the fuzzer's bytes and panics when an oracle fails: a crash, an
//! error the core does not document, or a broken invariant (see each module). The cargo-fuzz
//! targets in `fuzz/fuzz_targets/` only call them; `tests/replay.rs` replays every file of
//! `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/` through them, so `cargo test`
//! checks the corpus and every bug ever found without nightly or a fuzzer.
//!
//! Inputs are raw bytes for the parsers (a request head, a frame stream, a URL) and small
//! hand-writable operation scripts for the machines ([`input`] describes the layout,
//! [`seeds`] writes them out).

pub mod conn;
pub mod frames;
pub mod handshake;
pub mod hub;
pub mod input;
pub mod reference;
pub mod relay;
pub mod seeds;
pub mod tokens;
pub mod url;
pub mod wire;

pub use conn::run_connection;
pub use frames::{run_frame_client, run_frame_server};
pub use handshake::{run_handshake_client, run_handshake_server};
pub use hub::run_hub;
pub use relay::run_relay;
pub use tokens::run_token_list;
pub use url::run_ws_url;

/// A fuzz target: its name (the cargo-fuzz binary and the corpus folder) and its function.
pub type Target = (&'static str, fn(&[u8]));

/// Every target, by name.
pub const TARGETS: &[Target] = &[
    ("handshake_server", run_handshake_server),
    ("handshake_client", run_handshake_client),
    ("token_list", run_token_list),
    ("frame_server", run_frame_server),
    ("frame_client", run_frame_client),
    ("connection", run_connection),
    ("relay", run_relay),
    ("hub", run_hub),
    ("ws_url", run_ws_url),
];
