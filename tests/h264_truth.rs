//! Ground truth: what the H.264 layer finds in each bundled test video equals ffprobe's view
//! (`test_videos/truth/<file>.json`, made by `test_videos/make.sh`).

use std::fs::File;
use std::path::{Path, PathBuf};
use vstream::media::h264::{probe_h264, AccessUnitSplitter};

fn videos() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("test_videos");
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "h264"))
        .collect();
    out.sort();
    assert!(out.len() >= 5, "test videos missing");
    out
}

fn truth(video: &Path) -> serde_json::Value {
    let name = video.file_name().unwrap().to_str().unwrap();
    let path = video
        .parent()
        .unwrap()
        .join("truth")
        .join(format!("{name}.json"));
    serde_json::from_reader(File::open(path).unwrap()).unwrap()
}

#[test]
fn probe_matches_ffprobe_for_every_test_video() {
    for video in videos() {
        let t = truth(&video);
        let info = probe_h264(File::open(&video).unwrap()).unwrap();
        let name = video.display();
        assert_eq!(
            info.frame_count,
            t["frames"].as_u64().unwrap(),
            "{name} frames"
        );
        let keys: Vec<u64> = t["keyframe_indices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        assert_eq!(info.keyframe_indices, keys, "{name} keyframes");
        assert_eq!(
            u64::from(info.stream.width),
            t["width"].as_u64().unwrap(),
            "{name} width"
        );
        assert_eq!(
            u64::from(info.stream.height),
            t["height"].as_u64().unwrap(),
            "{name} height"
        );
        assert_eq!(
            info.frame_rate,
            t["frame_rate"].as_f64().unwrap(),
            "{name} fps"
        );
        assert_eq!(
            info.stream.profile,
            t["profile"].as_str().unwrap(),
            "{name} profile"
        );
        assert_eq!(
            u64::from(info.stream.level_idc),
            t["level"].as_u64().unwrap(),
            "{name} level"
        );
        assert_eq!(info.stats.malformed_nal_units, 0, "{name}");
        assert_eq!(info.stats.parameter_set_errors, 0, "{name}");
        assert_eq!(info.stats.partial_slice_headers, 0, "{name}");
    }
}

#[test]
fn keyframe_access_units_start_at_ffprobe_packet_offsets() {
    for video in videos() {
        let t = truth(&video);
        let data = std::fs::read(&video).unwrap();
        let mut splitter = AccessUnitSplitter::new();
        splitter.push(&data);
        splitter.finish();
        let mut offsets = Vec::new();
        while let Some(unit) = splitter.poll_access_unit() {
            if unit.is_idr() {
                offsets.push(unit.offset);
            }
        }
        let expected: Vec<u64> = t["keyframe_byte_offsets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        assert_eq!(offsets, expected, "{}", video.display());
    }
}

#[test]
fn access_units_partition_every_test_video() {
    for video in videos() {
        let data = std::fs::read(&video).unwrap();
        let mut splitter = AccessUnitSplitter::new();
        splitter.push(&data);
        splitter.finish();
        let mut next = 0;
        while let Some(unit) = splitter.poll_access_unit() {
            assert_eq!(unit.offset, next, "{}", video.display());
            assert!(unit.len > 0);
            next += unit.len;
        }
        assert_eq!(next, data.len() as u64, "{}", video.display());
    }
}

/// The NAL units of `data` as byte ranges `(start, end, header byte, first payload byte)`.
fn nal_ranges(data: &[u8]) -> Vec<(usize, usize, u8, u8)> {
    let mut scanner = vstream::media::h264::annexb::AnnexBScanner::new();
    let mut out = Vec::new();
    let mut on_nal = |n: vstream::media::h264::annexb::NalUnit<'_>| {
        let h = n.prefix.first().copied().unwrap_or(0);
        let p = n.prefix.get(1).copied().unwrap_or(0);
        out.push((n.start as usize, n.end as usize, h, p));
    };
    scanner.push(data, &mut on_nal);
    scanner.finish(&mut on_nal);
    out
}

#[test]
fn a_picture_whose_first_slice_is_lost_is_still_found_by_its_header_fields() {
    // high_slices has 4 slices per picture. Drop the first slice (first_mb_in_slice == 0,
    // i.e. its first payload bit is 1) of every non-IDR picture: each picture now starts
    // with a slice whose first_mb_in_slice != 0, so only frame_num / pic_order_cnt_lsb /
    // nal_ref_idc changes (H.264 7.4.1.2.4) can tell where it begins.
    let data = std::fs::read(
        videos()
            .into_iter()
            .find(|p| p.ends_with("high_slices.h264"))
            .unwrap(),
    )
    .unwrap();
    let mut cut = Vec::new();
    for (start, end, header, payload) in nal_ranges(&data) {
        let first_slice = header & 0x1f == 1 && payload & 0x80 != 0;
        if !first_slice {
            cut.extend_from_slice(&data[start..end]);
        }
    }
    assert!(cut.len() < data.len());
    let info = probe_h264(std::io::Cursor::new(&cut)).unwrap();
    assert_eq!(info.frame_count, 72);
    assert_eq!(info.keyframe_indices, vec![0, 24, 48]);
    assert_eq!(info.stats.partial_slice_headers, 0);
}

#[test]
fn without_parameter_sets_pictures_are_split_on_first_mb_alone() {
    // Strip SPS and PPS: the slice headers' later fields cannot be read, but
    // first_mb_in_slice == 0 still starts each picture.
    let data = std::fs::read(
        videos()
            .into_iter()
            .find(|p| p.ends_with("high_slices.h264"))
            .unwrap(),
    )
    .unwrap();
    let mut cut = Vec::new();
    for (start, end, header, _) in nal_ranges(&data) {
        if !matches!(header & 0x1f, 7 | 8) {
            cut.extend_from_slice(&data[start..end]);
        }
    }
    let err = probe_h264(std::io::Cursor::new(&cut)).unwrap_err();
    assert!(matches!(err, vstream::media::MediaError::InvalidH264(_)));
    let mut splitter = AccessUnitSplitter::new();
    splitter.push(&cut);
    splitter.finish();
    let mut pictures = 0;
    while let Some(unit) = splitter.poll_access_unit() {
        pictures += u32::from(unit.has_picture());
    }
    assert_eq!(pictures, 72);
    assert!(splitter.stats().partial_slice_headers > 0);
}
