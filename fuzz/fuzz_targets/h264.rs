//! cargo-fuzz target: see `vstream_fuzz::h264`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vstream_fuzz::h264(data));
