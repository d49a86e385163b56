//! End to end on loopback UDP (D76): an H.264 pull in frame, GOP or time mode leaves a
//! playable fragmented MP4 (`<name>.mp4`) beside the byte-exact file, with the source's
//! frame count and duration, also after a seek (its timeline jumps with the source's);
//! `--container raw` writes none and `mp4` keeps only the copy; fixed chunks and MP4
//! sources get none. Needs ffmpeg and ffprobe (`.ci/run` installs them).

mod e2e_support;

use e2e_support::*;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use vstream::media::SegmentMode;
use vstream::session::TransferOutcome;
use vstream::store::container::{mp4_part_path, mp4_path, Container};
use vstream::wire::{FileRequest, Pacing};

fn truth(name: &str) -> serde_json::Value {
    let path = repo()
        .join("test_videos/truth")
        .join(format!("{name}.json"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// ffprobe's decoded frames and duration of `file`, after asserting ffmpeg decodes it
/// without a single error message.
fn play(file: &Path) -> (u64, f64) {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(file)
        .args(["-f", "null", "-"])
        .output()
        .expect("ffmpeg (apt-get install ffmpeg)");
    let errors = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && errors.trim().is_empty(), "{errors}");
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args(["-show_entries", "stream=nb_read_frames:format=duration"])
        .args(["-of", "json"])
        .arg(file)
        .output()
        .expect("ffprobe");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let frames = json["streams"][0]["nb_read_frames"].as_str().unwrap();
    let duration = json["format"]["duration"].as_str().unwrap();
    (frames.parse().unwrap(), duration.parse().unwrap())
}

/// Presentation times of the frames ffprobe decodes, in order.
fn frame_times(file: &Path) -> Vec<f64> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
        .args(["frame=pts_time", "-of", "csv=p=0"])
        .arg(file)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().trim_end_matches(','))
        .filter(|l| !l.is_empty())
        .map(|l| l.parse().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_h264_pull_leaves_a_playable_mp4_beside_the_exact_file() {
    let h = start_platform();
    let (_endpoint, client) = connect_client(&h).await;
    let session = h.platform.wait_for_session().await.session_id;
    let mut pulls = vec![
        ("main_bframes.h264", SegmentMode::Gop),
        ("main_bframes.h264", SegmentMode::Time),
    ];
    for name in [
        "aud.h264",
        "baseline.h264",
        "high_slices.h264",
        "low_level.h264",
        "main_bframes.h264",
        "novui.h264",
    ] {
        pulls.push((name, SegmentMode::Frame));
    }
    for (name, mode) in pulls {
        let path = format!("test_videos/{name}");
        let result = pull(&h, session, &path, mode).await;
        assert_identical(&result, &repo().join(&path));
        let copy = mp4_path(&result.file.path);
        assert!(!mp4_part_path(&result.file.path).exists(), "{name}");
        let t = truth(name);
        let frames = t["frames"].as_u64().unwrap();
        let (decoded, duration) = play(&copy);
        assert_eq!(decoded, frames, "{name} {mode:?}");
        let expected = frames as f64 / t["frame_rate"].as_f64().unwrap();
        assert!(
            (duration - expected).abs() < 1e-3,
            "{name} {mode:?}: {duration}"
        );
        std::fs::remove_file(&copy).unwrap();
    }
    // Fixed chunks of an H.264 file and an MP4 source: no copy.
    for (path, mode) in [
        ("test_videos/baseline.h264", SegmentMode::Fixed),
        ("test_videos/av.mp4", SegmentMode::Auto),
    ] {
        let result = pull(&h, session, path, mode).await;
        assert_identical(&result, &repo().join(path));
        assert!(!mp4_path(&result.file.path).exists(), "{path}");
        assert!(!mp4_part_path(&result.file.path).exists(), "{path}");
    }
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_container_option_chooses_raw_mp4_or_both() {
    for container in [Container::Raw, Container::Mp4] {
        let h = start_platform_with(|c| c.container = container);
        let (_endpoint, client) = connect_client(&h).await;
        let session = h.platform.wait_for_session().await.session_id;
        let result = pull(
            &h,
            session,
            "test_videos/high_slices.h264",
            SegmentMode::Frame,
        )
        .await;
        assert_eq!(result.outcome, TransferOutcome::Completed);
        assert!(result.sha256_ok);
        let copy = mp4_path(&result.file.path);
        assert_eq!(copy.exists(), container == Container::Mp4, "{container:?}");
        assert_eq!(result.file.path.exists(), container == Container::Raw);
        if container == Container::Mp4 {
            assert_eq!(play(&copy).0, 72);
        }
        client.close().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_seek_the_mp4_timeline_jumps_with_the_source() {
    let h = start_platform();
    let (_endpoint, client) = connect_client(&h).await;
    let session = h.platform.wait_for_session().await.session_id;
    let mut request = FileRequest::new("test_videos/main_bframes.h264");
    request.segment_mode = SegmentMode::Frame;
    request.pacing = Pacing::Realtime;
    request.playback_rate = 4.0;
    let handle = h.platform.request_file(session, request).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    // ffprobe's keyframe at or before 7.5 s: frame 180, 6.0 s.
    let ack = h.platform.seek(session, 7.5).await.unwrap();
    assert_eq!(ack.start_segment, Some(180));
    let result = tokio::time::timeout(Duration::from_secs(15), handle.finished())
        .await
        .expect("the transfer ends")
        .unwrap();
    assert_eq!(result.outcome, TransferOutcome::Completed);
    let first = result.report.index_ranges[0];
    assert!(first.1 > 10 && first.1 < 180, "{first:?}");
    let before = u64::from(first.1 + 1);
    let copy = mp4_path(&result.file.path);
    let (decoded, duration) = play(&copy);
    // Every picture received plays: those before the seek, then the 120 from the IDR on.
    assert_eq!(decoded, before + 120);
    assert!((duration - 10.0).abs() < 1e-3, "{duration}");
    let times = frame_times(&copy);
    let after = times.len() - 120;
    assert!(
        (times[after] - times[0] - 6.0).abs() < 1e-6,
        "first frame after the seek at {} (first at {})",
        times[after],
        times[0]
    );
    client.close().await.unwrap();
}
