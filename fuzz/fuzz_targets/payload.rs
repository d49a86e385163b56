//! cargo-fuzz target: see `vstream_fuzz::payload`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vstream_fuzz::payload(data));
