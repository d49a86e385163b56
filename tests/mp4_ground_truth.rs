//! The MP4 reader against ffprobe's view of `test_videos/av.mp4` (truth/*.json).

use serde_json::Value;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use vstream::media::mp4::{read_mp4_info, read_mp4_info_with, Mp4Info, Mp4ReadOptions, Strictness};

fn media(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("test_videos")
        .join(name)
}

fn truth(name: &str) -> Value {
    let text = std::fs::read_to_string(media("truth").join(name)).expect("truth file");
    serde_json::from_str(&text).expect("truth json")
}

fn read(path: &Path) -> Mp4Info {
    let mut reader = BufReader::new(File::open(path).expect("open"));
    read_mp4_info(&mut reader).expect("read_mp4_info")
}

/// Parses ffprobe's numeric strings ("6.000000", "865968").
fn num(v: &Value) -> f64 {
    v.as_str().map_or_else(
        || v.as_f64().expect("number"),
        |s| s.parse().expect("numeric"),
    )
}

/// Every field ffprobe reports, for a file laid out like av.mp4 (or its faststart twin).
fn assert_matches_truth(info: &Mp4Info, file_size: u64, offset_shift: u64) {
    let frames = truth("av.mp4.json");
    let format = truth("av.mp4.format.json");
    let streams = format["streams"].as_array().unwrap();
    let (v, a) = (&streams[0], &streams[1]);

    // Duration: within 1 ms of ffprobe's format duration.
    assert!((info.duration - num(&format["format"]["duration"])).abs() < 1e-3);
    // Bit rate: ffprobe's format bit_rate is size * 8 / duration; we allow 0.1 %.
    let expected = file_size as f64 * 8.0 / num(&format["format"]["duration"]);
    let got = info.bit_rate.expect("bit rate") as f64;
    assert!(
        (got - expected).abs() <= expected * 1e-3,
        "{got} vs {expected}"
    );

    let video = info.video.as_ref().expect("video track");
    assert_eq!(u64::from(video.width), frames["width"].as_u64().unwrap());
    assert_eq!(u64::from(video.height), frames["height"].as_u64().unwrap());
    assert_eq!(video.codec, "H.264");
    assert_eq!(v["codec_name"], "h264");
    let fps = frames["frame_rate"].as_f64().unwrap();
    assert!((video.frame_rate.unwrap() - fps).abs() < 1e-6);
    assert_eq!(video.frame_count, frames["frames"].as_u64().unwrap());
    assert_eq!(video.profile.as_deref(), frames["profile"].as_str());
    let level = frames["level"].as_u64().unwrap();
    assert_eq!(
        video.level.clone().unwrap(),
        format!("{}.{}", level / 10, level % 10)
    );

    let audio = info.audio.as_ref().expect("audio track");
    assert_eq!(audio.codec, "AAC");
    assert_eq!(a["codec_name"], "aac");
    assert_eq!(f64::from(audio.sample_rate), num(&a["sample_rate"]));
    assert_eq!(u64::from(audio.channels), a["channels"].as_u64().unwrap());

    // Sync samples: byte offsets exactly as ffprobe's packet positions; times = index / fps.
    let offsets: Vec<u64> = info.sync_samples.iter().map(|s| s.byte_offset).collect();
    let expected: Vec<u64> = frames["keyframe_byte_offsets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_u64().unwrap() + offset_shift)
        .collect();
    assert_eq!(offsets, expected);
    let indices = frames["keyframe_indices"].as_array().unwrap();
    assert_eq!(info.sync_samples.len(), indices.len());
    for (sample, index) in info.sync_samples.iter().zip(indices) {
        let want = index.as_f64().unwrap() / fps;
        assert!(
            (sample.time - want).abs() < 1e-6,
            "{} vs {want}",
            sample.time
        );
    }
}

#[test]
fn av_mp4_matches_ffprobe() {
    let path = media("av.mp4");
    let size = std::fs::metadata(&path).unwrap().len();
    assert_matches_truth(&read(&path), size, 0);
}

#[test]
fn bit_rate_equals_ffprobe_format_bit_rate_exactly_for_av_mp4() {
    let info = read(&media("av.mp4"));
    let format = truth("av.mp4.format.json");
    assert_eq!(
        info.bit_rate.unwrap() as f64,
        num(&format["format"]["bit_rate"])
    );
}

#[test]
fn strict_and_lenient_agree_on_a_well_formed_file() {
    let path = media("av.mp4");
    let strict = Mp4ReadOptions {
        strictness: Strictness::Strict,
        ..Mp4ReadOptions::default()
    };
    let mut reader = BufReader::new(File::open(&path).unwrap());
    let strict_info = read_mp4_info_with(&mut reader, &strict).expect("strict read");
    assert_eq!(strict_info, read(&path));
}

#[test]
fn to_media_info_carries_every_field() {
    let info = read(&media("av.mp4")).to_media_info();
    assert_eq!(info.width, Some(640));
    assert_eq!(info.height, Some(360));
    assert_eq!(info.video_codec.as_deref(), Some("H.264"));
    assert_eq!(info.audio_codec.as_deref(), Some("AAC"));
    assert_eq!(info.audio_sample_rate, Some(48_000));
    assert_eq!(info.audio_channels, Some(2));
    assert_eq!(info.profile.as_deref(), Some("Main"));
    assert_eq!(info.level.as_deref(), Some("3.0"));
    assert_eq!(info.frame_rate, Some(30.0));
    assert_eq!(info.bit_rate, Some(865_968));
    assert!((info.duration.unwrap() - 6.0).abs() < 1e-3);
}

#[test]
fn seek_lookup_finds_the_sync_sample_at_or_before() {
    let info = read(&media("av.mp4"));
    assert_eq!(info.sync_sample_at_or_before(0.0).unwrap().byte_offset, 48);
    assert_eq!(info.sync_sample_at_or_before(1.5).unwrap().time, 1.0);
    assert_eq!(info.sync_sample_at_or_before(2.0).unwrap().time, 2.0);
    assert_eq!(info.sync_sample_at_or_before(-1.0).unwrap().time, 0.0);
    assert_eq!(info.sync_sample_at_or_before(99.0).unwrap().time, 5.0);
}

/// A faststart copy (moov before mdat) made with ffmpeg at test time: the same samples, each
/// shifted by the moov's size. Skipped with a note when ffmpeg is not installed.
#[test]
fn faststart_copy_matches_ffprobe_shifted_by_the_moov() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("faststart.mp4");
    let status = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-i"])
        .arg(media("av.mp4"))
        .args(["-c", "copy", "-map", "0", "-movflags", "+faststart"])
        .arg(&out)
        .status();
    match status {
        Ok(s) if s.success() => {}
        _ => {
            eprintln!("note: ffmpeg not available; faststart test skipped");
            return;
        }
    }
    let info = read(&out);
    let size = std::fs::metadata(&out).unwrap().len();
    // The first video sample starts right after the mdat header, after the moov.
    let shift = info.sync_samples[0].byte_offset - 48;
    assert!(shift > 0, "moov should now precede mdat");
    assert_matches_truth(&info, size, shift);
}

#[test]
fn probe_file_dispatches_on_the_extension() {
    use vstream::media::probe::probe_file;
    use vstream::media::{FileFormat, MediaInfo};
    let (format, info) = probe_file(&media("av.mp4")).unwrap();
    assert_eq!(format, FileFormat::Mp4);
    assert_eq!(info, read(&media("av.mp4")).to_media_info());
    let (format, info) = probe_file(&media("data.bin")).unwrap();
    assert_eq!(
        (format, info),
        (FileFormat::Other("bin".into()), MediaInfo::default())
    );
    let (format, info) = probe_file(&media("baseline.h264")).unwrap();
    assert_eq!(format, FileFormat::H264);
    assert_eq!(info.video_codec.as_deref(), Some("H.264"));
    let err = probe_file(&media("no-such-file.mp4")).unwrap_err();
    assert_eq!(err.status_code(), 404);
}
