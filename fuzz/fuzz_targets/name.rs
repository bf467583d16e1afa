//! A wire-format name as it comes off the network, turned into its escaped
//! presentation form. The properties are in ../checks.rs.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks.rs"]
#[allow(dead_code)]
mod checks;

fuzz_target!(|data: &[u8]| checks::name(data));
