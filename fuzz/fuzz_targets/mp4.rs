//! cargo-fuzz target: see `vstream_fuzz::mp4`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vstream_fuzz::mp4(data));
