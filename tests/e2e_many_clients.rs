//! Ten clients upload to one platform at once, each transfer verified.

mod e2e_support;

use e2e_support::*;
use std::collections::HashSet;
use vstream::media::SegmentMode;

const CLIENTS: usize = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_clients_upload_at_once_and_every_file_verifies() {
    let h = start_platform();
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        clients.push(connect_client(&h).await);
    }
    let sessions = h.platform.wait_for_sessions(CLIENTS).await;
    assert_eq!(sessions.len(), CLIENTS);
    let ids: HashSet<_> = sessions.iter().map(|s| s.session_id).collect();
    assert_eq!(ids.len(), CLIENTS, "every session has its own id");

    // A mix of files and modes, all requested before any finishes.
    let plan = [
        ("test_videos/main_bframes.h264", SegmentMode::Frame),
        ("test_videos/av.mp4", SegmentMode::Fixed),
        ("test_videos/baseline.h264", SegmentMode::Gop),
        ("test_videos/data.bin", SegmentMode::Auto),
        ("test_videos/high_slices.h264", SegmentMode::Time),
    ];
    let mut handles = Vec::new();
    for (i, session) in sessions.iter().enumerate() {
        let (path, mode) = plan[i % plan.len()];
        let mut request = vstream::wire::FileRequest::new(path);
        request.segment_mode = mode;
        let handle = h
            .platform
            .request_file(session.session_id, request)
            .await
            .unwrap();
        handles.push((path, handle));
    }
    let mut outputs = HashSet::new();
    for (path, handle) in handles {
        let result = handle.finished().await.unwrap();
        assert_identical(&result, &repo().join(path));
        assert!(
            outputs.insert(result.file.path.clone()),
            "outputs are per session"
        );
    }
    for (_endpoint, client) in clients {
        client.close().await.unwrap();
    }
}
