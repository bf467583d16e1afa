//! The contract with the kernel program: the record and map types and the
//! kernel's enums, as the skeleton generator wrote them from the object's
//! BTF (src/bpf/dnstrace.h is their source). Only types live here, nothing
//! of libbpf, so that decoding records (and fuzzing it) needs no loader.

#[allow(
    clippy::all,
    clippy::pedantic,
    unused_imports,
    dead_code,
    non_camel_case_types,
    non_snake_case
)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/dnstrace.types.rs"));
}

pub use generated::types::*;

/// One finished transaction as the kernel writes it into the ring buffer.
pub type RawEvent = dt_event;

// SAFETY: dt_event is a C struct of integers and byte arrays: every bit
// pattern is a valid value.
unsafe impl plain::Plain for RawEvent {}

/// How many counters the kernel keeps.
pub const STAT_COUNT: usize = dt_stat::DT_STAT_MAX.0 as usize;

/// Ports and ids the kernel filters on: the sizes of its arrays.
pub const MAX_PORTS: usize = dt_limits::DT_MAX_PORTS.0 as usize;
pub const MAX_IDS: usize = dt_limits::DT_MAX_IDS.0 as usize;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_match_the_kernel() {
        assert_eq!(std::mem::size_of::<RawEvent>(), 480);
        assert_eq!(std::mem::size_of::<dt_key>(), 48);
        assert_eq!(std::mem::size_of::<dt_pending>(), 408);
        // SAFETY: rodata is plain integers; all-zero is a valid value.
        let ro: rodata = unsafe { std::mem::zeroed() };
        assert_eq!(ro.dt_ports.len(), MAX_PORTS);
        assert_eq!(ro.dt_ids.len(), MAX_IDS);
    }
}
