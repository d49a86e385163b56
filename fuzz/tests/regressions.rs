//! Inputs the fuzz targets found crashing, kept as named regression tests (each file under
//! `fuzz/regressions/` is the input libFuzzer wrote, replayed through the same target body).

use std::path::Path;

fn input(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("regressions")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `cargo xtask fuzz --secs 600`, mp4 target (2026-12-01): an `stsc` whose second run has
/// `first_chunk` 0 made the seek table compute `0 - 1` (a panic in builds with overflow
/// checks, a wrap in others) before it refused the table. Now the table is refused.
#[test]
fn mp4_stsc_next_first_chunk_zero_is_refused_without_underflow() {
    let data = input("mp4-stsc-next-first-chunk-zero.bin");
    vstream_fuzz::mp4(&data);
    let info = vstream::media::mp4::read_mp4_info_with(
        &mut std::io::Cursor::new(&data),
        &vstream::media::mp4::Mp4ReadOptions {
            strictness: vstream::media::mp4::Strictness::Strict,
            max_moov_size: 1 << 20,
        },
    );
    assert!(info.is_err(), "a zero first_chunk was accepted: {info:?}");
}
