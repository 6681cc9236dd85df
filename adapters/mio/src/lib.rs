//! `sockwright-mio`: drives the sans-IO [`sockwright`] core over mio.
//!
//! This crate is a placeholder: the adapter lands with the adapters issue. It re-exports the
//! core so that dependants can already name it.

pub use sockwright;
