//! Field pictures (D79): the two fields of a frame (PAFF) are one access unit and one frame,
//! as ffprobe counts decoded frames (its parser's packets are fields), in the plan, in
//! `probe_h264` and in the fragmented MP4 (one sample per frame). Streams:
//! `test_videos/fields/` (made by `test_videos/field_streams.py`; with and without access
//! unit delimiters). Needs ffmpeg and ffprobe.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use vstream::media::fmp4::{Fmp4Options, H264Fmp4Muxer};
use vstream::media::h264::{probe_h264, AccessUnitSplitter};
use vstream::media::plan::{PlanOptions, SegmentPlan};
use vstream::media::{FileFormat, SegmentMode};

fn streams() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("test_videos/fields");
    ["paff.h264", "paff-aud.h264"]
        .iter()
        .map(|n| dir.join(n))
        .collect()
}

/// ffprobe's decoded frames of `path`: (count, 0-based indices of key frames).
fn ffprobe_frames(path: &Path, format: &[&str]) -> (u64, Vec<u64>) {
    let out = Command::new("ffprobe")
        .args(["-v", "error"])
        .args(format)
        .args(["-select_streams", "v:0", "-show_entries", "frame=key_frame"])
        .args(["-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe (apt-get install ffmpeg)");
    let errors = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && errors.trim().is_empty(), "{errors}");
    let flags: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().trim_end_matches(',').to_string())
        .filter(|l| !l.is_empty())
        .collect();
    let keys = (flags.iter().enumerate())
        .filter(|(_, f)| f.as_str() == "1")
        .map(|(i, _)| i as u64)
        .collect();
    (flags.len() as u64, keys)
}

#[test]
fn two_fields_are_one_access_unit_and_one_frame_as_ffprobe_decodes_them() {
    for path in streams() {
        let name = path.display();
        let (frames, keys) = ffprobe_frames(&path, &[]);
        assert_eq!((frames, keys.as_slice()), (30, &[0, 10, 20][..]), "{name}");
        let info = probe_h264(File::open(&path).unwrap()).unwrap();
        assert_eq!(info.frame_count, frames, "{name}");
        assert_eq!(info.keyframe_indices, keys, "{name}");
        assert_eq!(info.stats.field_pairs, 30, "{name}");
        assert_eq!((info.stream.width, info.stream.height), (64, 64), "{name}");
        assert_eq!(info.frame_rate, 25.0, "{name}");
        // Units still partition the stream.
        let data = std::fs::read(&path).unwrap();
        let mut splitter = AccessUnitSplitter::new();
        splitter.push(&data);
        splitter.finish();
        let mut next = 0;
        while let Some(unit) = splitter.poll_access_unit() {
            assert_eq!(unit.offset, next, "{name}");
            next += unit.len;
        }
        assert_eq!(next, data.len() as u64, "{name}");
        // Frame mode sends a frame (both fields) per segment.
        let plan = SegmentPlan::build(
            File::open(&path).unwrap(),
            &FileFormat::H264,
            SegmentMode::Frame,
            &PlanOptions::default(),
        )
        .unwrap();
        assert_eq!(plan.len(), 30, "{name}");
    }
}

#[test]
fn a_field_stream_muxed_to_mp4_plays_with_its_frame_count_and_no_error() {
    for path in streams() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("fields.mp4");
        let file = std::io::BufWriter::new(File::create(&out).unwrap());
        let mut muxer = H264Fmp4Muxer::new(file, Fmp4Options::default());
        muxer.push(&std::fs::read(&path).unwrap()).unwrap();
        let (_, stats) = muxer.finish().unwrap();
        assert_eq!(stats.samples, 30, "{}", path.display());
        let decode = Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(&out)
            .args(["-f", "null", "-"])
            .output()
            .unwrap();
        let errors = String::from_utf8_lossy(&decode.stderr);
        assert!(
            decode.status.success() && errors.trim().is_empty(),
            "{errors}"
        );
        let (frames, keys) = ffprobe_frames(&out, &[]);
        assert_eq!((frames, keys), (30, vec![0, 10, 20]), "{}", path.display());
    }
}

/// FFmpeg's decoded pictures of `path`, in presentation order, as MD5 sums.
fn picture_hashes(path: &Path) -> Vec<String> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-f", "framemd5", "-"])
        .output()
        .unwrap();
    let errors = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && errors.trim().is_empty(), "{errors}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit(',').next().map(|h| h.trim().to_string()))
        .collect()
}

/// POC type 1 (8.2.1.2): the MP4's composition offsets put the pictures in the order the
/// expected counts give (decode order 0, 4, 2, 8, 6, ...), the order FFmpeg presents the
/// raw stream in; before D79 the muxer presented type 1 in decode order.
#[test]
fn poc_type_1_pictures_play_from_the_mp4_in_the_streams_presentation_order() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("test_videos/fields/poc1.h264");
    let source = picture_hashes(&path);
    assert_eq!(source.len(), 31);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("poc1.mp4");
    let file = std::io::BufWriter::new(File::create(&out).unwrap());
    let mut muxer = H264Fmp4Muxer::new(file, Fmp4Options::default());
    muxer.push(&std::fs::read(&path).unwrap()).unwrap();
    muxer.finish().unwrap();
    assert_eq!(picture_hashes(&out), source);
}
