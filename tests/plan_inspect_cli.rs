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
