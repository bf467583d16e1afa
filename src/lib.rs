//! dnstrace as a library: the kernel program's loader and the pure parts
//! (decoding, filtering, rendering) that the binary, the tests and the
//! fuzzers share.

pub mod aggregate;
pub mod assets;
pub mod bpf;
pub mod cli;
pub mod dns;
pub mod event;
pub mod filter;
#[doc(hidden)]
pub mod fixtures;
pub mod metrics;
pub mod output;
pub mod preflight;
pub mod sink;
pub mod summary;
pub mod tui;
