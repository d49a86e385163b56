//! cargo-fuzz target: see `vstream_fuzz::json_envelope`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vstream_fuzz::json_envelope(data));
