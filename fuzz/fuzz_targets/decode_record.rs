//! A ring-buffer record from the kernel, decoded and rendered every way the
//! tool prints one. The properties are in ../checks.rs.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks.rs"]
#[allow(dead_code)]
mod checks;

fuzz_target!(|data: &[u8]| checks::decode_record(data));
