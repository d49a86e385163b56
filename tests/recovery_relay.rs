//! The outage relay of the recovery tests forwards both ways and, while down, loses
//! everything in both directions.

mod recovery_support;

use recovery_support::udp_relay::UdpRelay;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::time::timeout;

async fn echo_server() -> std::net::SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            let _ = socket.send_to(&buf[..n], from).await;
        }
    });
    addr
}

async fn ping(client: &UdpSocket, relay: &UdpRelay, payload: &[u8]) -> Option<Vec<u8>> {
    client.send_to(payload, relay.addr()).await.unwrap();
    let mut buf = [0u8; 1500];
    let (n, _) = timeout(Duration::from_millis(300), client.recv_from(&mut buf))
        .await
        .ok()?
        .ok()?;
    Some(buf[..n].to_vec())
}

#[tokio::test]
async fn relay_forwards_then_black_holes_then_forwards_again() {
    let relay = UdpRelay::start(echo_server().await).await.unwrap();
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    assert_eq!(
        ping(&client, &relay, b"one").await.as_deref(),
        Some(&b"one"[..])
    );
    assert_eq!(relay.counts(), (2, 0));

    relay.set_down(true);
    assert_eq!(ping(&client, &relay, b"lost").await, None);
    assert_eq!(relay.counts(), (2, 1));

    // Down for a while, then up again by itself.
    let started = tokio::time::Instant::now();
    relay.black_hole_for(Duration::from_millis(200)).await;
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert!(!relay.is_down());
    assert_eq!(
        ping(&client, &relay, b"back").await.as_deref(),
        Some(&b"back"[..])
    );
}
