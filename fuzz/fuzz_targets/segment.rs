//! cargo-fuzz target: see `vstream_fuzz::segment`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vstream_fuzz::segment(data));
