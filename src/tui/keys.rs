//! The key reader: terminal events to what they ask for.

use std::io;
use std::time::Duration;

use crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};

/// What a key asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quit,
    Pause,
    NextView,
    /// Straight to the latency by backend.
    BackendView,
    /// Straight to the latency by pod.
    PodView,
    /// Straight to the lookups.
    LookupsView,
    /// Straight to the suspicious view.
    SuspiciousView,
    NextSort,
    Reset,
    Help,
    Redraw,
}

/// At most this many terminal events are read per round: a terminal that
/// has gone (its tty at end of file) stays readable forever, and an
/// unbounded loop here never let the main loop see the hangup's signal.
const MAX_EVENTS_PER_ROUND: usize = 256;

/// Reads the pending terminal events without blocking, up to
/// [`MAX_EVENTS_PER_ROUND`].
pub fn pending_actions(help_open: bool) -> io::Result<Vec<Action>> {
    // A terminal that hung up reads as end of file forever, and the
    // terminal library's read then spins without returning: leave.
    if terminal_hung_up() {
        return Ok(vec![Action::Quit]);
    }
    let mut actions = Vec::new();
    for _ in 0..MAX_EVENTS_PER_ROUND {
        if !event::poll(Duration::ZERO)? {
            break;
        }
        actions.extend(action(&event::read()?, help_open));
    }
    Ok(actions)
}

/// Whether the terminal on standard input hung up (its other end closed).
fn terminal_hung_up() -> bool {
    let mut fd = libc::pollfd {
        fd: 0,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, and no waiting.
    let ready = unsafe { libc::poll(&mut fd, 1, 0) };
    ready == 1 && fd.revents & libc::POLLHUP != 0
}

/// What one terminal event asks for, if anything. While the help is open
/// any key (pressed, not released) closes it.
fn action(ev: &Event, help_open: bool) -> Option<Action> {
    match ev {
        Event::Key(k) if k.kind != KeyEventKind::Release => {
            if help_open {
                return Some(Action::Help);
            }
            let ctrl_c =
                k.modifiers.contains(KeyModifiers::CONTROL) && k.code == KeyCode::Char('c');
            Some(match k.code {
                _ if ctrl_c => Action::Quit,
                KeyCode::Char('q') | KeyCode::Esc => Action::Quit,
                KeyCode::Char(' ') => Action::Pause,
                KeyCode::Char('t') | KeyCode::Tab => Action::NextView,
                KeyCode::Char('b') => Action::BackendView,
                KeyCode::Char('p') => Action::PodView,
                KeyCode::Char('l') => Action::LookupsView,
                KeyCode::Char('x') => Action::SuspiciousView,
                KeyCode::Char('s') => Action::NextSort,
                KeyCode::Char('r') => Action::Reset,
                KeyCode::Char('?') | KeyCode::Char('h') => Action::Help,
                _ => return None,
            })
        }
        Event::Resize(_, _) => Some(Action::Redraw),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::KeyEvent;

    fn key(code: KeyCode) -> Event {
        Event::Key(KeyEvent::new(code, KeyModifiers::NONE))
    }

    #[test]
    fn keys_to_actions() {
        for (code, want) in [
            (KeyCode::Char('q'), Action::Quit),
            (KeyCode::Esc, Action::Quit),
            (KeyCode::Char(' '), Action::Pause),
            (KeyCode::Char('t'), Action::NextView),
            (KeyCode::Tab, Action::NextView),
            (KeyCode::Char('b'), Action::BackendView),
            (KeyCode::Char('p'), Action::PodView),
            (KeyCode::Char('l'), Action::LookupsView),
            (KeyCode::Char('x'), Action::SuspiciousView),
            (KeyCode::Char('s'), Action::NextSort),
            (KeyCode::Char('r'), Action::Reset),
            (KeyCode::Char('?'), Action::Help),
            (KeyCode::Char('h'), Action::Help),
        ] {
            assert_eq!(action(&key(code), false), Some(want), "{code:?}");
        }
        let ctrl_c = Event::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
        assert_eq!(action(&ctrl_c, false), Some(Action::Quit));
        assert_eq!(action(&key(KeyCode::Char('c')), false), None);
        assert_eq!(action(&key(KeyCode::Char('z')), false), None);
        assert_eq!(action(&Event::Resize(80, 24), false), Some(Action::Redraw));
        assert_eq!(action(&Event::FocusGained, false), None);
    }

    #[test]
    fn any_key_closes_the_help_but_a_release() {
        assert_eq!(action(&key(KeyCode::Char('q')), true), Some(Action::Help));
        assert_eq!(action(&key(KeyCode::Char('z')), true), Some(Action::Help));
        let release = Event::Key(KeyEvent::new_with_kind(
            KeyCode::Char('q'),
            KeyModifiers::NONE,
            KeyEventKind::Release,
        ));
        assert_eq!(action(&release, true), None);
        assert_eq!(action(&release, false), None);
        assert_eq!(action(&Event::Resize(80, 24), true), Some(Action::Redraw));
    }
}
