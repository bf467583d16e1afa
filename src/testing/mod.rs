//! Helpers for tests, benchmarks and fuzzers; not part of dnstrace's
//! interface.

#[cfg(test)]
pub(crate) mod alloc;
pub mod fixtures;
