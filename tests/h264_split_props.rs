//! Property tests of the access-unit splitter: chunking never changes the output, and no
//! input (random, truncated, structured garbage) makes it or the planner panic.

use proptest::prelude::*;
use std::io::Cursor;
use std::path::Path;
use std::sync::OnceLock;
use vstream::media::h264::{probe_h264, AccessUnit, AccessUnitSplitter, ScanStats, StreamInfo};
use vstream::media::plan::SegmentPlan;
use vstream::media::{FileFormat, SegmentMode};

const FILES: [&str; 5] = ["aud", "baseline", "high_slices", "main_bframes", "novui"];

fn file(i: usize) -> &'static [u8] {
    static DATA: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    let all = DATA.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("test_videos");
        FILES
            .iter()
            .map(|n| std::fs::read(dir.join(format!("{n}.h264"))).unwrap())
            .collect()
    });
    &all[i % all.len()]
}

type Output = (Vec<AccessUnit>, ScanStats, Option<StreamInfo>);

/// Pushes `data` in pieces of the given sizes (cycled), then the rest; collects everything.
fn split(data: &[u8], sizes: &[usize]) -> Output {
    let mut s = AccessUnitSplitter::new();
    let mut units = Vec::new();
    let mut rest = data;
    let mut k = 0;
    while !rest.is_empty() {
        let n = if sizes.is_empty() {
            rest.len()
        } else {
            sizes[k % sizes.len()].clamp(1, rest.len())
        };
        k += 1;
        s.push(&rest[..n]);
        rest = &rest[n..];
        while let Some(u) = s.poll_access_unit() {
            units.push(u);
        }
    }
    s.finish();
    while let Some(u) = s.poll_access_unit() {
        units.push(u);
    }
    (units, s.stats(), s.stream_info().cloned())
}

fn assert_partition(units: &[AccessUnit], len: usize) {
    let mut next = 0;
    for u in units {
        assert_eq!(u.offset, next);
        assert!(u.len > 0);
        next += u.len;
    }
    assert_eq!(next, len as u64);
}

/// Planning in every mode either fails with a typed error or partitions the input.
fn assert_plans_partition(data: &[u8]) {
    for mode in [
        SegmentMode::Frame,
        SegmentMode::Gop,
        SegmentMode::Time,
        SegmentMode::Fixed,
    ] {
        let cursor = Cursor::new(data.to_vec());
        if let Ok(plan) = SegmentPlan::build(cursor, &FileFormat::H264, mode, &Default::default()) {
            let mut next = 0;
            for seg in plan.iter() {
                assert_eq!(seg.offset, next);
                next += seg.len;
            }
            assert_eq!(next, data.len() as u64);
            if let Some(d) = plan.duration() {
                let _ = plan.segment_for_time(d / 2.0);
            }
        }
    }
}

/// Random NAL units with 3- or 4-byte start codes, random headers and payloads.
fn nal_soup() -> impl Strategy<Value = Vec<u8>> {
    let nal = (
        any::<bool>(),
        any::<u8>(),
        proptest::collection::vec(any::<u8>(), 0..40),
    );
    proptest::collection::vec(nal, 0..30).prop_map(|nals| {
        let mut out = Vec::new();
        for (long, header, payload) in nals {
            if long {
                out.push(0);
            }
            out.extend_from_slice(&[0, 0, 1, header]);
            out.extend_from_slice(&payload);
        }
        out
    })
}

#[test]
fn one_byte_pushes_give_the_same_access_units() {
    for i in [2, 4] {
        let data = file(i);
        assert_eq!(split(data, &[1]), split(data, &[]), "{}", FILES[i]);
    }
}

#[test]
fn a_split_at_every_offset_of_a_stream_prefix_gives_the_same_access_units() {
    let data = &file(1)[..4000];
    let whole = split(data, &[]);
    for cut in 1..data.len() {
        assert_eq!(split(data, &[cut, data.len()]), whole, "cut at {cut}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn chunking_never_changes_the_access_units(
        file_index in 0usize..FILES.len(),
        sizes in proptest::collection::vec(prop_oneof![1usize..4, 1usize..64, 1usize..70_000], 1..20),
    ) {
        let data = file(file_index);
        let whole = split(data, &[]);
        let pieces = split(data, &sizes);
        prop_assert_eq!(&pieces, &whole);
        assert_partition(&whole.0, data.len());
    }

    #[test]
    fn random_bytes_never_panic_and_still_partition(
        data in proptest::collection::vec(any::<u8>(), 0..4096),
        sizes in proptest::collection::vec(1usize..300, 1..8),
    ) {
        let whole = split(&data, &[]);
        prop_assert_eq!(&split(&data, &sizes), &whole);
        assert_partition(&whole.0, data.len());
        let _ = probe_h264(Cursor::new(&data));
        assert_plans_partition(&data);
    }

    #[test]
    fn structured_garbage_never_panics_and_still_partitions(
        data in nal_soup(),
        sizes in proptest::collection::vec(1usize..50, 1..8),
    ) {
        let whole = split(&data, &[]);
        prop_assert_eq!(&split(&data, &sizes), &whole);
        assert_partition(&whole.0, data.len());
        let _ = probe_h264(Cursor::new(&data));
        assert_plans_partition(&data);
    }

    #[test]
    fn truncated_and_corrupted_real_files_never_panic(
        file_index in 0usize..FILES.len(),
        cut in 0.0f64..1.0,
        start in 0.0f64..0.3,
        flips in proptest::collection::vec((0.0f64..1.0, any::<u8>()), 0..8),
    ) {
        let full = file(file_index);
        let mut data = full[(start * full.len() as f64) as usize..(cut.max(start) * full.len() as f64) as usize].to_vec();
        for (at, byte) in flips {
            if !data.is_empty() {
                let i = (at * data.len() as f64) as usize % data.len();
                data[i] = byte;
            }
        }
        let whole = split(&data, &[]);
        assert_partition(&whole.0, data.len());
        let _ = probe_h264(Cursor::new(&data));
        assert_plans_partition(&data);
    }
}
