//! [`Stamped`]: a byte stream that notes when each read returned data, so
//! every message parsed out of it carries the moment it was read from the
//! socket (see [`clock`](crate::clock)). One clock call per read that returned
//! data, not per message: a flood of small frames shares each read's stamp.

use std::io::{self, Read, Write};

use crate::clock::{Clock, Stamp};

pub(crate) struct Stamped<S> {
    pub(crate) inner: S,
    clock: Clock,
    /// When the last read that returned data returned.
    pub(crate) rx: Stamp,
}

impl<S> Stamped<S> {
    pub(crate) fn new(inner: S) -> Stamped<S> {
        let clock = Clock::new();
        Stamped {
            inner,
            clock,
            rx: clock.now(),
        }
    }
}

impl<S: Read> Read for Stamped<S> {
    #[inline]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.rx = self.clock.now();
        }
        Ok(n)
    }
}

impl<S: Write> Write for Stamped<S> {
    #[inline]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }
    #[inline]
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.inner.write_vectored(bufs)
    }
    #[inline]
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
