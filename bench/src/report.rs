//! Results: one run as named values ([`Sample`]), runs summarised as median and range, and
//! the Markdown tables of `BENCHMARKS.md`.

use std::fmt::Write as _;
use std::time::Duration;

use crate::scenario::echo::EchoReport;
use crate::scenario::fanout::FanoutReport;
use crate::scenario::handshakes::HandshakeReport;
use crate::scenario::idle::IdleReport;

/// One run's values, the first being the headline (rates, or bytes per connection).
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// `(name with unit, value)`; `NaN` when not measured (e.g. no server pid).
    pub values: Vec<(&'static str, f64)>,
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn optional_micros(d: Option<Duration>) -> f64 {
    d.map_or(f64::NAN, micros)
}

const MIB: f64 = 1024.0 * 1024.0;

impl Sample {
    /// msg/s, latency, server CPU per message, frames other than echoes.
    pub fn from_echo(r: &EchoReport) -> Sample {
        Sample {
            values: vec![
                ("msg/s", r.rate),
                ("p50 µs", micros(r.p50)),
                ("p99 µs", micros(r.p99)),
                ("server CPU µs/msg", optional_micros(r.cpu_per_message)),
                ("other frames", r.unexpected_frames as f64),
            ],
        }
    }

    /// deliveries/s, latency, lost deliveries, hub CPU per delivery.
    pub fn from_fanout(r: &FanoutReport) -> Sample {
        Sample {
            values: vec![
                ("deliveries/s", r.rate),
                ("p50 µs", micros(r.p50)),
                ("p99 µs", micros(r.p99)),
                (
                    "server CPU µs/delivery",
                    optional_micros(r.cpu_per_delivery),
                ),
                ("lost", r.lost as f64),
            ],
        }
    }

    /// Bytes per connection, resident and peak memory.
    pub fn from_idle(r: &IdleReport) -> Sample {
        Sample {
            values: vec![
                ("bytes/conn", r.per_connection as f64),
                ("RSS MiB", r.loaded.rss as f64 / MIB),
                ("peak MiB", r.loaded.peak as f64 / MIB),
                ("baseline MiB", r.baseline.rss as f64 / MIB),
            ],
        }
    }

    /// Handshakes per second, connect-to-open latency, server CPU per handshake.
    pub fn from_handshakes(r: &HandshakeReport) -> Sample {
        Sample {
            values: vec![
                ("handshakes/s", r.rate),
                ("p50 µs", micros(r.p50)),
                ("p99 µs", micros(r.p99)),
                (
                    "server CPU µs/handshake",
                    optional_micros(r.cpu_per_handshake),
                ),
            ],
        }
    }

    /// `name=value …` on one line.
    pub fn line(&self) -> String {
        let mut line = String::new();
        for (name, value) in &self.values {
            let _ = write!(line, "{name}={} ", number(*value));
        }
        line.trim_end().to_string()
    }
}

/// Median and range of each value over several samples of the same kind.
pub fn summary_line(samples: &[Sample]) -> String {
    let mut line = format!("median of {} runs [min–max]:", samples.len());
    for (index, (name, _)) in samples[0].values.iter().enumerate() {
        let spread = Spread::of(samples.iter().map(|s| s.values[index].1));
        let _ = write!(line, " {name}={}", spread.display());
    }
    line
}

/// Median, minimum and maximum of some values (`NaN`s left out).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    /// The median (the mean of the middle two for an even count).
    pub median: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
}

impl Spread {
    /// The spread of `values`; all `NaN` when there are none.
    pub fn of(values: impl Iterator<Item = f64>) -> Spread {
        let mut sorted: Vec<f64> = values.filter(|v| !v.is_nan()).collect();
        if sorted.is_empty() {
            return Spread {
                median: f64::NAN,
                min: f64::NAN,
                max: f64::NAN,
            };
        }
        sorted.sort_by(f64::total_cmp);
        let mid = sorted.len() / 2;
        let median = if sorted.len().is_multiple_of(2) {
            (sorted[mid - 1] + sorted[mid]) / 2.0
        } else {
            sorted[mid]
        };
        Spread {
            median,
            min: sorted[0],
            max: sorted[sorted.len() - 1],
        }
    }

    /// `median [min–max]`, or just the value when they agree.
    pub fn display(&self) -> String {
        if self.min == self.max {
            number(self.median)
        } else {
            format!(
                "{} [{}–{}]",
                number(self.median),
                number(self.min),
                number(self.max)
            )
        }
    }
}

/// A number with as many digits as it deserves: `123k`, `45.6`, `3.21`, `–` for none.
pub fn number(value: f64) -> String {
    if value.is_nan() {
        return "–".to_string();
    }
    let magnitude = value.abs();
    if magnitude >= 10_000_000.0 {
        format!("{:.1}M", value / 1e6)
    } else if magnitude >= 100_000.0 {
        format!("{:.0}k", value / 1e3)
    } else if magnitude >= 100.0 {
        format!("{value:.0}")
    } else if magnitude >= 10.0 || value.fract() == 0.0 {
        format!("{value:.1}").trim_end_matches(".0").to_string()
    } else {
        format!("{value:.2}")
    }
}

/// One row of a table: a load, and each server's runs (or why it has none).
#[derive(Clone, Debug)]
pub struct Row {
    /// The load, e.g. `100 connections × 20 B`.
    pub label: String,
    /// Per server, in table order.
    pub servers: Vec<(String, Result<Vec<Sample>, String>)>,
}

/// Renders a row as a Markdown table: each value's median and range per server, then the
/// headline's ratio to each of `peers` (this server's median over the peer's).
pub fn markdown_row(out: &mut String, row: &Row, peers: &[&str]) {
    let Some(names) = row
        .servers
        .iter()
        .find_map(|(_, runs)| runs.as_ref().ok().and_then(|r| r.first()))
        .map(|s| s.values.iter().map(|(name, _)| *name).collect::<Vec<_>>())
    else {
        let _ = writeln!(out, "**{}**: no server completed a run.\n", row.label);
        for (server, runs) in &row.servers {
            if let Err(why) = runs {
                let _ = writeln!(out, "- {server}: {why}");
            }
        }
        out.push('\n');
        return;
    };
    let _ = writeln!(out, "**{}**\n", row.label);
    let _ = write!(out, "| server |");
    for name in &names {
        let _ = write!(out, " {name} |");
    }
    for peer in peers {
        let _ = write!(out, " ÷ {peer} |");
    }
    out.push('\n');
    out.push_str(&"|---".repeat(1 + names.len() + peers.len()));
    out.push_str("|\n");
    for (server, runs) in &row.servers {
        let _ = write!(out, "| {server} |");
        match runs {
            Ok(runs) => {
                for index in 0..names.len() {
                    let spread = Spread::of(runs.iter().map(|s| s.values[index].1));
                    let _ = write!(out, " {} |", spread.display());
                }
                let mine = headline(row, server);
                for peer in peers {
                    let ratio = match (mine, headline(row, peer)) {
                        _ if server == peer => "1".to_string(),
                        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
                        _ => "–".to_string(),
                    };
                    let _ = write!(out, " {ratio} |");
                }
            }
            Err(why) => {
                let _ = write!(out, " {} |", why.replace('|', "/"));
                out.push_str(&" |".repeat(names.len() + peers.len() - 1));
            }
        }
        out.push('\n');
    }
    out.push('\n');
}

/// The median headline value of `server` in `row`, if it has runs.
pub fn headline(row: &Row, server: &str) -> Option<f64> {
    let (_, runs) = row.servers.iter().find(|(name, _)| name == server)?;
    let runs = runs.as_ref().ok()?;
    let median = Spread::of(runs.iter().map(|s| s.values[0].1)).median;
    (!median.is_nan()).then_some(median)
}

/// The median of the value named `name` for `server` in `row`.
pub fn median_of(row: &Row, server: &str, name: &str) -> Option<f64> {
    let (_, runs) = row.servers.iter().find(|(s, _)| s == server)?;
    let runs = runs.as_ref().ok()?;
    let index = runs.first()?.values.iter().position(|(n, _)| *n == name)?;
    let median = Spread::of(runs.iter().map(|s| s.values[index].1)).median;
    (!median.is_nan()).then_some(median)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreads_and_numbers() {
        let s = Spread::of([3.0, 1.0, f64::NAN, 2.0, 10.0].into_iter());
        assert_eq!((s.median, s.min, s.max), (2.5, 1.0, 10.0));
        assert_eq!(Spread::of([5.0].into_iter()).display(), "5");
        assert_eq!(number(2.5), "2.50");
        assert_eq!(number(123_456.0), "123k");
        assert_eq!(number(12_345_678.0), "12.3M");
        assert_eq!(number(f64::NAN), "–");
    }

    #[test]
    fn a_row_renders_with_ratios() {
        let sample = |v: f64| Sample {
            values: vec![("msg/s", v), ("p50 µs", 10.0)],
        };
        let row = Row {
            label: "100 × 20 B".into(),
            servers: vec![
                (
                    "mine".into(),
                    Ok(vec![sample(200.0), sample(220.0), sample(180.0)]),
                ),
                ("peer".into(), Ok(vec![sample(100.0)])),
                ("broken".into(), Err("exited".into())),
            ],
        };
        let mut out = String::new();
        markdown_row(&mut out, &row, &["peer"]);
        assert!(
            out.contains("| mine | 200 [180–220] | 10 | 2.00 |"),
            "{out}"
        );
        assert!(out.contains("| peer | 100 | 10 | 1 |"), "{out}");
        assert!(out.contains("| broken | exited |"), "{out}");
        assert_eq!(headline(&row, "mine"), Some(200.0));
        assert_eq!(median_of(&row, "peer", "p50 µs"), Some(10.0));
    }
}
