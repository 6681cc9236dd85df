//! Cross-crate integration, conformance and interop tests for sockwright. The test programs
//! live in `tests/tests/`; shared helpers live here.
