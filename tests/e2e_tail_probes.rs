//! Tail probes (docs/protocol.md D109) end to end over loopback QUIC: the platform
//! advertises QUIC datagrams, reads whatever datagrams a client sends and discards them
//! (the session lives on and still answers), and a platform that does not accept datagrams
//! receives none and still gets realtime transfers whole.

mod e2e_support;

use bytes::Bytes;
use e2e_support::*;
use std::time::Duration;
use vstream::media::SegmentMode;
use vstream::net::TransportSettings;
use vstream::wire::{FileRequest, Message, Pacing};

const VIDEO: &str = "test_videos/main_bframes.h264";

/// A realtime pull of [`VIDEO`] at rate 4 (about 2.5 s) from a new library client (which
/// follows each segment with tail probes where the platform accepts datagrams) arrives
/// whole. `others` sessions are live beside it.
async fn realtime_pull_arrives_whole(h: &Harness, others: &[uuid::Uuid]) {
    let (_endpoint, client) = connect_client(h).await;
    let sessions = h.platform.wait_for_sessions(others.len() + 1).await;
    let session = sessions
        .iter()
        .find(|s| !others.contains(&s.session_id))
        .unwrap()
        .session_id;
    let mut request = FileRequest::new(VIDEO);
    request.segment_mode = SegmentMode::Frame;
    request.pacing = Pacing::Realtime;
    request.playback_rate = 4.0;
    let handle = h.platform.request_file(session, request).await.unwrap();
    let result = tokio::time::timeout(Duration::from_secs(20), handle.finished())
        .await
        .expect("the transfer ends")
        .unwrap();
    assert_identical(&result, &repo().join(VIDEO));
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_platform_discards_datagrams_and_the_session_lives_on() {
    let h = start_platform();
    let (_raw_endpoint, conn) = raw_session(&h).await;
    let session = h.platform.wait_for_session().await.session_id;
    let max = conn
        .max_datagram_size()
        .expect("the platform advertises datagram support");
    // Far more than the platform holds (64 KiB): empty probes, full-size datagrams and
    // garbage, in bursts the platform must keep up with.
    for i in 0..400u32 {
        let data = match i % 3 {
            0 => Bytes::new(),
            1 => Bytes::from(vec![0xAB; max]),
            _ => Bytes::from(i.to_be_bytes().to_vec()),
        };
        conn.send_datagram(data).unwrap();
        if i % 40 == 39 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(conn.close_reason().is_none(), "{:?}", conn.close_reason());
    // The platform still talks to the session.
    let platform = h.platform.clone();
    let query = tokio::spawn(async move { platform.query_files(session, None).await });
    let asked = receive(&conn).await;
    assert!(matches!(asked, Message::FileListQuery(_)), "{asked:?}");
    query.abort();
    // It sends no datagram back.
    let none = tokio::time::timeout(Duration::from_millis(100), conn.read_datagram()).await;
    assert!(none.is_err(), "{none:?}");
    // And a client that probes its realtime segments is served as ever.
    realtime_pull_arrives_whole(&h, &[session]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_without_datagrams_gets_none_and_realtime_transfers_whole() {
    let transport = TransportSettings {
        datagram_receive_buffer: None,
        ..TransportSettings::default()
    };
    let h = start_platform_transport(&transport, |_| {});
    // It advertises no datagram support, so no client may send one...
    let (_raw_endpoint, conn) = raw_session(&h).await;
    let raw = h.platform.wait_for_session().await.session_id;
    assert_eq!(conn.max_datagram_size(), None);
    assert!(matches!(
        conn.send_datagram(Bytes::new()),
        Err(quinn::SendDatagramError::UnsupportedByPeer)
    ));
    // ...and the library client sends realtime segments without their probes.
    realtime_pull_arrives_whole(&h, &[raw]).await;
}
