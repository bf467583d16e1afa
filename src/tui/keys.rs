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
    NextSort,
    Reset,
    Help,
    Redraw,
}

/// Reads every pending terminal event without blocking.
pub fn pending_actions(help_open: bool) -> io::Result<Vec<Action>> {
    let mut actions = Vec::new();
    while event::poll(Duration::ZERO)? {
        match event::read()? {
            Event::Key(k) if k.kind != KeyEventKind::Release => {
                if help_open {
                    actions.push(Action::Help);
                    continue;
                }
                let ctrl_c =
                    k.modifiers.contains(KeyModifiers::CONTROL) && k.code == KeyCode::Char('c');
                actions.push(match k.code {
                    _ if ctrl_c => Action::Quit,
                    KeyCode::Char('q') | KeyCode::Esc => Action::Quit,
                    KeyCode::Char(' ') => Action::Pause,
                    KeyCode::Char('t') | KeyCode::Tab => Action::NextView,
                    KeyCode::Char('s') => Action::NextSort,
                    KeyCode::Char('r') => Action::Reset,
                    KeyCode::Char('?') | KeyCode::Char('h') => Action::Help,
                    _ => continue,
                });
            }
            Event::Resize(_, _) => actions.push(Action::Redraw),
            _ => {}
        }
    }
    Ok(actions)
}
