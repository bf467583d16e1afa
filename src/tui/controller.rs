//! The live table's controller: the terminal, the view's state, the keys,
//! and a frozen copy of the data while paused. Drawing is paced so that it
//! never holds up the reading of the ring buffer (and a stalled terminal
//! blocks only the screen's writer thread).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::{Action, Column, Screen, Status, ViewState};
use crate::lookup::LookupRecord;
use crate::output::Clock;
use crate::pipeline::{Pipeline, Snapshot};

/// At most this many redraws a second.
const REDRAW_EVERY: Duration = Duration::from_millis(100);

pub struct Live {
    screen: Screen,
    state: ViewState,
    status: Status,
    frozen: Option<Snapshot>,
    /// The lookups as they were when paused.
    frozen_lookups: Option<Option<VecDeque<LookupRecord>>>,
    last_draw: Option<Instant>,
    dirty: bool,
    rate_mark: (Instant, u64),
}

impl Live {
    /// Takes over the terminal (alternate screen, raw mode) until dropped.
    pub fn new(columns: Vec<Column>, filters: String) -> Result<Live> {
        Ok(Live {
            screen: Screen::enter().context("setting up the terminal")?,
            state: ViewState::new(columns, super::color_wanted()),
            status: Status {
                filters,
                ..Status::default()
            },
            frozen: None,
            frozen_lookups: None,
            last_draw: None,
            dirty: true,
            rate_mark: (Instant::now(), 0),
        })
    }

    /// Starts on the lookups view (--lookups).
    pub fn show_lookups(&mut self) {
        self.state.view = super::View::Lookups;
        self.state.sort = 0;
    }

    /// A warning for the status line.
    pub fn warn(&mut self, msg: String) {
        self.status.warning = Some(msg);
        self.dirty = true;
    }

    /// Once a second: the drops so far and the rate of shown transactions.
    pub fn tick(&mut self, drops: u64, shown: u64) {
        self.status.drops = drops;
        let (then, before) = self.rate_mark;
        let secs = then.elapsed().as_secs_f64();
        if secs > 0.0 {
            self.status.rate = (shown - before) as f64 / secs;
        }
        self.rate_mark = (Instant::now(), shown);
    }

    /// Applies the pending keys; true to quit.
    pub fn handle_keys<W: std::io::Write>(&mut self, pipeline: &mut Pipeline<W>) -> Result<bool> {
        for action in super::pending_actions(self.state.help)? {
            self.dirty = true;
            match action {
                Action::Quit => return Ok(true),
                Action::Pause => {
                    self.state.paused = !self.state.paused;
                    self.frozen = self.state.paused.then(|| pipeline.snapshot());
                    self.frozen_lookups = self
                        .state
                        .paused
                        .then(|| pipeline.recent_lookups().cloned());
                }
                Action::NextView => {
                    self.state.view = self.state.view.next();
                    self.state.sort = 0;
                }
                Action::BackendView => {
                    self.state.view = super::View::LatencyByBackend;
                    self.state.sort = 0;
                }
                Action::PodView => {
                    self.state.view = super::View::LatencyByPod;
                    self.state.sort = 0;
                }
                Action::SuspiciousView => {
                    self.state.view = super::View::Suspicious;
                    self.state.sort = 0;
                }
                Action::LookupsView => {
                    self.state.view = super::View::Lookups;
                    self.state.sort = 0;
                }
                Action::NextSort => self.state.sort += 1,
                Action::Reset => pipeline.reset(),
                Action::Help => self.state.help = !self.state.help,
                Action::Redraw => {}
            }
        }
        Ok(false)
    }

    /// Redraws after a key at once, on new data at most every
    /// [`REDRAW_EVERY`], and not while paused.
    pub fn draw<W: std::io::Write>(
        &mut self,
        pipeline: &Pipeline<W>,
        clock: &Clock,
        elapsed: Duration,
    ) -> Result<()> {
        let due = self.last_draw.is_none_or(|t| t.elapsed() >= REDRAW_EVERY);
        let live_update = due && !self.state.paused;
        if !(self.dirty || live_update) {
            return Ok(());
        }
        self.status.elapsed = elapsed;
        let (w, h) = self.screen.size();
        if self.state.view == super::View::Lookups && !self.state.help {
            let lookups = match &self.frozen_lookups {
                Some(frozen) => frozen.as_ref(),
                None => pipeline.recent_lookups(),
            };
            let lines = super::render_lookups(&self.state, lookups, &self.status, clock, w, h);
            self.screen.draw(&lines).context("drawing the table")?;
            self.last_draw = Some(Instant::now());
            self.dirty = false;
            return Ok(());
        }
        let data = match &self.frozen {
            Some(f) => f.table_data(),
            None => pipeline.table_data(),
        };
        let lines = super::render_of(&self.state, &data, &self.status, clock, w, h);
        self.screen.draw(&lines).context("drawing the table")?;
        self.last_draw = Some(Instant::now());
        self.dirty = false;
        Ok(())
    }
}
