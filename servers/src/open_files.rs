//! The open-files limit: every connection is a file descriptor, and the usual soft limit
//! (1024) would cap a server far below what the machine allows. At startup the binary raises
//! its soft limit to the hard limit, as servers commonly do (the hard limit is the operator's
//! ceiling and is left alone).

/// The soft and hard limits on open files after raising the soft limit to the hard limit
/// (both unchanged when that fails or is not needed); `None` for unlimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenFiles {
    /// The soft limit before.
    pub was: Option<u64>,
    /// The soft limit now.
    pub soft: Option<u64>,
    /// The hard limit.
    pub hard: Option<u64>,
}

/// Raises this process's soft `RLIMIT_NOFILE` to its hard limit. On failure (some systems
/// cap the soft limit below an unlimited hard one) the limit stays as it was and the error is
/// returned with what it was.
#[cfg(unix)]
pub fn raise_to_hard_limit() -> Result<OpenFiles, (OpenFiles, std::io::Error)> {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

    let limit = getrlimit(Resource::Nofile);
    let mut open = OpenFiles {
        was: limit.current,
        soft: limit.current,
        hard: limit.maximum,
    };
    if limit.current == limit.maximum {
        return Ok(open);
    }
    let raised = Rlimit {
        current: limit.maximum,
        maximum: limit.maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => {
            open.soft = getrlimit(Resource::Nofile).current;
            Ok(open)
        }
        Err(e) => Err((open, e.into())),
    }
}

/// Elsewhere there is no such limit to raise.
#[cfg(not(unix))]
pub fn raise_to_hard_limit() -> Result<OpenFiles, (OpenFiles, std::io::Error)> {
    Ok(OpenFiles {
        was: None,
        soft: None,
        hard: None,
    })
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

    #[test]
    fn the_soft_limit_is_raised_to_the_hard_limit() {
        // Lower the soft limit first (this test process may), so that there is something to
        // raise; half the hard limit leaves the other tests here plenty.
        let before = getrlimit(Resource::Nofile);
        let lowered = before.maximum.map_or(4096, |hard| (hard / 2).max(256));
        let lower = Rlimit {
            current: Some(lowered),
            maximum: before.maximum,
        };
        setrlimit(Resource::Nofile, lower).unwrap();
        let open = raise_to_hard_limit().map_err(|(_, e)| e).unwrap();
        assert_eq!(open.was, Some(lowered));
        assert_eq!(open.soft, open.hard);
        let limit = getrlimit(Resource::Nofile);
        assert_eq!(limit.current, limit.maximum);
        // Asking again changes nothing.
        assert_eq!(
            raise_to_hard_limit().map_err(|(_, e)| e).unwrap().was,
            open.soft
        );
    }
}
