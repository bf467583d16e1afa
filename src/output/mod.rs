//! Rendering transactions as aligned text lines and as JSON lines. Both are
//! pure functions of a transaction and a clock, tested without a kernel.
//!
//! - `clock`: the kernel's timestamps as UTC (JSON) and local (text) time;
//! - `text`: the aligned lines, and the cells the live table shares;
//! - `fields`: the JSON record's fields, one table for the JSON lines,
//!   the live table's `--columns`, the man page and the README;
//! - `json`: the kinds of value and how each is written; `escape` and
//!   `ip` the pieces it writes with.

mod clock;
mod escape;
pub mod fields;
mod ip;
mod json;
mod lookup;
#[cfg(test)]
mod tests;
mod text;

pub use clock::{Clock, TimeCache};
pub use fields::JSON_FIELDS;
pub use fields::{json_line, json_line_cached, json_line_of, About};
pub use lookup::{
    lookup_json, lookup_text, lookup_text_header, notes as lookup_notes, LookupField, LOOKUP_FIELDS,
};
pub use text::{
    human_bytes, human_latency, name_cell, process, process_of, server_cell, text_header,
    text_line, text_line_of,
};

/// How transactions are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// The live table, on a terminal.
    Table,
    /// One aligned line per transaction.
    Text,
    /// One JSON object per line.
    Json,
}
