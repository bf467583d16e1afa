//! The live table: what it shows (a pure function of the data, rendered to
//! lines of text and tested as such) and the terminal it draws on (raw
//! mode, alternate screen, restored on every exit path).
//!
//! - `view`: the views, their state and sort keys, and `render`, which
//!   turns the data into the lines of a frame;
//! - `lookups`: the lookups view (`l`);
//! - `columns`: the stream view's columns, from `--columns` to cells;
//! - `table`: the layout of rows of cells to the terminal's width;
//! - `keys`: terminal events to `Action`s;
//! - `terminal`: the `Screen` (raw mode, alternate screen, restored by a
//!   guard and a panic hook) and the colour choice;
//! - `controller`: `Live`, which ties them to the pipeline.

mod columns;
mod controller;
mod keys;
mod lookups;
mod table;
mod terminal;
#[cfg(test)]
mod tests;
mod view;

pub use columns::Column;
pub use controller::Live;
pub use keys::{pending_actions, Action};
pub use lookups::render_lookups;
pub use table::shorten;
pub use terminal::{color_wanted, Screen};
pub use view::{render, render_of, stacked_bar, SortKey, Status, View, ViewState};
