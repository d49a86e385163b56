//! Access units by H.264 §7.4.1.2.4 on streams FFmpeg cannot split itself (D70): arbitrary
//! slice order and redundant pictures (`test_videos/slices/`, made by
//! `test_videos/slice_streams.py` from a Baseline 4-slice stream), and an SPS whose level is
//! too small for its picture size (D71). The truth of the slice streams is their source's
//! ffprobe view: the generator keeps every picture, in order.

use std::fs::File;
use std::path::{Path, PathBuf};
use vstream::media::h264::{probe_h264, AccessUnitSplitter};

fn videos() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("test_videos")
}

fn truth(name: &str) -> serde_json::Value {
    let path = videos().join("slices").join(format!("{name}.json"));
    serde_json::from_reader(File::open(path).unwrap()).unwrap()
}

fn keys(t: &serde_json::Value) -> Vec<u64> {
    let list = t["keyframe_indices"].as_array().unwrap();
    list.iter().map(|v| v.as_u64().unwrap()).collect()
}

/// Access units of `data` pushed in chunks of `chunk` bytes: (has_picture, is_idr) each.
fn units(data: &[u8], chunk: usize) -> Vec<(bool, bool)> {
    let mut splitter = AccessUnitSplitter::new();
    let mut out = Vec::new();
    for piece in data.chunks(chunk) {
        splitter.push(piece);
        while let Some(u) = splitter.poll_access_unit() {
            out.push((u.has_picture(), u.is_idr()));
        }
    }
    splitter.finish();
    while let Some(u) = splitter.poll_access_unit() {
        out.push((u.has_picture(), u.is_idr()));
    }
    out
}

#[test]
fn arbitrary_slice_order_groups_each_picture_into_one_access_unit() {
    let path = videos().join("slices/aso.h264");
    let t = truth("aso.h264");
    let info = probe_h264(File::open(&path).unwrap()).unwrap();
    assert_eq!(info.frame_count, t["frames"].as_u64().unwrap());
    assert_eq!(info.keyframe_indices, keys(&t));
    assert_eq!(u64::from(info.stream.width), t["width"].as_u64().unwrap());
    assert_eq!(info.stream.profile, "Baseline");
    assert_eq!(info.stats.partial_slice_headers, 0);
    // The first slice of every picture starts at the last slice's macroblock, not 0.
    let data = std::fs::read(&path).unwrap();
    for chunk in [1, 7, 4096, data.len()] {
        let got = units(&data, chunk);
        assert_eq!(
            got.len() as u64,
            t["frames"].as_u64().unwrap(),
            "chunk {chunk}"
        );
        assert!(got.iter().all(|u| u.0), "chunk {chunk}");
    }
}

#[test]
fn redundant_pictures_stay_in_their_primary_pictures_access_unit() {
    let path = videos().join("slices/redundant.h264");
    let t = truth("redundant.h264");
    let info = probe_h264(File::open(&path).unwrap()).unwrap();
    assert_eq!(info.frame_count, t["frames"].as_u64().unwrap());
    assert_eq!(info.keyframe_indices, keys(&t));
    // One redundant slice per picture, each counted and none starting a picture.
    assert_eq!(info.stats.redundant_slices, info.frame_count);
    assert_eq!(info.stats.partial_slice_headers, 0);
}

#[test]
fn an_sps_above_its_level_keeps_its_values_and_is_counted() {
    let path = videos().join("low_level.h264");
    let info = probe_h264(File::open(&path).unwrap()).unwrap();
    assert_eq!((info.stream.width, info.stream.height), (320, 240));
    assert_eq!(info.stream.level_idc, 10);
    assert_eq!(info.stream.level, "1.0");
    assert_eq!(info.stream.profile, "Constrained Baseline");
    assert_eq!(info.frame_count, 100);
    assert!(info.stats.level_exceeded_sps > 0);
    assert_eq!(info.stats.parameter_set_errors, 0);
}
