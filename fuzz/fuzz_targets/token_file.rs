//! cargo-fuzz target: see `vstream_fuzz::token_file`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vstream_fuzz::token_file(data));
