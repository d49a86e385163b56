//! Errors end to end, on loopback UDP: refusals reach the platform's API with their status
//! codes; garbage on a stream is answered with ErrorReport 400 and the connection lives on;
//! a wrong ALPN or protocol version is refused cleanly.

mod e2e_support;

use e2e_support::*;
use std::time::Duration;
use vstream::media::SegmentMode;
use vstream::net::ALPN;
use vstream::platform::PlatformError;
use vstream::wire::{FileRequest, Message, ProtocolVersion, StatusCode};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_reach_the_platform_api_with_their_status_codes() {
    let h = start_platform();
    let (_endpoint, client) = connect_client(&h).await;
    let session = h.platform.wait_for_session().await.session_id;

    // 404: no such file, and a path leaving the served root (same answer).
    for path in ["test_videos/no_such_video.h264", "../Cargo.toml"] {
        let err = h
            .platform
            .request_file(session, FileRequest::new(path))
            .await
            .unwrap_err();
        assert!(
            matches!(err, PlatformError::Refused { .. }),
            "{path}: {err:?}"
        );
        assert_eq!(err.status_code(), Some(StatusCode::NotFound), "{path}");
    }

    // 400: a field out of range is refused before it leaves (priority 0)...
    let mut request = FileRequest::new("test_videos/main_bframes.h264");
    request.priority = 0;
    let err = h.platform.request_file(session, request).await.unwrap_err();
    assert_eq!(err.status_code(), Some(StatusCode::BadRequest), "{err:?}");

    // ...and a seek past the end of the file is refused by the client with 400.
    let mut request = FileRequest::new("test_videos/main_bframes.h264");
    request.segment_mode = SegmentMode::Frame;
    request.seek_position = Some(9999.0);
    let err = h.platform.request_file(session, request).await.unwrap_err();
    assert_eq!(err.status_code(), Some(StatusCode::BadRequest), "{err:?}");

    // The session lives on: a transfer still works.
    let path = "test_videos/baseline.h264";
    let result = pull(&h, session, path, SegmentMode::Frame).await;
    assert_identical(&result, &repo().join(path));
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_stream_gets_error_report_400_and_the_connection_lives_on() {
    let h = start_platform();
    let (_raw_endpoint, conn) = raw_session(&h).await;
    let raw_session_id = h.platform.wait_for_session().await.session_id;

    let mut garbage = conn.open_uni().await.unwrap();
    garbage.write_all(b"\xFFgarbage").await.unwrap();
    let _ = garbage.finish();
    let report = receive(&conn).await;
    assert!(matches!(report, Message::ErrorReport(_)), "{report:?}");
    assert_eq!(status_of(&report), StatusCode::BadRequest);

    // The connection lives on: still open, and the platform still talks to it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(conn.close_reason().is_none(), "{:?}", conn.close_reason());
    let platform = h.platform.clone();
    let query = tokio::spawn(async move { platform.query_files(raw_session_id, None).await });
    let asked = receive(&conn).await;
    assert!(matches!(asked, Message::FileListQuery(_)), "{asked:?}");
    query.abort();

    // And the platform still receives transfers.
    let (_endpoint, client) = connect_client(&h).await;
    let sessions = h.platform.wait_for_sessions(2).await;
    let session = sessions
        .iter()
        .find(|s| s.session_id != raw_session_id)
        .unwrap()
        .session_id;
    let path = "test_videos/high_slices.h264";
    let result = pull(&h, session, path, SegmentMode::Frame).await;
    assert_identical(&result, &repo().join(path));
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_version_2_is_refused_with_1008_and_the_connection_closed() {
    let h = start_platform();
    let endpoint = client_endpoint_for(&h, ALPN);
    let conn = endpoint
        .connect(h.addr, "localhost")
        .unwrap()
        .await
        .unwrap();
    send(
        &conn,
        &Message::VersionNegotiation(ProtocolVersion::new(2, 0, 0)),
        1,
    )
    .await;
    let answer = receive(&conn).await;
    assert_eq!(status_of(&answer), StatusCode::ProtocolVersionMismatch);
    let closed = tokio::time::timeout(Duration::from_secs(5), conn.closed())
        .await
        .expect("the platform closes the connection");
    match closed {
        quinn::ConnectionError::ApplicationClosed(close) => {
            assert_eq!(close.error_code.into_inner(), 1008)
        }
        other => panic!("expected an application close with 1008, got {other:?}"),
    }
    assert!(h.platform.sessions().iter().all(|s| !s.ready));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_alpn_is_refused_by_the_tls_handshake() {
    let h = start_platform();
    let endpoint = client_endpoint_for(&h, b"h3");
    let err = endpoint
        .connect(h.addr, "localhost")
        .unwrap()
        .await
        .unwrap_err();
    let code = match &err {
        quinn::ConnectionError::ConnectionClosed(close) => u64::from(close.error_code),
        quinn::ConnectionError::TransportError(t) => u64::from(t.code),
        other => panic!("unexpected error {other:?}"),
    };
    // CRYPTO_ERROR carrying TLS alert 120 no_application_protocol.
    assert_eq!(code, 0x100 + 120, "{err:?}");
    assert!(h.platform.sessions().is_empty());
    // The platform still serves well-behaved clients.
    let (_endpoint, client) = connect_client(&h).await;
    client.close().await.unwrap();
}

/// A hand-made client acknowledges a 4-byte fixed-mode transfer, sends its segment with
/// bytes beyond the header's length (stopped with 1006 and reported), then sends it
/// properly: the transfer completes and verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segment_stream_longer_than_its_header_is_stopped_with_1006() {
    use sha2::{Digest, Sha256};
    use vstream::wire::{
        FileRequestAck, Segment, SegmentFlags, SegmentId, TransferId, VideoHeader,
    };

    let h = start_platform();
    let (_raw_endpoint, conn) = raw_session(&h).await;
    let session = h.platform.wait_for_session().await.session_id;
    let platform = h.platform.clone();
    let request = tokio::spawn(async move {
        let mut request = FileRequest::new("x.bin");
        request.segment_mode = SegmentMode::Fixed;
        platform.request_file(session, request).await
    });
    let asked = receive_envelope(&conn).await;
    assert!(matches!(asked.message().unwrap(), Message::FileRequest(_)));
    let data = b"data";
    let transfer = TransferId::new(0x0123_4567_89ab).unwrap();
    let ack = FileRequestAck {
        ack: asked.sequence_number,
        transfer_id: transfer,
        file_path: "x.bin".into(),
        file_size: data.len() as u64,
        checksum: Some(format!("sha256:{}", hex::encode(Sha256::digest(data)))),
        segment_mode: SegmentMode::Fixed,
        segment_size: Some(data.len() as u64),
        total_segments: 1,
        start_segment: 0,
    };
    send(&conn, &Message::StatusResponse(ack.to_status_response()), 3).await;
    let handle = request.await.unwrap().unwrap();

    let segment = Segment::video(
        VideoHeader {
            id: SegmentId::new(transfer, 0),
            timestamp: 0.0,
            duration: 0.0,
            frame_count: 0,
            flags: SegmentFlags::END_OF_TRANSFER,
            data_length: 0,
            metadata: None,
        },
        bytes::Bytes::from_static(data),
    )
    .unwrap()
    .to_bytes();
    // Too long: the header says 4 data bytes, the stream carries 9.
    let mut stream = conn.open_uni().await.unwrap();
    let mut too_long = segment.clone();
    too_long.extend_from_slice(b"EXTRA");
    let _ = stream.write_all(&too_long).await;
    let _ = stream.finish();
    let stopped = tokio::time::timeout(Duration::from_secs(5), stream.stopped())
        .await
        .unwrap();
    // The stop reaches the sender only if it arrives before every byte was acknowledged
    // (on loopback, 9 bytes are usually acknowledged first); the ErrorReport always does.
    let stopped = stopped.unwrap();
    assert!(
        stopped.is_none() || stopped == Some(quinn::VarInt::from_u32(1006)),
        "{stopped:?}"
    );
    assert_eq!(status_of(&receive(&conn).await), StatusCode::StreamTooLong);
    let progress = h.platform.transfers(session).await.unwrap();
    assert_eq!(
        progress[0].status.received_segments, 0,
        "nothing of it was written"
    );

    // Sent properly, the segment completes the transfer.
    let mut stream = conn.open_uni().await.unwrap();
    stream.write_all(&segment).await.unwrap();
    stream.finish().unwrap();
    let result = tokio::time::timeout(Duration::from_secs(5), handle.finished())
        .await
        .unwrap()
        .unwrap();
    assert!(result.sha256_ok);
    assert_eq!(std::fs::read(&result.file.path).unwrap(), data);
}
