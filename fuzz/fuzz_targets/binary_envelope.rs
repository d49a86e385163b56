//! cargo-fuzz target: see `vstream_fuzz::binary_envelope`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vstream_fuzz::binary_envelope(data));
