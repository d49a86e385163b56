//! MP4 frame mode with AAC audio (D77-D78), end to end over real quinn on loopback: a
//! FileRequest with `segment_mode: frame` for `av.mp4` makes the client send its samples
//! (video as Annex-B video segments, AAC as 43-byte-header audio segments), and the
//! platform writes an MP4 whose video and audio streams ffprobe reads with the source's
//! packet counts, which ffmpeg decodes without a single error message; after a seek the
//! video restarts at a sync sample and the audio follows it. Needs ffmpeg and ffprobe
//! (`.ci/run` installs them).

mod e2e_support;

use e2e_support::*;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use vstream::media::SegmentMode;
use vstream::session::TransferOutcome;
use vstream::store::container::mp4_path;
use vstream::wire::{FileRequest, Pacing};

/// ffprobe's packet count per stream type (`video`, `audio`) of `file`.
fn packets(file: &Path, stream: &str) -> u64 {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", stream, "-count_packets"])
        .args(["-show_entries", "stream=nb_read_packets", "-of", "csv=p=0"])
        .arg(file)
        .output()
        .expect("ffprobe (apt-get install ffmpeg)");
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim().trim_end_matches(',').parse().unwrap_or(0)
}

/// Asserts ffmpeg decodes every stream of `file` without an error message.
fn decodes_cleanly(file: &Path) {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(file)
        .args(["-map", "0", "-f", "null", "-"])
        .output()
        .expect("ffmpeg");
    let errors = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && errors.trim().is_empty(), "{errors}");
}

/// Presentation times of the first `stream` packets of `file`.
fn first_packet_time(file: &Path, stream: &str) -> f64 {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", stream, "-show_entries"])
        .args([
            "packet=pts_time",
            "-of",
            "csv=p=0",
            "-read_intervals",
            "%+#1",
        ])
        .arg(file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text
        .lines()
        .next()
        .unwrap_or("")
        .trim()
        .trim_end_matches(',');
    first.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn av_mp4_in_frame_mode_gives_an_mp4_with_the_sources_video_and_audio_packets() {
    let source = repo().join("test_videos/av.mp4");
    let (video, audio) = (packets(&source, "v:0"), packets(&source, "a:0"));
    assert_eq!((video, audio), (180, 283), "the source's ffprobe counts");
    let h = start_platform();
    let (_endpoint, client) = connect_client(&h).await;
    let session = h.platform.wait_for_session().await.session_id;
    let result = pull(&h, session, "test_videos/av.mp4", SegmentMode::Frame).await;
    assert_eq!(result.outcome, TransferOutcome::Completed);
    assert_eq!(result.report.file_segments, 180 + 283);
    assert_eq!(result.report.frames, 180);
    let copy = mp4_path(&result.file.path);
    assert!(copy.exists(), "{}", copy.display());
    assert_eq!(packets(&copy, "v:0"), video);
    assert_eq!(packets(&copy, "a:0"), audio);
    decodes_cleanly(&copy);
    // The file itself is the video's Annex-B stream: ffprobe reads the 180 pictures.
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-f",
            "h264",
            "-count_frames",
            "-select_streams",
            "v:0",
        ])
        .args(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
        .arg(&result.file.path)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "180");
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_seek_in_frame_mode_video_restarts_at_a_sync_sample_and_audio_follows() {
    let h = start_platform();
    let (_endpoint, client) = connect_client(&h).await;
    let session = h.platform.wait_for_session().await.session_id;
    let mut request = FileRequest::new("test_videos/av.mp4");
    request.segment_mode = SegmentMode::Frame;
    request.seek_position = Some(4.5);
    let handle = h.platform.request_file(session, request).await.unwrap();
    let result = tokio::time::timeout(Duration::from_secs(30), handle.finished())
        .await
        .expect("the transfer ends")
        .unwrap();
    assert_eq!(result.outcome, TransferOutcome::Completed);
    let copy = mp4_path(&result.file.path);
    decodes_cleanly(&copy);
    // ffprobe's sync sample at or before 4.5 s: video sample 120, 4.0 s; 60 pictures follow,
    // and the audio samples decoded from 4.0 s on (AAC frames of 1024 / 48000 s: 188 to 282).
    assert_eq!(packets(&copy, "v:0"), 60);
    assert_eq!(packets(&copy, "a:0"), 95);
    let (video_start, audio_start) = (
        first_packet_time(&copy, "v:0"),
        first_packet_time(&copy, "a:0"),
    );
    // FFmpeg presents a B-frame stream whose composition offsets go negative (trun v1) two
    // frame slots late (4.067 s here; the whole file's first picture likewise at 0.067 s).
    assert!((video_start - 4.0).abs() < 0.07, "{video_start}");
    assert!((audio_start - 4.0).abs() < 0.05, "{audio_start}");
    // Realtime pacing with a seek mid-transfer: the timeline restarts at the target.
    let mut request = FileRequest::new("test_videos/av.mp4");
    request.segment_mode = SegmentMode::Frame;
    request.pacing = Pacing::Realtime;
    request.playback_rate = 4.0;
    let handle = h.platform.request_file(session, request).await.unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let ack = h.platform.seek(session, 4.5).await.unwrap();
    let start = ack.start_segment.expect("a restart segment");
    let result = tokio::time::timeout(Duration::from_secs(30), handle.finished())
        .await
        .expect("the transfer ends")
        .unwrap();
    assert_eq!(result.outcome, TransferOutcome::Completed);
    let copy = mp4_path(&result.file.path);
    decodes_cleanly(&copy);
    let first = result.report.index_ranges[0];
    assert!(first.1 < start, "{first:?} then {start}");
    client.close().await.unwrap();
}

/// The platform's side alone (no network): the plan's segments of `av.mp4`, made as the
/// client's sender makes them, written in order into a `ReceivedFile` with the
/// acknowledgement's audio track, give a copy with every video and audio sample.
#[test]
fn the_platforms_copy_of_the_samples_holds_every_sample() {
    use vstream::media::plan::{PlanOptions, SampleRewrite};
    use vstream::media::probe::plan_file;
    use vstream::store::container::Container;
    use vstream::store::{Placement, ReceivedFile};
    use vstream::wire::{SegmentId, TransferId};

    let source = repo().join("test_videos/av.mp4");
    let (_, plan, _) = plan_file(&source, SegmentMode::Frame, PlanOptions::default()).unwrap();
    let audio = plan.demuxed().unwrap().audio.unwrap();
    let track = vstream::media::fmp4::AudioTrack {
        audio_specific_config: audio.config_bytes().unwrap(),
        sample_rate: audio.sample_rate,
        channels: audio.channels,
    };
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("av.mp4");
    let mut file = ReceivedFile::create(&raw, Placement::InOrder, 0).unwrap();
    file.attach_demuxed(Container::Both, Some(track));
    let bytes = std::fs::read(&source).unwrap();
    let transfer = TransferId::new(0xab).unwrap();
    for seg in plan.iter() {
        let start = seg.offset as usize;
        let sample = bytes[start..start + seg.file_len() as usize].to_vec();
        let data = match SampleRewrite::of(&seg, &plan) {
            Some(rewrite) => rewrite.apply(sample).unwrap(),
            None => sample,
        };
        assert_eq!(data.len() as u64, seg.len);
        let header = seg.header(SegmentId::new(transfer, seg.index), seg.flags);
        file.note_header(seg.index, &header);
        file.write_segment(seg.index, &data).unwrap();
    }
    file.finish().unwrap();
    let copy = mp4_path(&raw);
    assert_eq!(packets(&copy, "v:0"), 180);
    assert_eq!(packets(&copy, "a:0"), 283);
    decodes_cleanly(&copy);
}
