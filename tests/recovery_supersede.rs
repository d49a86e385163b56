//! A new session of a device and the device's older connection (docs/protocol.md D117), on
//! real loopback UDP with the library's endpoints and drivers:
//!
//! - the older connection went silent (its path black-holed by a relay, as after a crash of
//!   its client): the platform closes it about 7 s after it last heard anything and the
//!   new session is asked for the rest at once; the file arrives exact;
//! - the older connection is healthy and its transfer paused (only keep-alives cross): it
//!   is never closed, however long the new session stays.
//!
//! Both clients are anonymous (`None` matches `None`, D64), the harder case: any other
//! anonymous client counts as the same device.

mod e2e_support;
mod recovery_support;

use e2e_support::*;
use recovery_support::udp_relay::UdpRelay;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use vstream::catalog::Catalog;
use vstream::client::{Client, ClientConfig};
use vstream::media::SegmentMode;
use vstream::net::ALPN;
use vstream::platform::{Observation, Observed};
use vstream::wire::{FileRequest, Pacing};

const FILE: &str = "test_videos/main_bframes.h264";

/// A library client serving the crate root, connected to `server` (the platform, or a relay
/// in front of it).
async fn client_via(h: &Harness, server: SocketAddr) -> (quinn::Endpoint, Client, uuid::Uuid) {
    let endpoint = client_endpoint_for(h, ALPN);
    let catalog = Arc::new(Catalog::new(repo()).unwrap());
    let mut client = Client::connect(
        &endpoint,
        server,
        "localhost",
        catalog,
        ClientConfig::default(),
    )
    .await
    .unwrap();
    client.register("test_videos").await.unwrap();
    let session = client.wait_active().await.expect("session established");
    (endpoint, client, session)
}

/// The first observation matching `wanted`, within `limit`.
async fn observed(
    rx: &mut mpsc::UnboundedReceiver<Observation>,
    limit: Duration,
    wanted: impl Fn(&Observation) -> bool,
) -> Option<Observation> {
    tokio::time::timeout(limit, async {
        while let Some(o) = rx.recv().await {
            if wanted(&o) {
                return Some(o);
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_of_the_device_is_closed_and_its_transfer_resumed_by_the_new_session() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("vstream=info")
        .with_test_writer()
        .try_init();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let h = start_platform_with(|c| {
        c.observer = Some(tx);
        c.wait_through_breaks = true;
    });
    let relay = UdpRelay::start(h.addr).await.unwrap();
    // A slow uplink, so the upload is mid-way when the path goes silent.
    relay.set_rate(Some(100_000));
    let (_a_endpoint, _a, first) = client_via(&h, relay.addr()).await;
    let mut request = FileRequest::new(FILE);
    request.segment_mode = SegmentMode::Frame;
    let handle = h
        .platform
        .request_file(first, request)
        .await
        .expect("transfer accepted");
    tokio::time::sleep(Duration::from_millis(1000)).await;

    // A's client is gone as far as the platform can tell: nothing crosses any more.
    relay.set_down(true);
    let silent_from = Instant::now();
    let (_b_endpoint, _b, second) = client_via(&h, h.addr).await;
    assert_ne!(first, second);

    let resumed = observed(&mut rx, Duration::from_secs(20), |o| {
        o.session == second && matches!(o.event, Observed::TransferResumed { .. })
    })
    .await
    .expect("the new session is asked for the rest");
    let after = resumed.at - silent_from.into_std();
    let a_info = h
        .platform
        .sessions()
        .into_iter()
        .find(|s| s.session_id == first)
        .expect("session A listed");
    assert!(a_info.ended, "A's connection is closed: {a_info:?}");
    let result = tokio::time::timeout(Duration::from_secs(30), handle.finished())
        .await
        .expect("the resumed transfer ends")
        .expect("a result");
    assert_identical(&result, &repo().join(FILE));
    assert_eq!(result.report.resumed, 1);
    println!(
        "silent connection closed and the transfer resumed on the new session {:.2} s after \
         the path went silent; {} bytes re-sent",
        after.as_secs_f64(),
        result.report.resent_bytes
    );
    // 7 s of silence plus four round trips (D117), and the one-second sampling; QUIC's
    // idle timeout (30 s) is far beyond. Not before the bound: the silence counts from the
    // last datagram, which crossed the relay at most a packet interval before it went down.
    assert!(
        after >= Duration::from_millis(6900) && after < Duration::from_secs(12),
        "{after:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_paused_connection_of_the_device_is_never_closed() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let h = start_platform_with(|c| c.observer = Some(tx));
    let (_a_endpoint, _a, first) = client_via(&h, h.addr).await;
    let mut request = FileRequest::new(FILE);
    request.segment_mode = SegmentMode::Frame;
    request.pacing = Pacing::Realtime;
    let _handle = h
        .platform
        .request_file(first, request)
        .await
        .expect("transfer accepted");
    tokio::time::sleep(Duration::from_millis(500)).await;
    h.platform.pause(first).await.expect("paused");

    // A new anonymous session while A's transfer stays paused, for longer than the
    // rule's bound (7 s) and a recheck.
    let (_b_endpoint, _b, second) = client_via(&h, h.addr).await;
    tokio::time::sleep(Duration::from_secs(10)).await;

    let a_info = h
        .platform
        .sessions()
        .into_iter()
        .find(|s| s.session_id == first)
        .expect("session A listed");
    assert!(
        !a_info.ended,
        "a healthy paused connection was closed: {a_info:?}"
    );
    while let Ok(o) = rx.try_recv() {
        assert!(
            !matches!(o.event, Observed::TransferResumed { .. }),
            "nothing was resumed elsewhere: {o:?}"
        );
    }
    // A's transfer is still A's: it resumes playing there.
    let ack = h.platform.resume(first).await.expect("resumed on A");
    println!("after 10 s paused beside session {second}: {ack:?}");
    h.platform.stop(first).await.expect("stopped");
}
