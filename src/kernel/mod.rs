//! The kernel interface, the bottom of the house: the ABI shared with the
//! kernel program (record and map types, enums, counters), and, with the
//! `tracer` feature, the preflight checks and the loader that runs it.
//! Nothing here knows the command line or what becomes of a record.

pub mod abi;
pub mod counters;
#[cfg(feature = "tracer")]
pub mod loader;
#[cfg(feature = "tracer")]
pub mod preflight;

pub use counters::{Counters, Stat};

/// What the kernel program filters on before a record crosses to user
/// space: the read-only settings written before load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelFilter {
    /// DNS ports, 53 first; at most [`abi::MAX_PORTS`].
    pub ports: Vec<u16>,
    /// DNS ids; empty for all; at most [`abi::MAX_IDS`].
    pub ids: Vec<u16>,
    /// Answered transactions faster than this are not reported.
    pub min_latency_ns: u64,
    /// Bit n: header rcode n; and the bits of [`RcodeBit`].
    pub rcode_mask: u32,
}

/// The bits of the rcode mask beyond the 16 header rcodes.
pub struct RcodeBit;

impl RcodeBit {
    /// An unanswered query.
    pub const TIMEOUT: u32 = abi::dt_rcode_bit::DT_RCODE_TIMEOUT_BIT.0;
    /// An encrypted (DoT, DoQ) connection.
    pub const ENCRYPTED: u32 = abi::dt_rcode_bit::DT_RCODE_ENCRYPTED_BIT.0;
    /// A query failed by an ICMP destination unreachable.
    pub const UNREACHABLE: u32 = abi::dt_rcode_bit::DT_RCODE_UNREACHABLE_BIT.0;
}
