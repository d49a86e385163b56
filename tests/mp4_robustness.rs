//! The MP4 reader on hostile input: random bytes, truncated files and corrupted `moov`
//! boxes never panic; each gives a typed error or a result.

use proptest::prelude::*;
use std::io::Cursor;
use std::path::Path;
use vstream::media::mp4::{read_mp4_info_with, Mp4ReadOptions, Strictness};
use vstream::media::MediaError;

fn av_mp4() -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("test_videos/av.mp4");
    std::fs::read(path).expect("av.mp4")
}

/// Where av.mp4's moov starts (it is at the end of the file).
fn moov_start(data: &[u8]) -> usize {
    data.windows(4).rposition(|w| w == b"moov").expect("moov") - 4
}

fn both_strictness(data: &[u8]) {
    for strictness in [Strictness::Strict, Strictness::Lenient] {
        let options = Mp4ReadOptions {
            strictness,
            ..Mp4ReadOptions::default()
        };
        match read_mp4_info_with(&mut Cursor::new(data), &options) {
            Ok(info) => {
                // A result must at least be internally consistent.
                assert!(info
                    .sync_samples
                    .windows(2)
                    .all(|w| w[0].byte_offset <= w[1].byte_offset || w[0].time <= w[1].time));
            }
            Err(e) => {
                assert!(matches!(
                    e,
                    MediaError::InvalidMp4(_) | MediaError::MalformedBox { .. } | MediaError::Io(_)
                ));
                assert_eq!(e.status_code() == 1001, !matches!(e, MediaError::Io(_)));
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..4096)) {
        both_strictness(&data);
    }

    #[test]
    fn random_boxes_never_panic(
        boxes in proptest::collection::vec(
            (prop_oneof![Just(*b"moov"), Just(*b"trak"), Just(*b"mdat"), Just(*b"free")],
             proptest::collection::vec(any::<u8>(), 0..512)),
            0..6)
    ) {
        let mut data = Vec::new();
        for (kind, body) in boxes {
            data.extend_from_slice(&(body.len() as u32 + 8).to_be_bytes());
            data.extend_from_slice(&kind);
            data.extend_from_slice(&body);
        }
        both_strictness(&data);
    }

    #[test]
    fn truncated_av_mp4_never_panics(cut in 0usize..649_476) {
        let data = av_mp4();
        let cut = cut.min(data.len());
        both_strictness(&data[..cut]);
    }

    #[test]
    fn corrupted_moov_never_panics(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)
    ) {
        let mut data = av_mp4();
        let start = moov_start(&data);
        let len = data.len() - start;
        for (index, value) in flips {
            data[start + index.index(len)] = value;
        }
        both_strictness(&data);
    }

    #[test]
    fn corrupted_sample_table_counts_never_panic(
        which in 0usize..16, value in any::<u32>()
    ) {
        // Overwrite the entry_count (or sample_size) of one of the sample table boxes.
        let mut data = av_mp4();
        let start = moov_start(&data);
        let kinds: [&[u8; 4]; 8] =
            [b"stts", b"stss", b"ctts", b"stsc", b"stsz", b"stco", b"elst", b"stsd"];
        let kind = kinds[which % kinds.len()];
        let mut hits: Vec<usize> = data[start..]
            .windows(4)
            .enumerate()
            .filter(|(_, w)| *w == kind)
            .map(|(i, _)| start + i)
            .collect();
        if which >= kinds.len() {
            hits.reverse(); // the audio track's box
        }
        if let Some(&at) = hits.first() {
            let field = at + 8 + if *kind == *b"stsz" && which % 2 == 0 { 4 } else { 0 };
            data[field..field + 4].copy_from_slice(&value.to_be_bytes());
        }
        both_strictness(&data);
    }
}

#[test]
fn a_non_mp4_file_is_invalid_mp4_not_a_panic() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("test_videos/data.bin");
    let data = std::fs::read(path).unwrap();
    let err = read_mp4_info_with(&mut Cursor::new(&data), &Mp4ReadOptions::default()).unwrap_err();
    assert_eq!(err.status_code(), 1001);
}

#[test]
fn a_moov_over_the_size_limit_is_refused() {
    let options = Mp4ReadOptions {
        max_moov_size: 1024,
        ..Mp4ReadOptions::default()
    };
    let err = read_mp4_info_with(&mut Cursor::new(av_mp4()), &options).unwrap_err();
    assert!(matches!(err, MediaError::InvalidMp4(_)));
}

#[test]
fn strict_refuses_trailing_bytes_in_a_box_that_lenient_accepts() {
    // Grow the video mdhd by 4 bytes: insert them at its end and fix every enclosing size.
    let mut data = av_mp4();
    let start = moov_start(&data);
    let mdhd = start + data[start..].windows(4).position(|w| w == b"mdhd").unwrap() - 4;
    let mdhd_size = u32::from_be_bytes(data[mdhd..mdhd + 4].try_into().unwrap()) as usize;
    data.splice(mdhd + mdhd_size..mdhd + mdhd_size, [0u8; 4]);
    for kind in [b"mdhd", b"mdia", b"trak", b"moov"] {
        let at = start + data[start..].windows(4).position(|w| w == kind).unwrap() - 4;
        let size = u32::from_be_bytes(data[at..at + 4].try_into().unwrap());
        data[at..at + 4].copy_from_slice(&(size + 4).to_be_bytes());
    }
    let strict = Mp4ReadOptions {
        strictness: Strictness::Strict,
        ..Mp4ReadOptions::default()
    };
    let err = read_mp4_info_with(&mut Cursor::new(&data), &strict).unwrap_err();
    assert!(matches!(err, MediaError::MalformedBox { ref kind, .. } if kind == "mdhd"));
    let lenient = read_mp4_info_with(&mut Cursor::new(&data), &Mp4ReadOptions::default());
    assert_eq!(lenient.unwrap().video.unwrap().frame_count, 180);
}

/// Found by `corrupted_moov_never_panics` in CI: two bytes of av.mp4's moov changed gave
/// sync samples out of order in both time and byte offset.
#[test]
fn sync_samples_stay_in_time_order_whatever_the_tables_say() {
    let mut data = av_mp4();
    let start = moov_start(&data);
    let len = data.len() - start;
    let at = |raw: u64| ((len as u128 * raw as u128) >> 64) as usize;
    data[start + at(7_153_537_116_950_302_916)] = 1;
    data[start + at(1_458_852_487_456_750_300)] = 0;
    both_strictness(&data);
}
