//! The signals that stop dnstrace: SIGINT, SIGTERM and SIGHUP. Each sets a
//! flag the main loop reads; each also interrupts a blocked system call
//! (no SA_RESTART), so that a write to a stalled reader cannot keep
//! dnstrace from acting on it. A SIGHUP that the parent ignored (`nohup`)
//! stays ignored.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

/// Whether a stop signal came, and whether one was a hangup.
#[derive(Clone)]
pub struct StopFlag {
    stop: Arc<AtomicBool>,
    hangup: Arc<AtomicBool>,
}

impl StopFlag {
    pub fn install() -> Result<StopFlag> {
        let flag = StopFlag {
            stop: Arc::new(AtomicBool::new(false)),
            hangup: Arc::new(AtomicBool::new(false)),
        };
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            if sig == SIGHUP && ignored(sig) {
                continue;
            }
            signal_hook::flag::register(sig, Arc::clone(&flag.stop))
                .context("installing signal handlers")?;
            if sig == SIGHUP {
                signal_hook::flag::register(sig, Arc::clone(&flag.hangup))
                    .context("installing signal handlers")?;
            }
            interrupt_system_calls(sig).context("installing signal handlers")?;
        }
        Ok(flag)
    }

    pub fn raised(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// The terminal is gone: nothing more can be shown on it.
    pub fn hung_up(&self) -> bool {
        self.hangup.load(Ordering::Relaxed)
    }

    pub fn shared(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stop)
    }
}

/// Whether `sig` is ignored, as `nohup` leaves SIGHUP.
fn ignored(sig: i32) -> bool {
    // SAFETY: sigaction only reads the current action into a struct we own.
    unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        libc::sigaction(sig, std::ptr::null(), &mut act) == 0 && act.sa_sigaction == libc::SIG_IGN
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
