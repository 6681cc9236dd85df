//! What the generator reads about the server process from /proc (Linux only): resident memory
//! and CPU time.

use std::fs;
use std::io;
use std::time::Duration;

/// Memory figures from /proc/PID/status, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Memory {
    /// `VmRSS`: resident now.
    pub rss: u64,
    /// `VmHWM`: the peak resident size so far.
    pub peak: u64,
}

/// Reads `VmRSS` and `VmHWM` of process `pid`.
pub fn memory(pid: u32) -> io::Result<Memory> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> io::Result<u64> {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .map(|kib| kib * 1024)
            .ok_or_else(|| io::Error::other(format!("/proc/{pid}/status has no {name}")))
    };
    Ok(Memory {
        rss: field("VmRSS:")?,
        peak: field("VmHWM:")?,
    })
}

/// User plus system CPU time process `pid` has used (all its threads, live and ended), at the
/// kernel's 10 ms `USER_HZ` resolution.
pub fn cpu_time(pid: u32) -> io::Result<Duration> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces; the fields after its `)` are plain.
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| io::Error::other("malformed /proc/PID/stat"))?;
    let mut fields = after_name.split_whitespace();
    // utime and stime are fields 14 and 15, i.e. the 12th and 13th after the name.
    let mut ticks = 0u64;
    for index in 0..13 {
        let field = fields
            .next()
            .ok_or_else(|| io::Error::other("short /proc/PID/stat"))?;
        if index >= 11 {
            ticks += field.parse::<u64>().map_err(io::Error::other)?;
        }
    }
    Ok(Duration::from_millis(ticks * 10))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let me = std::process::id();
        let memory = memory(me).unwrap();
        assert!(memory.rss > 0 && memory.peak >= memory.rss, "{memory:?}");
        // Spin until the kernel has counted a tick of this process's CPU time (on a loaded
        // machine 50 ms of wall time may be less than one 10 ms tick), for at most 10 s.
        let spin = std::time::Instant::now();
        while cpu_time(me).unwrap() == Duration::ZERO && spin.elapsed() < Duration::from_secs(10) {
            std::hint::black_box(spin.elapsed());
        }
        assert!(cpu_time(me).unwrap() > Duration::ZERO);
    }
}
