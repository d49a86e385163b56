//! Playback control end to end over loopback QUIC, with realtime pacing at rate 4 so each
//! command lands mid-transfer (a 10 s video takes 2.5 s): a seek gives a file that decodes
//! without errors and a report listing the ranges received, the first segment after the
//! acknowledgement is the IDR at or before the target (ffprobe's keyframes) and nothing
//! sent before the seek arrives after it; a stop writes what arrived with the client's
//! statistics; a pause holds new segments and a resume continues without gap or duplicate.

mod e2e_support;

use e2e_support::*;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;
use vstream::media::SegmentMode;
use vstream::platform::{Observation, Observed, TransferHandle, TransferResult};
use vstream::session::{SegmentVerdict, TransferOutcome};
use vstream::wire::{
    FileRequest, Pacing, PlaybackState, SeekDirection, SeekRequest, SeekType, SegmentFlags,
    StatusCode,
};

const VIDEO: &str = "test_videos/main_bframes.h264";

fn truth_keyframes() -> Vec<u32> {
    let text =
        std::fs::read_to_string(repo().join("test_videos/truth/main_bframes.h264.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    (v["keyframe_indices"].as_array().unwrap().iter())
        .map(|k| k.as_u64().unwrap() as u32)
        .collect()
}

/// Decodes `file` with ffmpeg: the frames decoded, after asserting no error was reported;
/// None when ffmpeg is not installed.
fn decode(file: &Path) -> Option<u64> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(file)
        .args(["-f", "null", "-"])
        .output()
        .ok()?;
    let errors = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && errors.trim().is_empty(), "{errors}");
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
        .arg(file)
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

async fn realtime_pull(h: &Harness, session: uuid::Uuid, mode: SegmentMode) -> TransferHandle {
    let mut request = FileRequest::new(VIDEO);
    request.segment_mode = mode;
    request.pacing = Pacing::Realtime;
    request.playback_rate = 4.0;
    h.platform.request_file(session, request).await.unwrap()
}

async fn finished(handle: TransferHandle) -> TransferResult {
    tokio::time::timeout(Duration::from_secs(15), handle.finished())
        .await
        .expect("the transfer ends")
        .unwrap()
}

fn drain(rx: &mut UnboundedReceiver<Observation>) -> Vec<Observed> {
    let mut out = Vec::new();
    while let Ok(o) = rx.try_recv() {
        out.push(o.event);
    }
    out
}

type Arrivals = Vec<(u32, SegmentFlags)>;

/// (index, flags) of the segments written, in the order their headers were judged, split
/// at the acknowledgement numbered `ack`.
fn arrivals_around(events: &[Observed], ack: u64) -> (Arrivals, Arrivals) {
    let (mut before, mut after) = (Vec::new(), Vec::new());
    let mut acked = false;
    for e in events {
        match e {
            Observed::PlaybackAcknowledged(a) if a.ack == ack => acked = true,
            Observed::SegmentArrived {
                id,
                flags,
                verdict: SegmentVerdict::Write { index, .. },
                ..
            } => {
                assert!(id.index().is_some());
                let list = if acked { &mut after } else { &mut before };
                list.push((*index, *flags));
            }
            _ => {}
        }
    }
    assert!(acked, "the acknowledgement was observed");
    (before, after)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seek_mid_transfer_restarts_at_the_idr_and_the_output_decodes() {
    let (h, mut observed) = start_platform_observed();
    let (_endpoint, client) = connect_client(&h).await;
    let session = h.platform.wait_for_session().await.session_id;
    let handle = realtime_pull(&h, session, SegmentMode::Frame).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let ack = h.platform.seek(session, 7.5).await.unwrap();
    // ffprobe's keyframe at or before 7.5 s (frame 225): frame 180, 6.0 s.
    let idr = *truth_keyframes()
        .iter()
        .filter(|&&k| k <= 225)
        .max()
        .unwrap();
    assert_eq!(
        (ack.start_segment, ack.state),
        (Some(idr), PlaybackState::Streaming)
    );
    assert!((ack.position - 6.0).abs() < 1e-9, "{}", ack.position);

    // What only the client can judge is refused with 400 and changes nothing.
    let err = h.platform.seek(session, 60.0).await.unwrap_err();
    assert_eq!(err.status_code(), Some(StatusCode::BadRequest), "{err}");
    let err = h.platform.set_rate(session, 8.0).await.unwrap_err();
    assert_eq!(err.status_code(), Some(StatusCode::BadRequest), "{err}");

    let result = finished(handle).await;
    assert_eq!(result.outcome, TransferOutcome::Completed);
    let r = &result.report;
    assert_eq!(r.index_ranges.len(), 2, "{:?}", r.index_ranges);
    let (first, second) = (r.index_ranges[0], r.index_ranges[1]);
    assert_eq!(first.0, 0);
    assert!(
        first.1 > 10 && first.1 < idr,
        "{first:?}: the seek landed mid-transfer"
    );
    assert_eq!(second, (idr, 299));
    let close = |a: f64, b: f64| (a - b).abs() < 1e-6;
    let m = &r.media_ranges;
    assert!(
        close(m[0].0, 0.0) && close(m[0].1, f64::from(first.1 + 1) / 30.0),
        "{m:?}"
    );
    assert!(close(m[1].0, 6.0) && close(m[1].1, 10.0), "{m:?}");
    assert!(!r.is_whole() && !result.sha256_ok);
    assert!(std::fs::read_to_string(&r.report_file)
        .unwrap()
        .contains(&format!("Segments received:      0-{}, {idr}-299", first.1)));

    // The first segment after the acknowledgement is the IDR; nothing from before follows.
    let events = drain(&mut observed);
    let (before, after) = arrivals_around(&events, ack.ack);
    assert_eq!(before.len() as u32, first.1 + 1);
    assert_eq!(after.first().map(|a| a.0), Some(idr));
    assert!(after[0].1.contains(SegmentFlags::KEYFRAME));
    let mut indices: Vec<u32> = after.iter().map(|a| a.0).collect();
    indices.sort_unstable();
    assert_eq!(indices, (idr..300).collect::<Vec<_>>());

    // The output: the part before the seek, then the part from the IDR on, decodable.
    let source = std::fs::read(repo().join(VIDEO)).unwrap();
    let out = std::fs::read(&result.file.path).unwrap();
    let offsets = [0usize, 225_599]; // frame 0 and frame 180 (truth keyframe_byte_offsets)
    let head = out.len() - (source.len() - offsets[1]);
    assert_eq!(&out[..head], &source[..head]);
    assert_eq!(&out[head..], &source[offsets[1]..]);
    if let Some(frames) = decode(&result.file.path) {
        assert_eq!(frames, r.frames);
        assert_eq!(frames, u64::from(first.1 + 1) + 120);
    }
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeks_in_gop_and_time_modes_keep_the_output_playable() {
    let h = start_platform();
    let (_endpoint, client) = connect_client(&h).await;
    let session = h.platform.wait_for_session().await.session_id;
    for mode in [SegmentMode::Gop, SegmentMode::Time] {
        let handle = realtime_pull(&h, session, mode).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let request = SeekRequest {
            target_position: 5.0,
            seek_type: SeekType::Keyframe,
            direction: SeekDirection::Backward,
            max_seek_time: None,
            transfer_id: Some(handle.ack.transfer_id),
        };
        let ack = h.platform.seek_request(session, request).await.unwrap();
        assert!(
            (ack.position - 4.0).abs() < 1e-9,
            "{mode:?}: {}",
            ack.position
        );
        let result = finished(handle).await;
        assert_eq!(result.outcome, TransferOutcome::Completed, "{mode:?}");
        assert_eq!(result.report.index_ranges.len(), 2, "{mode:?}");
        if let Some(frames) = decode(&result.file.path) {
            assert_eq!(frames, result.report.frames, "{mode:?}");
        }
    }
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_writes_what_arrived_with_the_client_statistics() {
    let h = start_platform();
    let (_endpoint, client) = connect_client(&h).await;
    let session = h.platform.wait_for_session().await.session_id;
    let handle = realtime_pull(&h, session, SegmentMode::Frame).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ack = h.platform.stop(session).await.unwrap();
    assert_eq!(ack.state, PlaybackState::Stopped);
    let result = finished(handle).await;
    assert_eq!(result.outcome, TransferOutcome::Stopped);
    let r = &result.report;
    let stats = r.client_statistics.clone().expect("send_statistics");
    // The acknowledgement waited for the segments in flight: all that was sent arrived.
    assert_eq!(stats["segments_sent"], r.figures.video_segments, "{stats}");
    assert_eq!(stats["state"], "stopped");
    let n = r.figures.video_segments as u32;
    assert_eq!(r.index_ranges, vec![(0, n - 1)]);
    let source = std::fs::read(repo().join(VIDEO)).unwrap();
    let out = std::fs::read(&result.file.path).unwrap();
    assert_eq!(&out[..], &source[..out.len()], "a prefix of the source");
    assert!(std::fs::read_to_string(&r.report_file)
        .unwrap()
        .contains("Client statistics:"));
    if let Some(frames) = decode(&result.file.path) {
        assert_eq!(frames, u64::from(n));
    }
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_holds_new_segments_and_resume_continues_without_gap_or_duplicate() {
    let (h, mut observed) = start_platform_observed();
    let (_endpoint, client) = connect_client(&h).await;
    let session = h.platform.wait_for_session().await.session_id;
    let handle = realtime_pull(&h, session, SegmentMode::Frame).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let paused = h.platform.pause(session).await.unwrap();
    assert_eq!(paused.state, PlaybackState::Paused);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let resumed = h.platform.resume(session).await.unwrap();
    assert_eq!(resumed.state, PlaybackState::Streaming);
    assert_eq!(
        resumed.position, paused.position,
        "nothing was sent while paused"
    );
    let result = finished(handle).await;
    assert!(result.sha256_ok && result.report.is_whole());
    let events = drain(&mut observed);
    let (_, after_pause) = arrivals_around(&events, paused.ack);
    let (_, after_resume) = arrivals_around(&events, resumed.ack);
    // Between the two acknowledgements, at most the streams in flight (64) arrive.
    let held = after_pause.len() - after_resume.len();
    assert!(held <= 64, "{held}");
    let all: Vec<u32> = (events.iter())
        .filter_map(|e| match e {
            Observed::SegmentArrived {
                verdict: SegmentVerdict::Write { index, .. },
                ..
            } => Some(*index),
            _ => None,
        })
        .collect();
    // Streams open in index order (D38): no gap, no duplicate, no swap.
    assert_eq!(all, (0..300).collect::<Vec<_>>(), "{all:?}");
    client.close().await.unwrap();
}
