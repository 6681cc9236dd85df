//! Cross-crate integration, conformance and interop tests for sockwright. The test programs
//! live in `tests/tests/`; shared helpers live here.
//!
//! [`blocking`] is a minimal blocking driver of the core over `std::net`, used by the Autobahn
//! harness binaries (`src/bin/`) so the protocol core can be checked by the conformance suite on
//! its own. It is a test tool, not the std adapter: that lives in `adapters/std`.
//!
//! [`restarting`] makes a blocking socket with timeouts try a call again after `EINTR`; every
//! crate's test helpers include it.

pub mod adapters;
pub mod blocking;
pub mod peer;
pub mod restarting;
