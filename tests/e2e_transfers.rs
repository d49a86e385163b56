//! End to end on loopback UDP: every bundled test video, in every mode it supports, arrives
//! byte-identical with a verified SHA-256; frame mode's counts equal ffprobe's, and what
//! frame mode wrote decodes.

mod e2e_support;

use e2e_support::*;
use std::path::Path;
use std::process::Command;
use vstream::media::SegmentMode;

const H264: [&str; 5] = [
    "aud.h264",
    "baseline.h264",
    "high_slices.h264",
    "main_bframes.h264",
    "novui.h264",
];

fn truth(name: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(
        repo()
            .join("test_videos/truth")
            .join(format!("{name}.json")),
    )
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Frames ffprobe decodes in `file`, or None when ffprobe is not installed.
fn ffprobe_frames(file: &Path) -> Option<u64> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_frames",
            "-of",
            "csv=p=0",
        ])
        .arg(file)
        .output()
        .ok()?;
    assert!(out.status.success(), "ffprobe failed on {}", file.display());
    Some(String::from_utf8_lossy(&out.stdout).trim().parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_h264_video_arrives_identical_in_every_mode() {
    let h = start_platform();
    let (_endpoint, client) = connect_client(&h).await;
    let session = h.platform.wait_for_session().await.session_id;
    for name in H264 {
        let path = format!("test_videos/{name}");
        let source = repo().join(&path);
        for mode in [
            SegmentMode::Frame,
            SegmentMode::Gop,
            SegmentMode::Time,
            SegmentMode::Fixed,
        ] {
            let result = pull(&h, session, &path, mode).await;
            assert_identical(&result, &source);
            if mode == SegmentMode::Frame {
                let t = truth(name);
                let frames = t["frames"].as_u64().unwrap();
                let keyframes = t["keyframe_indices"].as_array().unwrap().len() as u64;
                assert_eq!(result.report.frames, frames, "{name}: frames");
                assert_eq!(result.report.keyframes, keyframes, "{name}: keyframes");
                assert_eq!(
                    result.report.figures.total_segments, frames,
                    "{name}: one segment per frame"
                );
                match ffprobe_frames(&result.file.path) {
                    Some(decoded) => assert_eq!(decoded, frames, "{name}: ffprobe frames"),
                    None => {
                        eprintln!("note: ffprobe not installed; decode check of {name} skipped")
                    }
                }
            }
        }
    }
    let summary = client.close().await.unwrap();
    assert_eq!(summary.transfers.len(), H264.len() * 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mp4_and_binary_files_arrive_identical_in_fixed_and_auto_modes() {
    let h = start_platform();
    let (_endpoint, client) = connect_client(&h).await;
    let session = h.platform.wait_for_session().await.session_id;
    for name in ["av.mp4", "data.bin"] {
        let path = format!("test_videos/{name}");
        for mode in [SegmentMode::Fixed, SegmentMode::Auto] {
            let result = pull(&h, session, &path, mode).await;
            assert_identical(&result, &repo().join(&path));
            assert!(
                result.report.figures.total_segments > 1,
                "{name} is cut in chunks"
            );
        }
    }
    // The .debug file holds one SEGMENT line per segment, the .report every figure.
    let result = pull(&h, session, "test_videos/data.bin", SegmentMode::Fixed).await;
    let debug = std::fs::read_to_string(&result.report.debug_file).unwrap();
    let lines = debug.lines().filter(|l| l.starts_with("SEGMENT|")).count() as u64;
    assert_eq!(lines, result.report.figures.total_segments);
    let report = std::fs::read_to_string(&result.report.report_file).unwrap();
    assert!(report.contains(&result.report.figures.bytes.to_string()));
    client.close().await.unwrap();
}

/// A file of many megabytes goes through in fixed chunks (each read from disk in bounded
/// pieces) and arrives identical.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_file_arrives_identical() {
    use std::sync::Arc;
    use vstream::catalog::Catalog;
    use vstream::client::{Client, ClientConfig};
    use vstream::net::ALPN;

    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("large.bin");
    // 40 MiB of a simple pseudo-random sequence (xorshift), so no chunk repeats another.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let bytes: Vec<u8> = (0..40 * 1024 * 1024 / 8)
        .flat_map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()
        })
        .collect();
    std::fs::write(&source, &bytes).unwrap();
    drop(bytes);

    let h = start_platform();
    let endpoint = client_endpoint_for(&h, ALPN);
    let catalog = Arc::new(Catalog::new(dir.path()).unwrap());
    catalog.register_root().unwrap();
    let mut client = Client::connect(
        &endpoint,
        h.addr,
        "localhost",
        catalog,
        ClientConfig::default(),
    )
    .await
    .unwrap();
    let session = client.wait_active().await.unwrap();
    let result = pull(&h, session, "large.bin", SegmentMode::Fixed).await;
    assert_identical(&result, &source);
    assert!(result.report.figures.total_segments > 10);
    client.close().await.unwrap();
}

/// At full speed, with 64 segments in flight, segment streams still open, travel and are
/// judged in index order (D38: opened and first written one at a time, no fairness among
/// equal priorities).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_arrive_in_index_order_at_full_speed() {
    use vstream::platform::Observed;
    use vstream::session::SegmentVerdict;

    let (h, mut observed) = start_platform_observed();
    let (_endpoint, client) = connect_client(&h).await;
    let session = h.platform.wait_for_session().await.session_id;
    let video = "test_videos/main_bframes.h264";
    let result = pull(&h, session, video, SegmentMode::Frame).await;
    assert_identical(&result, &repo().join(video));
    let mut order = Vec::new();
    while let Ok(o) = observed.try_recv() {
        if let Observed::SegmentArrived {
            verdict: SegmentVerdict::Write { index, .. },
            ..
        } = o.event
        {
            order.push(index);
        }
    }
    assert_eq!(order, (0..300).collect::<Vec<_>>(), "{order:?}");
    client.close().await.unwrap();
}
