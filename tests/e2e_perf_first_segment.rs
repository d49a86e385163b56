//! D101 over real quinn on loopback: a file whose checksum the client does not know yet is
//! acknowledged with `"checksum": null` and sent at once; the checksum follows, and the
//! platform still verifies the whole file against it. The report carries
//! `first_segment_secs`.

mod e2e_support;

use e2e_support::*;
use sha2::Digest;
use std::sync::Arc;
use std::time::Duration;
use vstream::catalog::Catalog;
use vstream::client::{Client, ClientConfig};
use vstream::media::SegmentMode;
use vstream::net::ALPN;
use vstream::wire::FileRequest;

/// `len` bytes of an xorshift sequence seeded with `seed`.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len.div_ceil(8))
        .flat_map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()
        })
        .take(len)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_not_hashed_yet_is_sent_at_once_and_still_verified() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("recording.bin");
    std::fs::write(&source, noise(8 << 20, 1)).unwrap();
    let catalog = Arc::new(Catalog::new(dir.path()).unwrap());
    catalog.register_root().unwrap();
    catalog.wait_for_checksums();
    // A new version (as a recorder appending would make): its checksum is not known, and
    // nothing hashes it until it is requested.
    let content = noise(12 << 20, 2);
    std::fs::write(&source, &content).unwrap();
    let checksum = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&content)));

    let h = start_platform();
    let endpoint = client_endpoint_for(&h, ALPN);
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
    let mut request = FileRequest::new("recording.bin");
    request.segment_mode = SegmentMode::Fixed;
    let handle = h.platform.request_file(session, request).await.unwrap();
    assert_eq!(handle.ack.checksum, None, "acknowledged before hashing");
    assert_eq!(handle.ack.file_size, content.len() as u64);
    let result = tokio::time::timeout(Duration::from_secs(60), handle.finished())
        .await
        .expect("finished")
        .unwrap();
    assert_identical(&result, &source);
    assert_eq!(result.report.expected_checksum, Some(checksum.clone()));
    assert_eq!(result.report.actual_checksum, Some(checksum));
    let first = result.report.figures.first_segment_secs.expect("a segment");
    assert!(first > 0.0 && first <= result.report.figures.total_secs);
    let json = serde_json::to_value(&result.report).unwrap();
    assert!(json["figures"]["first_segment_secs"].is_f64(), "{json}");
    client.close().await.unwrap();
}
