//! The terminal in table mode, put back on every exit path, and whether
//! to draw in colour.

use std::io::{self, Write};
use std::sync::Once;

use crossterm::{cursor, execute, queue, style, terminal};

fn restore_terminal() {
    let mut out = io::stdout();
    let _ = execute!(out, cursor::Show, terminal::LeaveAlternateScreen);
    let _ = terminal::disable_raw_mode();
}

/// The terminal in table mode. Dropping it (also while unwinding) puts the
/// terminal back; a panic hook does the same before the message prints.
pub struct Screen {
    out: io::Stdout,
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
        terminal::enable_raw_mode()?;
        let mut out = io::stdout();
        execute!(
            out,
            terminal::EnterAlternateScreen,
            cursor::Hide,
            terminal::Clear(terminal::ClearType::All)
        )?;
        Ok(Screen { out })
    }

    pub fn size(&self) -> (u16, u16) {
        terminal::size().unwrap_or((80, 24))
    }

    pub fn draw(&mut self, lines: &[String]) -> io::Result<()> {
        for (i, line) in lines.iter().enumerate() {
            queue!(
                self.out,
                cursor::MoveTo(0, i as u16),
                style::Print(line),
                terminal::Clear(terminal::ClearType::UntilNewLine)
            )?;
        }
        queue!(
            self.out,
            terminal::Clear(terminal::ClearType::FromCursorDown)
        )?;
        self.out.flush()
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// Colour unless NO_COLOR is set or the terminal cannot show it.
pub fn color_wanted() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let dumb = std::env::var("TERM").map_or(true, |t| t == "dumb" || t.is_empty());
    !no_color && !dumb
}
