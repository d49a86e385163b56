//! The newer connection of a session wins (D66) and the transfer continues on it (D64):
//! a second connection names a session whose first connection is still alive (as a
//! stalled one would be, before QUIC notices); the platform re-attaches it, closes the old
//! connection, and asks the new one for exactly what it does not hold. Real quinn
//! endpoints on loopback, the library's platform and clients.

mod e2e_support;

use e2e_support::*;
use std::sync::Arc;
use std::time::Duration;
use vstream::catalog::Catalog;
use vstream::client::{Client, ClientConfig};
use vstream::media::SegmentMode;
use vstream::net::ALPN;
use vstream::session::TransferOutcome;
use vstream::wire::FileRequest;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_connection_of_a_live_session_takes_over_and_the_transfer_completes() {
    let h = start_platform_with(|c| c.wait_through_breaks = true);
    let (_first_endpoint, first) = connect_client(&h).await;
    let session = h.platform.wait_for_session().await.session_id;
    let path = "test_videos/data.bin";
    let mut request = FileRequest::new(path);
    request.segment_mode = SegmentMode::Fixed;
    // About 5 s for 1.2 MB: the takeover lands mid-transfer.
    request.max_bandwidth = Some(2_000_000);
    let handle = h.platform.request_file(session, request).await.unwrap();
    let total = handle.ack.total_segments;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let progress = h.platform.transfers(session).await.unwrap();
        let received = progress[0].status.received_segments;
        if received >= 1 {
            assert!(received < u64::from(total), "the transfer ended too soon");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "nothing arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A second connection of the same session while the first still lives.
    let endpoint = client_endpoint_for(&h, ALPN);
    let catalog = Arc::new(Catalog::new(repo()).unwrap());
    catalog.register("test_videos").unwrap();
    let config = ClientConfig {
        resume_session: Some(session),
        ..ClientConfig::default()
    };
    let mut second = Client::connect(&endpoint, h.addr, "localhost", catalog, config)
        .await
        .unwrap();
    assert_eq!(second.wait_active().await, Some(session), "re-attached");

    // The first connection is closed by the platform; the transfer finishes on the new one.
    let old = tokio::time::timeout(Duration::from_secs(10), first.finished())
        .await
        .expect("the old connection is closed at once");
    println!("the old connection ended: {old:?}");
    let result = tokio::time::timeout(Duration::from_secs(30), handle.finished())
        .await
        .expect("the transfer ends")
        .expect("a result");
    assert_eq!(result.outcome, TransferOutcome::Completed);
    assert_identical(&result, &repo().join(path));
    assert_eq!(result.report.resumed, 1);
    assert_eq!(result.report.resent_bytes, 0);
    assert_eq!(result.report.index_ranges, [(0, total - 1)]);
    assert!(!result.file.path.to_string_lossy().ends_with(".part"));
    let live: Vec<_> = h
        .platform
        .sessions()
        .into_iter()
        .filter(|s| s.session_id == session && !s.ended)
        .collect();
    assert_eq!(live.len(), 1, "one live entry for the session");
    second.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journals_past_their_age_expire_at_start_up_and_the_others_are_loaded() {
    use vstream::store::durable_fs::OsFs;
    use vstream::store::journal::{
        write_record, FileIdentity, JournalPaths, JournalRecord, SegmentRanges, TransferParams,
        JOURNAL_VERSION,
    };
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let mut written = Vec::new();
    let h = start_platform_with(|c| {
        c.journal_max_age = Duration::from_secs(3600);
        let dir = c.out_dir.join("00000000-0000-4000-8000-000000000001");
        std::fs::create_dir_all(&dir).unwrap();
        for (name, age_ms) in [("old.bin", 2 * 3600 * 1000), ("fresh.bin", 60 * 1000)] {
            let paths = JournalPaths::new(&dir.join(name));
            std::fs::write(&paths.part, b"held").unwrap();
            let mut held = SegmentRanges::new();
            held.insert(0);
            let record = JournalRecord {
                version: JOURNAL_VERSION,
                file: FileIdentity {
                    path: format!("cam/{name}"),
                    size: 8,
                    checksum: String::new(),
                },
                transfer: TransferParams {
                    session_id: "00000000-0000-4000-8000-000000000001".into(),
                    transfer_id: "0123456789ab".into(),
                    segment_mode: "fixed".into(),
                    segment_size: Some(4),
                    total_segments: 2,
                    start_segment: 0,
                },
                held,
                durable_prefix: 4,
                updated_unix_ms: now_ms - age_ms,
                device_id: None,
                requested_as: None,
            };
            write_record(&OsFs, &paths, &record).unwrap();
            written.push(paths);
        }
    });
    assert_eq!(h.platform.unfinished(), ["cam/fresh.bin"]);
    let (old, fresh) = (&written[0], &written[1]);
    assert!(!old.journal.exists() && !old.part.exists(), "expired");
    assert!(fresh.journal.exists() && fresh.part.exists(), "kept");
    assert!(h.platform.wait_for_unfinished("cam/fresh.bin").is_some());
    assert!(h.platform.wait_for_unfinished("cam/old.bin").is_none());
}
