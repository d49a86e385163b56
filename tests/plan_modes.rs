//! Segment plans: every mode partitions the file, and each mode's rules hold on real media.

use std::fs::File;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use vstream::media::plan::{
    resolve_mode, PlanOptions, SegmentPlan, SegmentReader, GOP_MAX_BYTES, GOP_MAX_FRAMES,
};
use vstream::media::{FileFormat, MediaError, SegmentMode};
use vstream::wire::SegmentFlags;

const ALL_MODES: [SegmentMode; 5] = [
    SegmentMode::Frame,
    SegmentMode::Gop,
    SegmentMode::Time,
    SegmentMode::Fixed,
    SegmentMode::Auto,
];

fn video(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("test_videos")
        .join(name)
}

fn h264_videos() -> Vec<PathBuf> {
    ["aud", "baseline", "high_slices", "main_bframes", "novui"]
        .iter()
        .map(|n| video(&format!("{n}.h264")))
        .collect()
}

fn plan(path: &Path, mode: SegmentMode, opts: &PlanOptions) -> Result<SegmentPlan, MediaError> {
    SegmentPlan::build(
        File::open(path).unwrap(),
        &FileFormat::from_path(path),
        mode,
        opts,
    )
}

/// Segments are contiguous from 0 to the file size, and only the last has END_OF_TRANSFER.
fn assert_partition(plan: &SegmentPlan, size: u64, what: &str) {
    let mut next = 0;
    let n = plan.len();
    assert!(n >= 1);
    for (i, seg) in plan.iter().enumerate() {
        assert_eq!(seg.index as usize, i, "{what}");
        assert_eq!(seg.offset, next, "{what} segment {i}");
        let last = i as u32 + 1 == n;
        assert_eq!(
            seg.flags.contains(SegmentFlags::END_OF_TRANSFER),
            last,
            "{what} {i}"
        );
        next += seg.len;
    }
    assert_eq!(next, size, "{what}");
    assert_eq!(plan.iter().count() as u32, n);
    assert!(plan.get(n).is_none());
}

#[test]
fn every_mode_partitions_every_file() {
    let mut files = h264_videos();
    files.push(video("av.mp4"));
    files.push(video("data.bin"));
    for path in files {
        let size = std::fs::metadata(&path).unwrap().len();
        for mode in ALL_MODES {
            let what = format!("{} {mode}", path.display());
            let p = plan(&path, mode, &PlanOptions::default()).expect(&what);
            assert_ne!(p.applied_mode(), SegmentMode::Auto);
            if p.demuxed().is_some() {
                // MP4 frame mode sends samples, not a partition (D77; tests/mp4_frame_mode.rs).
                assert_eq!(
                    (p.applied_mode(), mode),
                    (SegmentMode::Frame, SegmentMode::Frame)
                );
                continue;
            }
            if FileFormat::from_path(&path) != FileFormat::H264 {
                assert_eq!(p.applied_mode(), SegmentMode::Fixed, "{what}");
            }
            assert_eq!(p.file_size(), size);
            assert_partition(&p, size, &what);
        }
    }
}

#[test]
fn frame_mode_segments_concatenate_to_the_file() {
    for path in h264_videos() {
        let data = std::fs::read(&path).unwrap();
        let p = plan(&path, SegmentMode::Frame, &PlanOptions::default()).unwrap();
        let mut reader = SegmentReader::new(File::open(&path).unwrap());
        let mut joined = Vec::new();
        // Read out of order too: the reader seeks.
        for i in (0..p.len()).rev() {
            reader.read(&p.get(i).unwrap()).unwrap();
        }
        for seg in p.iter() {
            joined.extend_from_slice(reader.read(&seg).unwrap());
        }
        assert_eq!(joined, data, "{}", path.display());
    }
}

#[test]
fn frame_mode_has_one_access_unit_per_segment_with_decode_order_timestamps() {
    let path = video("main_bframes.h264");
    let p = plan(&path, SegmentMode::Frame, &PlanOptions::default()).unwrap();
    assert_eq!(p.len(), 300);
    assert_eq!(p.frame_count(), Some(300));
    assert_eq!(p.keyframe_indices(), &[0, 60, 120, 180, 240]);
    assert_eq!(p.duration(), Some(10.0));
    assert_eq!(p.segment_size(), None);
    for seg in p.iter() {
        assert_eq!(seg.frame_count, 1);
        assert!((seg.timestamp - f64::from(seg.index) / 30.0).abs() < 1e-12);
        assert!((seg.duration - 1.0 / 30.0).abs() < 1e-12);
        let idr = seg.index % 60 == 0;
        assert_eq!(
            seg.flags
                .contains(SegmentFlags::KEYFRAME | SegmentFlags::IDR),
            idr
        );
        if seg.index == 0 {
            assert!(seg.flags.contains(SegmentFlags::SPS | SegmentFlags::PPS));
        }
        if seg.flags.contains(SegmentFlags::SPS) {
            assert!(idr, "parameter sets only before IDRs in this file");
        }
        let ft = seg.frame_type.unwrap().name();
        assert_eq!(ft == "KEY", idr, "segment {}", seg.index);
    }
    let types: Vec<&str> = p.iter().map(|s| s.frame_type.unwrap().name()).collect();
    assert!(types.contains(&"B") && types.contains(&"P"));
}

#[test]
fn gop_mode_starts_at_idrs_and_respects_the_limits() {
    for path in h264_videos() {
        let p = plan(&path, SegmentMode::Gop, &PlanOptions::default()).unwrap();
        let keys = p.keyframe_indices().to_vec();
        let mut first_unit = 0u64;
        for seg in p.iter() {
            assert!(seg.frame_count <= GOP_MAX_FRAMES);
            assert!(seg.len <= GOP_MAX_BYTES || seg.frame_count == 1);
            // No IDR inside a segment, only at its start.
            let inside = first_unit + 1..first_unit + u64::from(seg.frame_count);
            assert!(
                !keys.iter().any(|k| inside.contains(k)),
                "{}",
                path.display()
            );
            assert_eq!(
                seg.flags.contains(SegmentFlags::KEYFRAME),
                keys.contains(&first_unit)
            );
            first_unit += u64::from(seg.frame_count);
        }
        assert_eq!(Some(first_unit), p.frame_count());
    }
}

#[test]
fn time_mode_cuts_about_one_second_preferring_idrs() {
    // baseline: 25 fps, IDR every 25 frames: exactly one GOP per second.
    let p = plan(
        &video("baseline.h264"),
        SegmentMode::Time,
        &PlanOptions::default(),
    )
    .unwrap();
    let counts: Vec<u32> = p.iter().map(|s| s.frame_count).collect();
    assert_eq!(counts, vec![25, 25, 25, 25]);
    assert!(p.iter().all(|s| s.flags.contains(SegmentFlags::KEYFRAME)));
    assert!((p.get(2).unwrap().timestamp - 2.0).abs() < 1e-12);
    // aud: 25 fps, IDR every 10 frames: runs end at the IDR past half a second.
    let p = plan(
        &video("aud.h264"),
        SegmentMode::Time,
        &PlanOptions::default(),
    )
    .unwrap();
    let counts: Vec<u32> = p.iter().map(|s| s.frame_count).collect();
    assert_eq!(counts, vec![20, 20, 10]);
    // Half-second segments of main_bframes (30 fps): 15 frames each.
    let opts = PlanOptions {
        time_segment_secs: 0.5,
        ..PlanOptions::default()
    };
    let p = plan(&video("main_bframes.h264"), SegmentMode::Time, &opts).unwrap();
    assert_eq!(p.len(), 20);
    assert!(p
        .iter()
        .all(|s| s.frame_count == 15 && (s.duration - 0.5).abs() < 1e-12));
}

#[test]
fn auto_mode_follows_the_bandwidth_rule() {
    let h264 = FileFormat::H264;
    let mp4 = FileFormat::Mp4;
    let other = FileFormat::Other("bin".into());
    let auto = SegmentMode::Auto;
    let mbps = |n: u64| Some(n * 1_000_000);
    assert_eq!(
        resolve_mode(&h264, auto, mbps(20)).unwrap(),
        (SegmentMode::Frame, None)
    );
    assert_eq!(
        resolve_mode(&h264, auto, mbps(10)).unwrap(),
        (SegmentMode::Gop, None)
    );
    assert_eq!(
        resolve_mode(&h264, auto, None).unwrap(),
        (SegmentMode::Frame, None)
    );
    let fixed = |kib: u64| (SegmentMode::Fixed, Some(kib * 1024));
    assert_eq!(resolve_mode(&mp4, auto, mbps(60)).unwrap(), fixed(512));
    assert_eq!(resolve_mode(&mp4, auto, mbps(50)).unwrap(), fixed(256));
    assert_eq!(resolve_mode(&mp4, auto, mbps(10)).unwrap(), fixed(128));
    assert_eq!(resolve_mode(&mp4, auto, None).unwrap(), fixed(256));
    assert_eq!(
        resolve_mode(&mp4, SegmentMode::Fixed, mbps(60)).unwrap(),
        fixed(256)
    );
    assert_eq!(resolve_mode(&other, auto, mbps(60)).unwrap(), fixed(512));
    assert_eq!(
        resolve_mode(&h264, SegmentMode::Fixed, None).unwrap(),
        fixed(256)
    );
    // The specification cuts MP4 and other files into fixed chunks whatever is asked; frame
    // mode on an MP4 demuxes its samples when the plan can read them (D77).
    for mode in [SegmentMode::Gop, SegmentMode::Time] {
        assert_eq!(resolve_mode(&mp4, mode, None).unwrap(), fixed(256));
    }
    for mode in [SegmentMode::Frame, SegmentMode::Gop, SegmentMode::Time] {
        assert_eq!(resolve_mode(&other, mode, mbps(60)).unwrap(), fixed(512));
    }
    assert_eq!(
        resolve_mode(&mp4, SegmentMode::Frame, None).unwrap(),
        (SegmentMode::Frame, None)
    );
}

#[test]
fn fixed_chunks_share_the_mp4_duration_and_seek_to_sync_samples() {
    let path = video("av.mp4");
    let size = std::fs::metadata(&path).unwrap().len();
    let opts = PlanOptions {
        mp4_duration: Some(6.0),
        mp4_sync_samples: vec![(0.0, 48), (1.0, 102121), (2.0, 207326), (3.0, 319386)],
        ..PlanOptions::default()
    };
    let p = plan(&path, SegmentMode::Fixed, &opts).unwrap();
    assert_eq!(p.segment_size(), Some(256 * 1024));
    assert_eq!(p.len() as u64, size.div_ceil(256 * 1024));
    for seg in p.iter() {
        assert_eq!(seg.frame_count, 0);
        assert!(seg.frame_type.is_none());
        let expect = seg.offset as f64 / size as f64 * 6.0;
        assert!((seg.timestamp - expect).abs() < 1e-9);
        assert!((seg.duration - seg.len as f64 / size as f64 * 6.0).abs() < 1e-9);
        let end_only = seg.index + 1 == p.len();
        assert_eq!(seg.flags.bits(), if end_only { 0x10 } else { 0 });
    }
    assert_eq!(p.segment_for_time(0.5), Some(0));
    assert_eq!(
        p.segment_for_time(2.5),
        Some((207326 / (256 * 1024)) as u32)
    );
    assert_eq!(p.segment_for_time(3.5), Some(1));
    assert_eq!(p.segment_for_time(6.5), None);
    assert_eq!(p.segment_for_time(-1.0), None);
    // Without MP4 metadata there is no time axis.
    let p = plan(&path, SegmentMode::Fixed, &PlanOptions::default()).unwrap();
    assert_eq!(p.segment_for_time(0.0), None);
    assert!(p.iter().all(|s| s.timestamp == 0.0 && s.duration == 0.0));
}

#[test]
fn seeks_restart_at_the_idr_at_or_before_the_target() {
    let path = video("main_bframes.h264");
    let frame = plan(&path, SegmentMode::Frame, &PlanOptions::default()).unwrap();
    assert_eq!(frame.segment_for_time(0.0), Some(0));
    assert_eq!(frame.segment_for_time(1.99), Some(0));
    assert_eq!(frame.segment_for_time(2.0), Some(60));
    assert_eq!(frame.segment_for_time(9.99), Some(240));
    assert_eq!(frame.segment_for_time(10.5), None);
    let gop = plan(&path, SegmentMode::Gop, &PlanOptions::default()).unwrap();
    let s = gop.segment_for_time(4.5).unwrap();
    let seg = gop.get(s).unwrap();
    assert!(seg.flags.contains(SegmentFlags::IDR));
    assert!((seg.timestamp - 4.0).abs() < 1e-9);
    let fixed = plan(&path, SegmentMode::Fixed, &PlanOptions::default()).unwrap();
    assert_eq!(
        fixed.segment_for_time(2.5),
        Some((151840 / (256 * 1024)) as u32)
    );
    let data = plan(
        &video("data.bin"),
        SegmentMode::Auto,
        &PlanOptions::default(),
    )
    .unwrap();
    assert_eq!(data.segment_for_time(0.0), None);
}

#[test]
fn an_empty_file_is_one_empty_last_segment_in_every_format() {
    for format in [
        FileFormat::H264,
        FileFormat::Mp4,
        FileFormat::Other(String::new()),
    ] {
        for mode in ALL_MODES {
            let Ok(p) =
                SegmentPlan::build(Cursor::new(Vec::new()), &format, mode, &Default::default())
            else {
                assert_ne!(format, FileFormat::H264);
                continue;
            };
            assert_eq!(p.len(), 1);
            let seg = p.get(0).unwrap();
            assert_eq!((seg.offset, seg.len, seg.frame_count), (0, 0, 0));
            assert_eq!(seg.flags, SegmentFlags::END_OF_TRANSFER);
        }
    }
}

#[test]
fn an_h264_file_without_pictures_is_refused_except_in_fixed_mode() {
    let junk = Cursor::new(vec![7u8; 1000]);
    let err = SegmentPlan::build(
        junk.clone(),
        &FileFormat::H264,
        SegmentMode::Frame,
        &Default::default(),
    )
    .unwrap_err();
    assert!(matches!(err, MediaError::InvalidH264(_)));
    let p = SegmentPlan::build(
        junk,
        &FileFormat::H264,
        SegmentMode::Fixed,
        &Default::default(),
    )
    .unwrap();
    assert_eq!(p.len(), 1);
    assert_eq!(p.duration(), None);
}
