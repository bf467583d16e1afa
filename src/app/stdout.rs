//! Standard output as the pipeline writes it: straight to fd 1, so that a
//! stop signal can cut short a write that a stalled reader blocks, and so
//! that a closed fd 1 is an error rather than silence.

use std::io::{self, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::pipeline::Stopped;

/// fd 1, written with write(2). A write interrupted by a signal (the stop
/// signals interrupt system calls: see `signals`) is retried unless a
/// signal asked to stop.
pub struct Stdout {
    stop: Arc<AtomicUsize>,
}

impl Stdout {
    pub fn new(stop: Arc<AtomicUsize>) -> Stdout {
        Stdout { stop }
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        loop {
            // A signal that came during a write that had written part of
            // its bytes ended that write short, without an error: the
            // next one stops here.
            if self.stop.load(Ordering::Relaxed) != 0 {
                return Err(io::Error::other(Stopped));
            }
            // SAFETY: buf is valid for buf.len() bytes for the call.
            let n = unsafe { libc::write(1, buf.as_ptr().cast(), buf.len()) };
            if n >= 0 {
                return Ok(n as usize);
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Whether fd 1 is open at all (`dnstrace >&-`). Rust's runtime puts
/// /dev/null, opened read-write, on a standard descriptor that was closed
/// at start, where a shell's `> /dev/null` opens it write-only: that
/// read-write /dev/null is the closed descriptor.
pub fn is_open() -> bool {
    // SAFETY: F_GETFL on any number is harmless.
    let flags = unsafe { libc::fcntl(1, libc::F_GETFL) };
    if flags == -1 {
        return false;
    }
    if flags & libc::O_ACCMODE != libc::O_RDWR {
        return true;
    }
    // SAFETY: fstat writes into the struct we own.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::fstat(1, &mut st) } != 0 {
        return false;
    }
    let dev_null = st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == libc::makedev(1, 3);
    !dev_null
}

/// Whether the reader of a pipe or socket on fd 1 has gone (`| head -1`
/// exited): seen at once, not at the next write, which may be long in
/// coming when little matches.
pub fn reader_gone() -> bool {
    let mut pfd = libc::pollfd {
        fd: 1,
        events: 0,
        revents: 0,
    };
    // SAFETY: one pollfd that we own, no wait.
    let n = unsafe { libc::poll(&mut pfd, 1, 0) };
    n > 0 && pfd.revents & (libc::POLLERR | libc::POLLHUP) != 0
}
