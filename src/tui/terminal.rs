//! The terminal in table mode, put back on every exit path, and whether
//! to draw in colour.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, Once};

use crossterm::{cursor, execute, queue, style, terminal};

/// Set before the terminal is put back (by the screen's drop or the panic
/// hook): the writer draws no frame after that. Frames are written with
/// stdout locked, as the terminal is put back.
static CLOSED: AtomicBool = AtomicBool::new(false);

fn restore_terminal() {
    CLOSED.store(true, Ordering::SeqCst);
    let mut out = io::stdout();
    let _ = execute!(out, cursor::Show, terminal::LeaveAlternateScreen);
    let _ = terminal::disable_raw_mode();
}

/// The terminal in table mode. Dropping it (also while unwinding) puts the
/// terminal back; a panic hook does the same before the message prints.
///
/// Frames are written by a thread of their own: a terminal that stops
/// reading (a stalled SSH session, a suspended terminal) blocks that thread
/// only, never the reading of the ring buffer. Every frame draws the whole
/// screen, so one not yet written when the next is ready is replaced by it.
pub struct Screen {
    shared: Arc<Shared>,
}

/// What the table's loop and the writer share.
struct Shared {
    slot: Mutex<Slot>,
    ready: Condvar,
}

#[derive(Default)]
struct Slot {
    frame: Option<Vec<u8>>,
    /// The writer's first error, for the next draw to return.
    error: Option<io::Error>,
}

impl Screen {
    pub fn enter() -> io::Result<Screen> {
        static HOOK: Once = Once::new();
        HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                restore_terminal();
                previous(info);
            }));
        });
        CLOSED.store(false, Ordering::SeqCst);
        let shared = Arc::new(Shared {
            slot: Mutex::new(Slot::default()),
            ready: Condvar::new(),
        });
        let writer = shared.clone();
        std::thread::Builder::new()
            .name("table-writer".into())
            .spawn(move || write_frames(&writer))?;
        // From here on, dropping the screen puts the terminal back.
        let screen = Screen { shared };
        terminal::enable_raw_mode()?;
        let mut out = io::stdout();
        execute!(
            out,
            terminal::EnterAlternateScreen,
            cursor::Hide,
            terminal::Clear(terminal::ClearType::All)
        )?;
        Ok(screen)
    }

    pub fn size(&self) -> (u16, u16) {
        terminal::size().unwrap_or((80, 24))
    }

    /// Hands the frame to the writer; the error of an earlier write, if
    /// any (a terminal gone).
    pub fn draw(&mut self, lines: &[String]) -> io::Result<()> {
        let mut frame = Vec::with_capacity(lines.iter().map(|l| l.len() + 16).sum());
        for (i, line) in lines.iter().enumerate() {
            queue!(
                frame,
                cursor::MoveTo(0, i as u16),
                style::Print(line),
                terminal::Clear(terminal::ClearType::UntilNewLine)
            )?;
        }
        queue!(frame, terminal::Clear(terminal::ClearType::FromCursorDown))?;
        let mut slot = lock(&self.shared.slot);
        if let Some(e) = slot.error.take() {
            return Err(e);
        }
        slot.frame = Some(frame);
        drop(slot);
        self.shared.ready.notify_one();
        Ok(())
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        // Under the lock, so that the writer cannot miss the wakeup.
        let slot = lock(&self.shared.slot);
        CLOSED.store(true, Ordering::SeqCst);
        drop(slot);
        self.shared.ready.notify_one();
        restore_terminal();
    }
}

/// A poisoned lock holds a frame still whole: take it.
fn lock(m: &Mutex<Slot>) -> std::sync::MutexGuard<'_, Slot> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The writer: the newest frame, whenever there is one, until closed.
fn write_frames(shared: &Shared) {
    loop {
        let mut slot = lock(&shared.slot);
        let frame = loop {
            if CLOSED.load(Ordering::SeqCst) {
                return;
            }
            if let Some(f) = slot.frame.take() {
                break f;
            }
            slot = shared.ready.wait(slot).unwrap_or_else(|p| p.into_inner());
        };
        drop(slot);
        let mut out = io::stdout().lock();
        if CLOSED.load(Ordering::SeqCst) {
            return;
        }
        if let Err(e) = out.write_all(&frame).and_then(|()| out.flush()) {
            lock(&shared.slot).error = Some(e);
            return;
        }
    }
}

/// Colour unless NO_COLOR is set or the terminal cannot show it.
pub fn color_wanted() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let dumb = std::env::var("TERM").map_or(true, |t| t == "dumb" || t.is_empty());
    !no_color && !dumb
}
