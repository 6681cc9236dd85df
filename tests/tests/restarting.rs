//! `Restarting` tries a read, write or flush again when it fails with `Interrupted`, and
//! passes every other result through.

use std::io::{self, ErrorKind, Read, Write};

use sockwright_tests::restarting::Restarting;

/// A stream that fails its first `n` calls of each kind with `Interrupted`.
struct Flaky {
    interrupts: usize,
    data: Vec<u8>,
}

impl Flaky {
    fn interrupted(&mut self) -> bool {
        if self.interrupts == 0 {
            return false;
        }
        self.interrupts -= 1;
        true
    }
}

impl Read for Flaky {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.interrupted() {
            return Err(ErrorKind::Interrupted.into());
        }
        let n = buf.len().min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data.drain(..n);
        Ok(n)
    }
}

impl Write for Flaky {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.interrupted() {
            return Err(ErrorKind::Interrupted.into());
        }
        self.data.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.interrupted() {
            return Err(ErrorKind::Interrupted.into());
        }
        Ok(())
    }
}

#[test]
fn interrupted_calls_are_tried_again_and_other_errors_pass_through() {
    let mut stream = Restarting(Flaky {
        interrupts: 3,
        data: Vec::new(),
    });
    assert_eq!(stream.write(b"abc").unwrap(), 3);
    stream.interrupts = 2;
    stream.flush().unwrap();
    stream.interrupts = 5;
    let mut buf = [0; 8];
    assert_eq!(stream.read(&mut buf).unwrap(), 3);
    assert_eq!(&buf[..3], b"abc");
    // Without the wrapper the same stream reports the interruption.
    stream.interrupts = 1;
    let error = stream.0.read(&mut buf).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Interrupted);
}
