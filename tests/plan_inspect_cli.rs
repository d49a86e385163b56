//! `vstream inspect`: the JSON report agrees with ffprobe, and bad input fails cleanly.

use std::path::Path;
use std::process::Command;

fn inspect(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_vstream"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_BACKTRACE", "0")
        .arg("inspect")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn json_report_matches_ffprobe_truth() {
    for name in ["main_bframes", "high_slices", "novui"] {
        let file = format!("test_videos/{name}.h264");
        let out = inspect(&[&file, "--json", "--mode", "frame"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let truth_path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("test_videos/truth/{name}.h264.json"));
        let truth: serde_json::Value =
            serde_json::from_slice(&std::fs::read(truth_path).unwrap()).unwrap();
        for key in [
            "frames",
            "keyframe_indices",
            "width",
            "height",
            "frame_rate",
        ] {
            assert_eq!(report[key], truth[key], "{name} {key}");
        }
        assert_eq!(report["format"], "h264");
        let segments = report["segments"].as_array().unwrap();
        assert_eq!(segments.len() as u64, truth["frames"].as_u64().unwrap());
        assert_eq!(segments[0]["flags"], 0x0f);
        assert_eq!(
            segments.last().unwrap()["flags"].as_u64().unwrap() & 0x10,
            0x10
        );
        let fps = truth["frame_rate"].as_f64().unwrap();
        let duration = report["duration"].as_f64().unwrap();
        assert!((duration - segments.len() as f64 / fps).abs() < 1e-9);
    }
}

#[test]
fn table_lists_every_segment_and_a_summary() {
    let out = inspect(&["test_videos/baseline.h264", "--mode", "gop"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("KEY|SPS|PPS|IDR"));
    assert!(text.contains("summary:  4 segments, 45155 bytes"));
}

#[test]
fn other_files_get_a_fixed_plan_with_null_media_fields() {
    let out = inspect(&["test_videos/data.bin", "--json"]);
    assert!(out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["mode"], "fixed");
    assert_eq!(report["segment_size"], 512 * 1024);
    assert!(report["frames"].is_null() && report["duration"].is_null());
    assert_eq!(report["segments"].as_array().unwrap().len(), 3);
}

#[test]
fn bad_input_fails_with_a_message_not_a_panic() {
    for args in [
        &["test_videos/nonexistent.h264"][..],
        &["test_videos"],
        &["test_videos/data.bin", "--mode", "sideways"],
    ] {
        let out = inspect(args);
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{err}");
        assert!(!err.trim().is_empty());
    }
}

#[test]
fn access_unit_modes_on_an_mp4_apply_fixed_chunks() {
    let out = inspect(&["test_videos/av.mp4", "--mode", "frame", "--json"]);
    assert!(out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["mode"], "fixed");
    assert_eq!(report["segment_size"], 256 * 1024);
}

/// ffprobe's video packets of `path`: (count, 0-based indices of those flagged `K`).
fn ffprobe_video_packets(path: &Path) -> (u64, Vec<u64>) {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
        .args(["packet=flags", "-of", "json"])
        .arg(path)
        .output()
        .expect("ffprobe (apt-get install ffmpeg)");
    assert!(out.status.success(), "ffprobe {path:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let packets = json["packets"].as_array().unwrap();
    let keys = (packets.iter().enumerate())
        .filter(|(_, p)| p["flags"].as_str().unwrap().contains('K'))
        .map(|(i, _)| i as u64)
        .collect();
    (packets.len() as u64, keys)
}

fn run_ffmpeg(args: &[&str], out: &Path) {
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .arg(out)
        .status()
        .expect("ffmpeg (apt-get install ffmpeg)");
    assert!(status.success(), "ffmpeg {args:?}");
}

fn inspect_json(path: &Path, mode: &str) -> serde_json::Value {
    let out = inspect(&[path.to_str().unwrap(), "--json", "--mode", mode]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn mp4_frames_and_keyframe_indices_are_ffprobes_packets_and_k_flags() {
    let dir = tempfile::tempdir().unwrap();
    let av = Path::new(env!("CARGO_MANIFEST_DIR")).join("test_videos/av.mp4");
    let faststart = dir.path().join("faststart.mp4");
    run_ffmpeg(
        &[
            "-i",
            av.to_str().unwrap(),
            "-c",
            "copy",
            "-movflags",
            "+faststart",
        ],
        &faststart,
    );
    let bframes = dir.path().join("bframes.mov");
    let src = "testsrc=size=160x120:rate=25:duration=3";
    let x264 = [
        "-c:v",
        "libx264",
        "-bf",
        "3",
        "-x264-params",
        "keyint=7:scenecut=0",
    ];
    run_ffmpeg(&[&["-f", "lavfi", "-i", src][..], &x264].concat(), &bframes);
    let intra = dir.path().join("intra.mp4");
    let all_intra = ["-c:v", "libx264", "-x264-params", "keyint=1"];
    run_ffmpeg(
        &[&["-f", "lavfi", "-i", src][..], &all_intra].concat(),
        &intra,
    );
    for path in [av, faststart, bframes, intra] {
        let report = inspect_json(&path, "auto");
        let (frames, keys) = ffprobe_video_packets(&path);
        assert_eq!(report["format"], "mp4", "{path:?}");
        assert_eq!(report["frames"], frames, "{path:?}");
        assert_eq!(
            report["keyframe_indices"],
            serde_json::json!(keys),
            "{path:?}"
        );
        assert!(report["frame_rate"].as_f64().unwrap() > 0.0, "{path:?}");
    }
}

#[test]
fn the_content_decides_the_format_whatever_the_name() {
    let dir = tempfile::tempdir().unwrap();
    let videos = Path::new(env!("CARGO_MANIFEST_DIR")).join("test_videos");
    let truth: serde_json::Value = serde_json::from_slice(
        &std::fs::read(videos.join("truth/main_bframes.h264.json")).unwrap(),
    )
    .unwrap();
    for name in [
        "conf.jsv",
        "conf.26l",
        "conf.bin",
        "camera_dump",
        "wrong.mp4",
    ] {
        let path = dir.path().join(name);
        std::fs::copy(videos.join("main_bframes.h264"), &path).unwrap();
        let report = inspect_json(&path, "frame");
        assert_eq!(report["format"], "h264", "{name}");
        assert_eq!(report["mode"], "frame", "{name}");
        for key in ["frames", "keyframe_indices", "width", "height"] {
            assert_eq!(report[key], truth[key], "{name} {key}");
        }
    }
    for name in ["movie.bin", "movie", "movie.h264"] {
        let path = dir.path().join(name);
        std::fs::copy(videos.join("av.mp4"), &path).unwrap();
        let report = inspect_json(&path, "frame");
        assert_eq!(report["format"], "mp4", "{name}");
        assert_eq!(report["frames"], 180, "{name}");
    }
    // Random bytes named .h264 are still H.264 by name, refused in frame mode (1001).
    let junk = dir.path().join("junk.h264");
    std::fs::copy(videos.join("data.bin"), &junk).unwrap();
    let out = inspect(&[junk.to_str().unwrap(), "--mode", "frame"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("1001"));
}
