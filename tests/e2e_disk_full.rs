//! A full disk at the platform, end to end over real quinn on loopback (issue 10, D48): the
//! platform's disk budget (`PlatformConfig::disk_budget`, a write past it fails as ENOSPC
//! does) holds 20 MB and the client uploads a 50 MB file in fixed-size chunks. Both sides
//! must end the transfer within 10 s with 1003 StorageFull, with no retransmission loop, at
//! most one extra copy of the file sent, and a bounded number of warnings.
//! One test in this file: it installs a global subscriber that counts the crate's warnings.

mod e2e_support;

use e2e_support::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing_subscriber::layer::SubscriberExt;
use vstream::catalog::Catalog;
use vstream::client::{Client, ClientConfig};
use vstream::media::SegmentMode;
use vstream::net::ALPN;
use vstream::platform::{Observed, PlatformError};
use vstream::session::{SegmentVerdict, TransferOutcome};
use vstream::wire::{FileRequest, StatusCode};

const FILE_SIZE: usize = 50 * 1024 * 1024;
const BUDGET: u64 = 20 * 1024 * 1024;

/// Warnings and errors logged by the crate, and lines naming a retransmission.
static LOUD: AtomicUsize = AtomicUsize::new(0);
static RETRANSMIT: AtomicUsize = AtomicUsize::new(0);

struct CountLoud;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for CountLoud {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let meta = event.metadata();
        if !meta.target().starts_with("vstream") {
            return;
        }
        if *meta.level() <= tracing::Level::WARN {
            LOUD.fetch_add(1, Ordering::Relaxed);
        }
        struct Text(String);
        impl tracing::field::Visit for Text {
            fn record_debug(&mut self, _: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                self.0.push_str(&format!("{v:?}"));
            }
        }
        let mut text = Text(String::new());
        event.record(&mut text);
        if text.0.contains("retransmi") {
            RETRANSMIT.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_ends_the_transfer_on_both_sides_with_1003_within_10_s() {
    let subscriber = tracing_subscriber::registry().with(CountLoud);
    tracing::subscriber::set_global_default(subscriber).unwrap();
    let (tx, mut observed) = tokio::sync::mpsc::unbounded_channel();
    let h = start_platform_with(|c| {
        c.disk_budget = Some(BUDGET);
        c.observer = Some(tx);
    });
    let served = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..FILE_SIZE).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(served.path().join("big.bin"), &data).unwrap();
    let catalog = Arc::new(Catalog::new(served.path()).unwrap());
    let endpoint = client_endpoint_for(&h, ALPN);
    let config = ClientConfig::default();
    let mut client = Client::connect(&endpoint, h.addr, "localhost", catalog, config)
        .await
        .unwrap();
    client.register("big.bin").await.unwrap();
    client.wait_active().await.expect("session established");
    let session = h.platform.wait_for_session().await.session_id;

    let mut request = FileRequest::new("big.bin");
    request.segment_mode = SegmentMode::Fixed;
    let handle = h.platform.request_file(session, request).await.unwrap();
    let total = handle.ack.total_segments as usize;
    let started = Instant::now();

    // The platform: Failed(1003), its report saying so.
    let result = tokio::time::timeout(Duration::from_secs(10), handle.finished())
        .await
        .expect("the platform ends the transfer within 10 s");
    let full = TransferOutcome::Failed(StatusCode::StorageFull);
    match result {
        Ok(r) => {
            assert_eq!(r.outcome, full);
            assert!(!r.sha256_ok);
            assert!(r.report.outcome.contains("1003"), "{}", r.report.outcome);
        }
        Err(e) => panic!(
            "expected a report, got {e:?}: {}",
            PlatformError::ConnectionLost
        ),
    }

    // The client: the same outcome, in the machine, within the same 10 s.
    let client_outcome = loop {
        let progress = client.progress();
        if let Some(outcome) = progress.transfers.first().and_then(|t| t.outcome) {
            if outcome != TransferOutcome::Completed {
                break outcome;
            }
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{progress:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(client_outcome, full);
    let elapsed = started.elapsed();

    // No retransmission loop: every segment arrived at most twice, nothing after the end.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut arrivals = 0usize;
    let mut refused = 0usize;
    while let Ok(o) = observed.try_recv() {
        if let Observed::SegmentArrived { verdict, .. } = o.event {
            arrivals += 1;
            if verdict == SegmentVerdict::Refuse(StatusCode::StorageFull) {
                refused += 1;
            }
        }
    }
    let sent_bytes = client.progress().transfers[0].bytes;
    println!(
        "disk full: ended after {elapsed:?}; {arrivals} segment streams for {total} segments \
         ({refused} stopped with 1003); client counted {sent_bytes} bytes sent of {FILE_SIZE}"
    );
    assert!(
        arrivals <= 2 * total,
        "{arrivals} streams for {total} segments"
    );
    assert!(
        sent_bytes <= 2 * FILE_SIZE as u64,
        "{sent_bytes} bytes sent"
    );
    client.close().await.unwrap();

    // Bounded log output: a handful of warnings and errors, not one per segment.
    let (loud, retransmit) = (
        LOUD.load(Ordering::Relaxed),
        RETRANSMIT.load(Ordering::Relaxed),
    );
    println!("{loud} warning or error lines, {retransmit} naming a retransmission");
    assert!(loud <= 10, "{loud} warnings or errors");
    assert_eq!(retransmit, 0);
}
