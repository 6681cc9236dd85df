//! A load generator for WebSocket servers on loopback, and the suite that measures sockwright
//! against its peers and writes `BENCHMARKS.md`.
//!
//! The generator speaks WebSocket with the sockwright core's client handshake and frame codec
//! over raw non-blocking sockets on one mio loop ([`pool`]), so it costs little per message
//! and never waits on a runtime. Each [`scenario`] opens its connections, warms up, measures
//! for a fixed time and closes them again; each stops by itself. Every echo and delivery is
//! checked, not just counted. [`suite`] runs the scenarios against every server, interleaved,
//! several rounds, and [`report`] turns the runs into the table.

#![forbid(unsafe_code)]

pub mod histogram;
pub mod pool;
pub mod procfs;
pub mod report;
pub mod scenario;
pub mod suite;

use std::time::Duration;

/// Parses `5s`, `300ms`, `2m` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (e.g. 5s, 300ms)"))?;
    let seconds = match unit {
        "" | "s" => number,
        "ms" => number / 1000.0,
        "m" => number * 60.0,
        _ => return Err(format!("{text:?}: the unit is ms, s or m")),
    };
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("5h").is_err());
        assert!(parse_duration("s").is_err());
    }
}
