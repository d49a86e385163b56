//! The platform's library API end to end (the specification's server example): list
//! sessions, query a client's files, steer a realtime upload (pause, resume, rate, stop),
//! read the client's statistics and the transfers' progress; and the binary envelope on
//! bidirectional streams.

mod e2e_support;

use e2e_support::*;
use std::time::Duration;
use vstream::media::SegmentMode;
use vstream::net::ALPN;
use vstream::session::{TransferOutcome, TransferState};
use vstream::wire::{
    BinaryEnvelope, FileRequest, Message, Pacing, Pause, PlaybackCommand, PlaybackControl,
    PlaybackState, ProtocolVersion, Resume, SetRate, StatsRequest, StatusCode, Stop,
};

fn control(command: PlaybackCommand) -> PlaybackControl {
    PlaybackControl::new(command)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_platform_api_lists_queries_steers_and_reports() {
    let h = start_platform();
    let (_endpoint, client) = connect_client(&h).await;
    let sessions = h.platform.wait_for_sessions(1).await;
    assert_eq!(h.platform.sessions().len(), 1);
    let session = sessions[0].session_id;
    assert_eq!(client.progress().session_id, Some(session));
    let served = client.available_files().await;
    assert!(served
        .iter()
        .any(|f| f.file_path == "test_videos/av.mp4" && f.checksum.is_some()));

    // The client's files, filtered by format.
    let files = h
        .platform
        .query_files(session, Some("h264".into()))
        .await
        .unwrap();
    let names: Vec<&str> = files.iter().map(|f| f.file_path.as_str()).collect();
    // Every H.264 file under test_videos/ (the content decides the format, D72).
    let h264 = walk_h264(&repo().join("test_videos"));
    assert_eq!(names.len(), h264, "{names:?}");
    assert!(names.contains(&"test_videos/main_bframes.h264"));
    assert!(files.iter().all(|f| f.format == "h264" && f.available));

    // A realtime upload of a 10 s video, steered while it runs.
    let mut request = FileRequest::new("test_videos/main_bframes.h264");
    request.segment_mode = SegmentMode::Frame;
    request.pacing = Pacing::Realtime;
    let handle = h.platform.request_file(session, request).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let paused = h
        .platform
        .playback(session, control(PlaybackCommand::Pause(Pause::default())))
        .await
        .unwrap();
    assert_eq!(paused.state, PlaybackState::Paused);
    let resumed = h
        .platform
        .playback(session, control(PlaybackCommand::Resume(Resume::default())))
        .await
        .unwrap();
    assert_eq!(resumed.state, PlaybackState::Streaming);
    let faster = h
        .platform
        .playback(
            session,
            control(PlaybackCommand::SetRate(SetRate {
                rate: 4.0,
                smooth_transition: false,
                maintain_audio: false,
            })),
        )
        .await
        .unwrap();
    assert_eq!(faster.rate, 4.0);
    let progress = h.platform.transfers(session).await.unwrap();
    assert_eq!(progress.len(), 1);
    assert_eq!(progress[0].status.state, TransferState::Receiving);
    assert!(
        progress[0].status.received_segments < 300,
        "{:?}",
        progress[0]
    );
    let figures = progress[0]
        .figures
        .as_ref()
        .expect("figures while receiving");
    assert_eq!(figures.total_segments, progress[0].status.received_segments);
    let stopped = h
        .platform
        .playback(session, control(PlaybackCommand::Stop(Stop::default())))
        .await
        .unwrap();
    assert_eq!(stopped.state, PlaybackState::Stopped);
    let result = tokio::time::timeout(Duration::from_secs(10), handle.finished())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(result.outcome, TransferOutcome::Stopped);
    assert_eq!(result.report.outcome, "stopped");
    assert!(!result.sha256_ok, "a stopped transfer is partial");
    assert!(result.report.report_file.exists());

    // The client's statistics (StatsRequest).
    let stats = h
        .platform
        .stats(session, StatsRequest::default())
        .await
        .unwrap();
    assert!(stats.is_object(), "{stats}");

    // A rate out of range is refused with 400, locally or by the client.
    let err = h
        .platform
        .playback(
            session,
            control(PlaybackCommand::SetRate(SetRate {
                rate: 10.0,
                smooth_transition: false,
                maintain_audio: false,
            })),
        )
        .await
        .unwrap_err();
    assert_eq!(err.status_code(), Some(StatusCode::BadRequest), "{err:?}");

    // The client's view of the same session.
    let progress = client.progress();
    assert_eq!(progress.transfers.len(), 1);
    assert_eq!(
        progress.transfers[0].outcome,
        Some(TransferOutcome::Stopped)
    );

    // Finalize: the platform closes the session; the client ends normally.
    h.platform.close_session(session).unwrap();
    let summary = tokio::time::timeout(Duration::from_secs(5), client.finished())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(summary.session_id, Some(session));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binary_enveloped_request_on_a_bidirectional_stream_is_answered_in_kind() {
    let h = start_platform();
    let endpoint = client_endpoint_for(&h, ALPN);
    let conn = endpoint
        .connect(h.addr, "localhost")
        .unwrap()
        .await
        .unwrap();
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    let hello = BinaryEnvelope::wrap(
        &Message::VersionNegotiation(ProtocolVersion::CURRENT),
        1,
        1_700_000_000_000,
    )
    .unwrap();
    send.write_all(&hello.to_bytes()).await.unwrap();
    send.finish().unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(5), recv.read_to_end(1 << 20))
        .await
        .unwrap()
        .unwrap();
    let answer = BinaryEnvelope::decode_exact(&answer).unwrap();
    match answer.message().unwrap() {
        Message::StatusResponse(r) => assert_eq!(r.code, StatusCode::Success),
        other => panic!("expected a StatusResponse, got {other:?}"),
    }
}

/// A FileRequest with a seek position: sending starts at the keyframe at or before it,
/// the transfer completes, and the report says which media range arrived.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeked_request_starts_at_the_keyframe_before_the_position() {
    let h = start_platform();
    let (_endpoint, client) = connect_client(&h).await;
    let session = h.platform.wait_for_session().await.session_id;
    let mut request = FileRequest::new("test_videos/main_bframes.h264");
    request.segment_mode = SegmentMode::Frame;
    request.seek_position = Some(5.0);
    let handle = h.platform.request_file(session, request).await.unwrap();
    // Keyframes every 60 frames at 30 fps: the one at or before 5.0 s is frame 120 (4.0 s).
    assert_eq!(handle.ack.start_segment, 120);
    let result = handle.finished().await.unwrap();
    assert_eq!(result.outcome, TransferOutcome::Completed);
    assert!(
        !result.sha256_ok,
        "a part of the file is not the whole file"
    );
    assert_eq!(result.report.frames, 180);
    assert_eq!(result.report.keyframes, 3);
    let (start, end) = result.report.media_ranges[0];
    assert!(
        (start - 4.0).abs() < 1e-6 && (end - 10.0).abs() < 1e-6,
        "{start}-{end}"
    );
    client.close().await.unwrap();
}

/// A client that reconnects naming its previous session gets that session id back once
/// the old connection has ended, and transfers go on in it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnecting_client_is_reattached_to_its_previous_session() {
    use std::sync::Arc;
    use vstream::catalog::Catalog;
    use vstream::client::{Client, ClientConfig};

    let h = start_platform();
    let (_endpoint, first) = connect_client(&h).await;
    let previous = h.platform.wait_for_session().await.session_id;
    first.close().await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !h
        .platform
        .sessions()
        .iter()
        .any(|s| s.session_id == previous && s.ended)
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the first session did not end"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let endpoint = client_endpoint_for(&h, vstream::net::ALPN);
    let catalog = Arc::new(Catalog::new(repo()).unwrap());
    catalog.register("test_videos").unwrap();
    let config = ClientConfig {
        resume_session: Some(previous),
        ..ClientConfig::default()
    };
    let mut again = Client::connect(&endpoint, h.addr, "localhost", catalog, config)
        .await
        .unwrap();
    assert_eq!(again.wait_active().await, Some(previous));
    let info = h.platform.wait_for_session().await;
    assert_eq!(info.session_id, previous);
    assert_eq!(info.previous_session, Some(previous));
    let path = "test_videos/aud.h264";
    let result = pull(&h, previous, path, SegmentMode::Frame).await;
    assert_identical(&result, &repo().join(path));
    assert!(result
        .file
        .path
        .starts_with(h.out.path().join(previous.to_string())));
    again.close().await.unwrap();
}

/// How many `.h264` files there are under `dir`, recursively.
fn walk_h264(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            if p.is_dir() {
                walk_h264(&p)
            } else {
                usize::from(p.extension().is_some_and(|e| e == "h264"))
            }
        })
        .sum()
}
