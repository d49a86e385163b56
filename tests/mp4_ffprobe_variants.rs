//! Differential tests: MP4 layouts made by ffmpeg at test time, each compared with what
//! ffprobe reports for it. Skipped with a printed note when ffmpeg/ffprobe are missing
//! (CI installs them). Also a `co64` twin of av.mp4, built by rewriting its `stco`.

use serde_json::Value;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::Command;
use vstream::media::mp4::{read_mp4_info, Mp4Info};

fn media(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("test_videos")
        .join(name)
}

/// Runs ffmpeg with `args` then `out`; false (with a note) if ffmpeg is unavailable or fails.
fn ffmpeg(args: &[&str], out: &Path) -> bool {
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .arg(out)
        .status();
    let ok = matches!(status, Ok(s) if s.success());
    if !ok {
        eprintln!("note: ffmpeg unavailable or failed for {args:?}; test skipped");
    }
    ok
}

/// ffprobe's video keyframes in decode order: (byte position, pts in seconds).
fn ffprobe_keyframes(path: &Path) -> Vec<(u64, f64)> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_packets"])
        .args(["-show_entries", "packet=pos,pts_time,flags", "-of", "json"])
        .arg(path)
        .output()
        .expect("ffprobe");
    let json: Value = serde_json::from_slice(&out.stdout).expect("ffprobe json");
    json["packets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["flags"].as_str().unwrap().contains('K'))
        .map(|p| {
            let pos = p["pos"].as_str().unwrap().parse().unwrap();
            let pts = p["pts_time"].as_str().unwrap().parse().unwrap();
            (pos, pts)
        })
        .collect()
}

fn read(path: &Path) -> Mp4Info {
    let mut file = std::fs::File::open(path).unwrap();
    read_mp4_info(&mut file).expect("read_mp4_info")
}

/// Our sync samples equal ffprobe's keyframes: offsets exactly, times within 1 ms.
fn assert_sync_samples_match_ffprobe(path: &Path) -> Mp4Info {
    let info = read(path);
    let expected = ffprobe_keyframes(path);
    let offsets: Vec<u64> = info.sync_samples.iter().map(|s| s.byte_offset).collect();
    let want: Vec<u64> = expected.iter().map(|k| k.0).collect();
    assert_eq!(offsets, want, "{path:?}");
    for (sample, (_, pts)) in info.sync_samples.iter().zip(&expected) {
        assert!(
            (sample.time - pts).abs() < 1e-3,
            "{path:?}: {} vs {pts}",
            sample.time
        );
    }
    info
}

fn testsrc(seconds: u32) -> String {
    format!("testsrc=size=160x120:rate=25:duration={seconds}")
}

#[test]
fn faststart_copy_of_av_mp4() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("faststart.mp4");
    let input = media("av.mp4");
    let args = ["-i", input.to_str().unwrap(), "-c", "copy", "-map", "0"];
    if !ffmpeg(&[&args[..], &["-movflags", "+faststart"]].concat(), &out) {
        return;
    }
    let info = assert_sync_samples_match_ffprobe(&out);
    assert!(
        info.sync_samples[0].byte_offset > 48,
        "moov now precedes mdat"
    );
    assert_eq!(info.video.unwrap().frame_count, 180);
}

#[test]
fn intra_only_video_without_stss() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("intra.mp4");
    let src = testsrc(1);
    let args = [
        "-f",
        "lavfi",
        "-i",
        &src,
        "-c:v",
        "libx264",
        "-x264-params",
        "keyint=1",
    ];
    if !ffmpeg(&args, &out) {
        return;
    }
    let info = assert_sync_samples_match_ffprobe(&out);
    assert_eq!(info.sync_samples.len(), 25);
    assert!(info.audio.is_none());
}

#[test]
fn quicktime_mov_with_b_frames_and_short_gops() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bframes.mov");
    let src = testsrc(2);
    let args = [
        "-f",
        "lavfi",
        "-i",
        &src,
        "-f",
        "lavfi",
        "-i",
        "sine=sample_rate=44100:duration=2",
        "-c:v",
        "libx264",
        "-bf",
        "3",
        "-g",
        "12",
        "-c:a",
        "aac",
        "-ac",
        "1",
    ];
    if !ffmpeg(&args, &out) {
        return;
    }
    let info = assert_sync_samples_match_ffprobe(&out);
    let audio = info.audio.unwrap();
    assert_eq!(
        (audio.codec.as_str(), audio.sample_rate, audio.channels),
        ("AAC", 44_100, 1)
    );
    assert!((info.video.unwrap().frame_rate.unwrap() - 25.0).abs() < 1e-6);
}

#[test]
fn hevc_in_mp4_is_named_h265() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("hevc.mp4");
    let src = testsrc(1);
    let args = [
        "-f",
        "lavfi",
        "-i",
        &src,
        "-c:v",
        "libx265",
        "-x265-params",
        "keyint=10:log-level=none",
        "-tag:v",
        "hvc1",
    ];
    if !ffmpeg(&args, &out) {
        return;
    }
    let info = assert_sync_samples_match_ffprobe(&out);
    let video = info.video.unwrap();
    assert_eq!(video.codec, "H.265");
    assert_eq!((video.width, video.height), (160, 120));
    assert_eq!(video.profile, None);
}

/// av.mp4 with the video track's `stco` rewritten as `co64` (moov is at the end, so no
/// sample moves): the seek table must not change.
#[test]
fn co64_chunk_offsets_read_like_stco() {
    let mut data = std::fs::read(media("av.mp4")).unwrap();
    let original = read_mp4_info(&mut Cursor::new(&data)).unwrap();
    let moov = data.windows(4).rposition(|w| w == b"moov").unwrap() - 4;
    let find = |data: &[u8], kind: &[u8]| {
        moov + data[moov..].windows(4).position(|w| w == kind).unwrap() - 4
    };
    let stco = find(&data, b"stco");
    let size = u32::from_be_bytes(data[stco..stco + 4].try_into().unwrap()) as usize;
    let count = u32::from_be_bytes(data[stco + 12..stco + 16].try_into().unwrap()) as usize;
    let mut co64 = Vec::new();
    co64.extend_from_slice(&((16 + 8 * count) as u32).to_be_bytes());
    co64.extend_from_slice(b"co64\0\0\0\0");
    co64.extend_from_slice(&(count as u32).to_be_bytes());
    for i in 0..count {
        let at = stco + 16 + 4 * i;
        let offset = u32::from_be_bytes(data[at..at + 4].try_into().unwrap());
        co64.extend_from_slice(&u64::from(offset).to_be_bytes());
    }
    let grown = (co64.len() - size) as u32;
    data.splice(stco..stco + size, co64);
    for kind in [b"moov", b"trak", b"mdia", b"minf", b"stbl"] {
        let at = find(&data, kind);
        let old = u32::from_be_bytes(data[at..at + 4].try_into().unwrap());
        data[at..at + 4].copy_from_slice(&(old + grown).to_be_bytes());
    }
    let rewritten = read_mp4_info(&mut Cursor::new(&data)).unwrap();
    assert_eq!(rewritten.sync_samples, original.sync_samples);
    assert_eq!(rewritten.video, original.video);
}

/// Fragmented MP4 (samples in `moof`/`trun`, not in `moov`) is not indexed: the reader
/// still answers, with the codec and size but no frames and no seek table, never a panic.
#[test]
fn fragmented_mp4_is_read_without_a_seek_table() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fragmented.mp4");
    let src = testsrc(2);
    let args = [
        "-f",
        "lavfi",
        "-i",
        &src,
        "-c:v",
        "libx264",
        "-g",
        "25",
        "-movflags",
        "frag_keyframe+empty_moov",
    ];
    if !ffmpeg(&args, &out) {
        return;
    }
    let info = read(&out);
    let video = info.video.expect("video track");
    assert_eq!(
        (video.codec.as_str(), video.width, video.height),
        ("H.264", 160, 120)
    );
    assert_eq!(video.frame_count, 0);
    assert!(info.sync_samples.is_empty());
}
