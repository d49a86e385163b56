//! The limits of issue 13 over real quinn on loopback (D96-D98): sessions per
//! authenticated device at the platform (1009 at SessionStart), and the client's limits on
//! its platform's requests (1009 beyond a rate, 503 beyond its transfers at once, both with
//! `retry_after`), which the platform's request API honours: it waits and asks again, a
//! bounded number of times. Each limit refuses at its bound and recovers.

mod e2e_support;

use e2e_support::*;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use vstream::auth::{DeviceAuth, Token, TokenFile};
use vstream::catalog::Catalog;
use vstream::client::{Client, ClientConfig};
use vstream::media::SegmentMode;
use vstream::net::ALPN;
use vstream::platform::{Observation, Observed, PlatformError};
use vstream::session::{ClientLimits, TransferOutcome};
use vstream::wire::{
    FileRequest, Message, Pacing, ProtocolVersion, SessionStart, StatsRequest, StatusCode,
    StatusResponse,
};

/// Two devices and their tokens, the platform's policy requiring them.
struct Devices {
    auth: DeviceAuth,
    cam1: Token,
    cam2: Token,
}

fn devices() -> Devices {
    let (cam1, cam2) = (Token::generate().unwrap(), Token::generate().unwrap());
    let file = format!("cam-1 {}\ncam-2 {}\n", cam1.hash(), cam2.hash());
    Devices {
        auth: DeviceAuth {
            tokens: Some(Arc::new(TokenFile::parse(&file).unwrap())),
            ..DeviceAuth::default()
        },
        cam1,
        cam2,
    }
}

/// A session handshaken by hand as `device`: the open connection, or the refusal's
/// StatusResponse and the code the connection was closed with.
async fn session_as(
    h: &Harness,
    device: &str,
    token: &Token,
) -> Result<quinn::Connection, (StatusResponse, Option<u64>)> {
    let endpoint = client_endpoint_for(h, ALPN);
    let conn = endpoint
        .connect(h.addr, "localhost")
        .unwrap()
        .await
        .unwrap();
    let version = Message::VersionNegotiation(ProtocolVersion::CURRENT);
    send(&conn, &version, 1).await;
    assert_eq!(status_of(&receive(&conn).await), StatusCode::Success);
    let start = SessionStart::with_device(device, Some(token.as_str())).unwrap();
    send(&conn, &Message::SessionStart(start), 2).await;
    let Message::StatusResponse(reply) = receive(&conn).await else {
        panic!("SessionStart not answered with a StatusResponse");
    };
    if reply.code == StatusCode::Success {
        return Ok(conn);
    }
    let closed = tokio::time::timeout(Duration::from_secs(5), conn.closed()).await;
    let code = match closed {
        Ok(quinn::ConnectionError::ApplicationClosed(c)) => Some(c.error_code.into_inner()),
        _ => None,
    };
    Err((reply, code))
}

#[tokio::test]
async fn sessions_per_device_refuse_at_the_bound_with_1009_and_recover() {
    let d = devices();
    let h = start_platform_with(|c| {
        c.session.auth = d.auth.clone();
        c.limits.max_sessions_per_device = 2;
    });
    let first = session_as(&h, "cam-1", &d.cam1).await.expect("first");
    let _second = session_as(&h, "cam-1", &d.cam1).await.expect("second");
    let (reply, closed_with) = session_as(&h, "cam-1", &d.cam1)
        .await
        .expect_err("a third session of cam-1 was accepted");
    assert_eq!(reply.code, StatusCode::RateLimitExceeded, "{reply:?}");
    assert!(
        reply.message.contains("maximum of 2 live sessions"),
        "{}",
        reply.message
    );
    assert_eq!(closed_with, Some(1009));
    // Another device is not affected.
    let _other = session_as(&h, "cam-2", &d.cam2)
        .await
        .expect("cam-2 has its own places");
    // One of cam-1's sessions ends: its place is free again.
    first.close(0u32.into(), b"done");
    let deadline = Instant::now() + Duration::from_secs(5);
    let _again = loop {
        match session_as(&h, "cam-1", &d.cam1).await {
            Ok(conn) => break conn,
            Err(refused) => assert!(Instant::now() < deadline, "no place freed: {refused:?}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // At the bound again: the library client reports the refusal with its code.
    let (_endpoint, client) = device_client(&h, "cam-1", &d.cam1, ClientLimits::unlimited()).await;
    let err = tokio::time::timeout(Duration::from_secs(10), client.finished())
        .await
        .expect("the refusal is prompt")
        .expect_err("refused");
    assert_eq!(err.status_code(), Some(StatusCode::RateLimitExceeded));
}

/// A library client serving the crate root as `device`, with `limits` on its platform's
/// requests.
async fn device_client(
    h: &Harness,
    device: &str,
    token: &Token,
    limits: ClientLimits,
) -> (quinn::Endpoint, Client) {
    let endpoint = client_endpoint_for(h, ALPN);
    let catalog = Arc::new(Catalog::new(repo()).unwrap());
    let mut config = ClientConfig::default();
    config.session.session_start = SessionStart::with_device(device, Some(token.as_str()));
    config.session.client_limits = limits;
    let client = Client::connect(&endpoint, h.addr, "localhost", catalog, config)
        .await
        .unwrap();
    (endpoint, client)
}

/// A platform requiring the devices' tokens, reporting its observations.
fn observed_platform(
    d: &Devices,
    attempts: u32,
) -> (Harness, mpsc::UnboundedReceiver<Observation>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let h = start_platform_with(|c| {
        c.session.auth = d.auth.clone();
        c.observer = Some(tx);
        c.refusal_retry.attempts = attempts;
    });
    (h, rx)
}

/// Waits for the next refusal the platform observed, and returns its code.
async fn next_refusal(observations: &mut mpsc::UnboundedReceiver<Observation>) -> StatusCode {
    let wait = async {
        loop {
            match observations.recv().await.expect("observer open").event {
                Observed::RequestRefused { code, .. } => return code,
                _ => continue,
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .expect("a refusal")
}

fn refusals_so_far(observations: &mut mpsc::UnboundedReceiver<Observation>) -> Vec<StatusCode> {
    let mut codes = Vec::new();
    while let Ok(o) = observations.try_recv() {
        if let Observed::RequestRefused { code, .. } = o.event {
            codes.push(code);
        }
    }
    codes
}

#[tokio::test]
async fn a_busy_client_refuses_with_503_and_the_platform_asks_again_after_retry_after() {
    let d = devices();
    let (h, mut observations) = observed_platform(&d, 3);
    let limits = ClientLimits {
        max_transfers: 1,
        busy_retry_after: Duration::from_millis(300),
        ..ClientLimits::unlimited()
    };
    let (_endpoint, mut client) = device_client(&h, "cam-1", &d.cam1, limits).await;
    client.register("test_videos").await.unwrap();
    client.wait_active().await.expect("session established");
    let session = h.platform.wait_for_session().await.session_id;
    // A realtime-paced transfer (4 s of video) holds the only place.
    let mut slow = FileRequest::new("test_videos/baseline.h264");
    slow.segment_mode = SegmentMode::Frame;
    slow.pacing = Pacing::Realtime;
    let slow = h.platform.request_file(session, slow).await.unwrap();
    // A second FileRequest is refused 503 (busy); the API waits and asks again...
    let platform = h.platform.clone();
    let second = tokio::spawn(async move {
        let mut request = FileRequest::new("test_videos/aud.h264");
        request.segment_mode = SegmentMode::Frame;
        platform.request_file(session, request).await
    });
    assert_eq!(
        next_refusal(&mut observations).await,
        StatusCode::ServiceUnavailable
    );
    // ...and once the first transfer stopped, the retry is accepted and completes.
    h.platform.stop(session).await.unwrap();
    let slow = slow.finished().await.unwrap();
    assert_eq!(slow.outcome, TransferOutcome::Stopped);
    let second = tokio::time::timeout(Duration::from_secs(10), second)
        .await
        .expect("the retry came")
        .unwrap()
        .expect("accepted on a retry");
    let result = tokio::time::timeout(Duration::from_secs(30), second.finished())
        .await
        .expect("finished")
        .unwrap();
    assert_identical(&result, &repo().join("test_videos/aud.h264"));

    // Bounded: while the place stays taken, the API gives up after its 3 retries, each
    // after the 300 ms asked, and returns the refusal with its retry_after.
    let mut slow = FileRequest::new("test_videos/baseline.h264");
    slow.pacing = Pacing::Realtime;
    let _slow = h.platform.request_file(session, slow).await.unwrap();
    refusals_so_far(&mut observations);
    let asked = Instant::now();
    let err = h
        .platform
        .request_file(session, FileRequest::new("test_videos/aud.h264"))
        .await
        .expect_err("the place is still taken");
    let waited = asked.elapsed();
    match err {
        PlatformError::Refused {
            code, retry_after, ..
        } => {
            assert_eq!(code, StatusCode::ServiceUnavailable);
            assert_eq!(retry_after, Some(Duration::from_millis(300)));
        }
        other => panic!("not a refusal: {other}"),
    }
    assert!(
        waited >= Duration::from_millis(900),
        "waited only {waited:?}"
    );
    assert!(waited < Duration::from_secs(5), "waited {waited:?}");
    assert_eq!(
        refusals_so_far(&mut observations),
        vec![StatusCode::ServiceUnavailable; 4],
        "the request and its 3 retries"
    );
}

#[tokio::test]
async fn the_request_rate_refuses_with_1009_and_the_platform_honours_retry_after() {
    let d = devices();
    let limits = ClientLimits {
        requests_per_sec: 5.0,
        request_burst: 1.0,
        ..ClientLimits::unlimited()
    };
    // Retries on: four StatsRequests in a row all succeed, paced by the client's
    // retry_after (one request per 200 ms).
    let (h, mut observations) = observed_platform(&d, 3);
    let (_endpoint, mut client) = device_client(&h, "cam-1", &d.cam1, limits.clone()).await;
    client.wait_active().await.expect("session established");
    let session = h.platform.wait_for_session().await.session_id;
    let started = Instant::now();
    for _ in 0..4 {
        h.platform
            .stats(session, StatsRequest::default())
            .await
            .expect("answered, after waiting if asked to");
    }
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(550), "took only {took:?}");
    let refused = refusals_so_far(&mut observations);
    assert!(
        !refused.is_empty() && refused.iter().all(|&c| c == StatusCode::RateLimitExceeded),
        "{refused:?}"
    );

    // Retries off: the second request in a row is refused with 1009 and says how long
    // to wait (at most the 200 ms a request takes to come back into the bucket).
    let (h, _observations) = observed_platform(&d, 0);
    let (_endpoint, mut client) = device_client(&h, "cam-2", &d.cam2, limits).await;
    client.wait_active().await.expect("session established");
    let session = h.platform.wait_for_session().await.session_id;
    h.platform
        .stats(session, StatsRequest::default())
        .await
        .unwrap();
    match h.platform.stats(session, StatsRequest::default()).await {
        Err(PlatformError::Refused {
            code: StatusCode::RateLimitExceeded,
            retry_after: Some(wait),
            ..
        }) => assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(200),
            "{wait:?}"
        ),
        other => panic!("not refused with 1009 and retry_after: {other:?}"),
    }
    // And it recovers once the wait is over.
    tokio::time::sleep(Duration::from_millis(250)).await;
    h.platform
        .stats(session, StatsRequest::default())
        .await
        .expect("the bucket refilled");
}
