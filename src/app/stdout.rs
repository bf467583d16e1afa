//! Standard output as the pipeline writes it: straight to fd 1, so that a
//! stop signal can cut short a write that a stalled reader blocks.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::pipeline::Stopped;

/// How long, once a stop is asked, a reader may take nothing before it
/// counts as stalled.
const GRACE: Duration = Duration::from_secs(1);

/// The most a write after a stop asks for: what a pipe that polls
/// writable takes at once (a write of up to PIPE_BUF is atomic).
const SMALL_WRITE: usize = 4096;

/// fd 1, written with write(2).
///
/// The stop signals interrupt system calls (see `signals`), so a write
/// that a stalled reader blocks returns. Once a stop is asked, each write
/// waits for room (a reader that takes nothing for [`GRACE`] has stalled),
/// asks only for what fits without blocking, and ends at a line's end, so
/// that a reader that keeps up gets everything and one that stalled gets
/// whole lines. (A signal that lands between the check of the flag and the
/// start of a write(2) is not seen by that write: a window of a few
/// instructions per write.)
pub struct Stdout {
    stop: Arc<AtomicBool>,
    /// fd 1 is a socket: written with MSG_DONTWAIT after a stop, since
    /// its POLLOUT promises less room than a pipe's.
    socket: bool,
}

impl Stdout {
    pub fn new(stop: Arc<AtomicBool>) -> Stdout {
        Stdout {
            stop,
            socket: file_type() == Some(libc::S_IFSOCK),
        }
    }

    /// After a stop: waits until fd 1 has room; false when the reader took
    /// nothing for [`GRACE`].
    fn wait_for_room(&self) -> io::Result<bool> {
        let deadline = Instant::now() + GRACE;
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
                return Ok(true);
            }
            if n == 0 {
                return Ok(false);
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }

    /// One write after a stop: at most SMALL_WRITE bytes, ending after a
    /// newline when the buffer has one in that span.
    fn write_after_stop(&self, buf: &[u8]) -> io::Result<usize> {
        let mut len = buf.len().min(SMALL_WRITE);
        if let Some(nl) = buf[..len].iter().rposition(|b| *b == b'\n') {
            len = nl + 1;
        }
        loop {
            if !self.wait_for_room()? {
                return Err(io::Error::other(Stopped));
            }
            // SAFETY: buf is valid for len <= buf.len() bytes.
            let n = unsafe {
                if self.socket {
                    libc::send(1, buf.as_ptr().cast(), len, libc::MSG_DONTWAIT)
                } else {
                    libc::write(1, buf.as_ptr().cast(), len)
                }
            };
            if n >= 0 {
                return Ok(n as usize);
            }
            let err = io::Error::last_os_error();
            if !matches!(
                err.kind(),
                io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock
            ) {
                return Err(err);
            }
        }
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return self.write_after_stop(buf);
            }
            // SAFETY: buf is valid for buf.len() bytes.
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

/// The kind of file on fd 1 (`S_IFIFO`, `S_IFSOCK`, ...).
pub fn file_type() -> Option<libc::mode_t> {
    // SAFETY: fstat writes into the struct we own.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::fstat(1, &mut st) } != 0 {
        return None;
    }
    Some(st.st_mode & libc::S_IFMT)
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
