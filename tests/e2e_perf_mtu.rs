//! D102 on real loopback UDP (MTU 65536): with `max_udp_payload` raised on both sides, MTU
//! discovery climbs above Ethernet's 1500 and stays there through a bulk upload, with no
//! black hole detected; with the defaults it stops at 1452.

use std::net::SocketAddr;
use std::time::Duration;
use vstream::net::{
    client_config, client_crypto, client_endpoint_with, platform_endpoint_with, server_config,
    server_crypto, SelfSignedCert, ServerVerification, TransportSettings, ALPN,
};

const LOOPBACK: &str = "127.0.0.1:0";

/// Uploads `bytes` on one stream over loopback and returns the sender's path statistics.
async fn upload(transport: TransportSettings, bytes: usize) -> quinn::PathStats {
    let cert = SelfSignedCert::generate(&["localhost"]).unwrap();
    let crypto = server_crypto(vec![cert.cert.clone()], cert.key.clone_key().into()).unwrap();
    let server = platform_endpoint_with(
        LOOPBACK.parse().unwrap(),
        server_config(crypto, &transport).unwrap(),
        &transport,
    )
    .unwrap();
    let server_addr: SocketAddr = server.local_addr().unwrap();
    let receiver = tokio::spawn(async move {
        let conn = server.accept().await.unwrap().await.unwrap();
        let mut recv = conn.accept_uni().await.unwrap();
        let mut total = 0usize;
        while let Some(chunk) = recv.read_chunk(1 << 20, true).await.unwrap() {
            total += chunk.bytes.len();
        }
        conn.close(0u32.into(), b"done");
        total
    });
    let crypto = client_crypto(&ServerVerification::Roots(vec![cert.cert.clone()]), ALPN).unwrap();
    let client = client_endpoint_with(
        LOOPBACK.parse().unwrap(),
        client_config(crypto, &transport).unwrap(),
        &transport,
    )
    .unwrap();
    let conn = client
        .connect(server_addr, "localhost")
        .unwrap()
        .await
        .unwrap();
    let mut send = conn.open_uni().await.unwrap();
    let chunk = vec![0x5au8; 1 << 20];
    for _ in 0..bytes / chunk.len() {
        send.write_all(&chunk).await.unwrap();
    }
    send.finish().unwrap();
    let received = tokio::time::timeout(Duration::from_secs(60), receiver)
        .await
        .expect("upload finished")
        .unwrap();
    assert_eq!(received, bytes);
    conn.stats().path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jumbo_payloads_are_discovered_and_kept_through_a_bulk_upload() {
    let transport = TransportSettings {
        max_udp_payload: 8952,
        ..TransportSettings::default()
    };
    let path = upload(transport, 32 << 20).await;
    assert_eq!(path.black_holes_detected, 0, "{path:?}");
    assert!(path.current_mtu > 1500, "{path:?}");
    assert!(path.current_mtu <= 8952, "{path:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_payloads_stay_within_ethernet() {
    let path = upload(TransportSettings::default(), 4 << 20).await;
    assert!(path.current_mtu <= 1452, "{path:?}");
}
