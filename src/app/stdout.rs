//! Standard output as the pipeline writes it: straight to fd 1, so that a
//! stop signal can cut short a write that a stalled reader blocks, and so
//! that a closed fd 1 is an error rather than silence.

use std::io::{self, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::pipeline::Stopped;

/// How long, once a stop is asked, the reader has to take what is still
/// to be written before it counts as stalled.
const GRACE: Duration = Duration::from_secs(1);

/// The most a write after a stop asks for: what a pipe that polls
/// writable takes without blocking.
const SMALL_WRITE: usize = 4096;

/// fd 1, written with write(2). The stop signals interrupt system calls
/// (see `signals`), so a write that a stalled reader blocks returns; once
/// a stop is asked, writes wait for room with a deadline and write only
/// what fits, so that dnstrace delivers what it has to a reader that keeps
/// up, and gives up on one that does not.
pub struct Stdout {
    stop: Arc<AtomicUsize>,
    give_up_at: Option<Instant>,
}

impl Stdout {
    pub fn new(stop: Arc<AtomicUsize>) -> Stdout {
        Stdout {
            stop,
            give_up_at: None,
        }
    }

    /// After a stop: waits until fd 1 takes a small write, or the grace
    /// period has passed (false).
    fn room_before_deadline(&mut self) -> bool {
        let deadline = *self
            .give_up_at
            .get_or_insert_with(|| Instant::now() + GRACE);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let mut pfd = libc::pollfd {
                fd: 1,
                events: libc::POLLOUT,
                revents: 0,
            };
            // SAFETY: one pollfd that we own.
            let n = unsafe { libc::poll(&mut pfd, 1, left.as_millis() as libc::c_int) };
            if n > 0 {
                return true;
            }
            if n == 0 || left.is_zero() {
                return false;
            }
            // EINTR: poll again with what is left.
        }
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        loop {
            let mut len = buf.len();
            if self.stop.load(Ordering::Relaxed) != 0 {
                if !self.room_before_deadline() {
                    return Err(io::Error::other(Stopped));
                }
                len = len.min(SMALL_WRITE);
            }
            // SAFETY: buf is valid for len <= buf.len() bytes.
            let n = unsafe { libc::write(1, buf.as_ptr().cast(), len) };
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
