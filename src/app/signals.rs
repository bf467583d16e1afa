//! The signals that stop dnstrace: SIGINT, SIGTERM and SIGHUP. Each sets a
//! flag the main loop reads; each also interrupts a blocked system call
//! (no SA_RESTART), so that a write to a stalled reader cannot keep
//! dnstrace from acting on it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

/// The number of the signal that asked to stop, 0 while none has.
#[derive(Clone)]
pub struct StopFlag(Arc<AtomicUsize>);

impl StopFlag {
    pub fn install() -> Result<StopFlag> {
        let flag = Arc::new(AtomicUsize::new(0));
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            signal_hook::flag::register_usize(sig, Arc::clone(&flag), sig as usize)
                .context("installing signal handlers")?;
            interrupt_system_calls(sig).context("installing signal handlers")?;
        }
        Ok(StopFlag(flag))
    }

    pub fn raised(&self) -> bool {
        self.0.load(Ordering::Relaxed) != 0
    }

    /// The terminal is gone: nothing more can be shown on it.
    pub fn hung_up(&self) -> bool {
        self.0.load(Ordering::Relaxed) == SIGHUP as usize
    }

    pub fn shared(&self) -> Arc<AtomicUsize> {
        Arc::clone(&self.0)
    }
}

/// Clears SA_RESTART from the handler just installed for `sig`.
fn interrupt_system_calls(sig: i32) -> std::io::Result<()> {
    // SAFETY: sigaction reads and writes structs we own; the handler
    // itself is left as signal-hook installed it.
    unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(sig, std::ptr::null(), &mut act) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        act.sa_flags &= !libc::SA_RESTART;
        if libc::sigaction(sig, &act, std::ptr::null_mut()) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
