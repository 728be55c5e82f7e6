//! What one pull may cost: a byte budget shared by its layers, and a cap on the metadata the
//! tar reader buffers in memory before it yields an entry.
//!
//! The `tar` crate reads GNU long names, long link names and PAX records into a `Vec` of
//! whatever size their header declares, and GNU sparse maps block by block, all inside
//! `Entries::next`. A few KiB of gzip can declare gigabytes there, so the budget on file
//! contents alone does not bound memory: [`HeaderGuard`] counts the bytes read while the
//! unpacker is waiting for the next entry and fails the read past [`MAX_HEADER_BYTES`].

use std::cell::Cell;
use std::io::{self, Read};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::unpack::UnpackError;

/// Per-entry accounting overhead, so a billion empty files also hit the budget.
pub(crate) const ENTRY_COST: u64 = 512;

/// Largest run of header bytes (headers, long names, PAX records, sparse maps) before one
/// entry. Real layers need a few KiB (PATH_MAX is 4 KiB, xattrs a few more).
pub(crate) const MAX_HEADER_BYTES: u64 = 1 << 20;

/// Shared byte budget across the layers of one pull.
#[derive(Debug)]
pub(crate) struct Budget {
    limit: u64,
    used: AtomicU64,
}

impl Budget {
    pub(crate) fn new(limit: u64) -> Self {
        Self {
            limit,
            used: AtomicU64::new(0),
        }
    }

    pub(crate) fn take(&self, n: u64) -> Result<(), UnpackError> {
        let prev = self.used.fetch_add(n, Ordering::Relaxed);
        if prev.saturating_add(n) > self.limit {
            return Err(UnpackError::TooLarge { limit: self.limit });
        }
        Ok(())
    }
}

/// The unpacker's side of a [`HeaderGuard`].
#[derive(Debug, Default)]
pub(crate) struct HeaderWindow {
    open: Cell<bool>,
    bytes: Cell<u64>,
    tripped: Cell<bool>,
}

impl HeaderWindow {
    /// Called before asking the tar reader for the next entry.
    pub(crate) fn open(&self) {
        self.bytes.set(0);
        self.open.set(true);
    }

    /// Called once the entry (or the error) is back; returns the header bytes read.
    pub(crate) fn close(&self) -> u64 {
        self.open.set(false);
        self.bytes.get()
    }

    /// Whether the last read error was the guard's.
    pub(crate) fn tripped(&self) -> bool {
        self.tripped.get()
    }
}

/// Fails reads once more than [`MAX_HEADER_BYTES`] are read inside one header window.
pub(crate) struct HeaderGuard<R> {
    inner: R,
    window: Rc<HeaderWindow>,
}

impl<R: Read> HeaderGuard<R> {
    pub(crate) fn new(inner: R) -> (Self, Rc<HeaderWindow>) {
        let window = Rc::new(HeaderWindow::default());
        let guard = Self {
            inner,
            window: Rc::clone(&window),
        };
        (guard, window)
    }

    pub(crate) fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read> Read for HeaderGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let w = &self.window;
        if w.open.get() {
            // Never hand out more than the window allows, so nothing past the cap is buffered.
            let left = MAX_HEADER_BYTES.saturating_sub(w.bytes.get());
            if left == 0 {
                w.tripped.set(true);
                return Err(io::Error::other("tar header data over the limit"));
            }
            let max = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
            let n = self.inner.read(&mut buf[..max])?;
            w.bytes.set(w.bytes.get() + n as u64);
            return Ok(n);
        }
        self.inner.read(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_counts_only_inside_the_window() {
        let data = vec![0u8; (MAX_HEADER_BYTES + 1000) as usize];
        let (mut g, w) = HeaderGuard::new(&data[..]);
        let mut sink = Vec::new();
        (&mut g).take(100).read_to_end(&mut sink).expect("outside");
        w.open();
        let err = io::copy(&mut g, &mut io::sink()).expect_err("over the cap");
        assert!(w.tripped(), "{err}");
        assert_eq!(w.close(), MAX_HEADER_BYTES);
    }

    #[test]
    fn budget_is_shared_and_saturates() {
        let b = Budget::new(10);
        b.take(6).expect("first");
        assert!(matches!(
            b.take(5),
            Err(UnpackError::TooLarge { limit: 10 })
        ));
        assert!(b.take(u64::MAX).is_err());
    }
}
