//! quinn inside the turmoil simulator through the runtime seam: the same endpoint code as
//! on real UDP, over `SimUdpSocket`, with seeded per-datagram faults.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use vstream::net::{
    build_endpoint, client_config, client_crypto, server_config, server_crypto, LinkFaults,
    SelfSignedCert, ServerVerification, SimUdpSocket, TransportSettings, ALPN,
};

const PORT: u16 = 8080;

/// Moves `size` bytes client -> platform over one stream; the platform answers with the
/// byte count and a checksum it computed. Returns (answer, client link counters).
fn transfer(seed: u64, faults: LinkFaults, size: usize) -> (Vec<u8>, vstream::net::LinkCounters) {
    let mut sim = turmoil::Builder::new()
        .simulation_duration(Duration::from_secs(120))
        .min_message_latency(Duration::from_millis(10))
        .max_message_latency(Duration::from_millis(10))
        .udp_capacity(4096)
        .rng_seed(seed)
        .build();
    let cert = Arc::new(SelfSignedCert::generate(&["platform"]).unwrap());
    let server_cert = Arc::clone(&cert);
    sim.host("platform", move || {
        let cert = Arc::clone(&server_cert);
        async move {
            let crypto = server_crypto(vec![cert.cert.clone()], cert.key.clone_key().into())?;
            let config = server_config(crypto, &TransportSettings::default())?;
            let addr = SocketAddr::from((Ipv4Addr::UNSPECIFIED, PORT));
            let socket = SimUdpSocket::bind(addr, faults, seed ^ 0xA5A5).await?;
            let endpoint = build_endpoint(socket, Some(config), quinn::EndpointConfig::default())?;
            let conn = endpoint.accept().await.ok_or("no connection")?.await?;
            let mut recv = conn.accept_uni().await?;
            let data = recv.read_to_end(64 * 1024 * 1024).await?;
            let sum: u64 = data.iter().map(|&b| u64::from(b)).sum();
            let mut send = conn.open_uni().await?;
            send.write_all(format!("{} {}", data.len(), sum).as_bytes())
                .await?;
            send.finish()?;
            conn.closed().await;
            Ok(())
        }
    });
    let answer = Arc::new(Mutex::new(Vec::new()));
    let counters = Arc::new(Mutex::new(None));
    let (answer_out, counters_out) = (Arc::clone(&answer), Arc::clone(&counters));
    sim.client("client", async move {
        let crypto = client_crypto(&ServerVerification::Roots(vec![cert.cert.clone()]), ALPN)?;
        let config = client_config(crypto, &TransportSettings::default())?;
        let socket =
            SimUdpSocket::bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)), faults, seed).await?;
        let endpoint = build_endpoint(socket.clone(), None, quinn::EndpointConfig::default())?;
        let platform = SocketAddr::from((turmoil::lookup("platform"), PORT));
        let conn = endpoint.connect_with(config, platform, "platform")?.await?;
        let payload: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        let mut send = conn.open_uni().await?;
        send.write_all(&payload).await?;
        send.finish()?;
        let mut recv = conn.accept_uni().await?;
        *answer_out.lock().unwrap() = recv.read_to_end(1024).await?;
        *counters_out.lock().unwrap() = Some(socket.counters());
        conn.close(0u32.into(), b"done");
        Ok(())
    });
    if let Err(e) = sim.run() {
        panic!("seed {seed}: simulation failed: {e}");
    }
    let answer = answer.lock().unwrap().clone();
    let counters = counters.lock().unwrap().expect("client finished");
    (answer, counters)
}

fn expected_answer(size: usize) -> Vec<u8> {
    let sum: u64 = (0..size).map(|i| (i % 251) as u64).sum();
    format!("{size} {sum}").into_bytes()
}

#[test]
fn clean_link_moves_a_stream_intact() {
    let size = 1024 * 1024;
    let (answer, counters) = transfer(1, LinkFaults::default(), size);
    assert_eq!(answer, expected_answer(size));
    assert_eq!(counters.lost, 0);
    assert!(counters.sent > 700, "{counters:?}");
}

#[test]
fn two_percent_loss_and_duplicates_are_recovered_by_quic() {
    let size = 1024 * 1024;
    for seed in [7, 8] {
        let faults = LinkFaults {
            loss: 0.02,
            duplicate: 0.01,
            ..LinkFaults::default()
        };
        let (answer, counters) = transfer(seed, faults, size);
        assert_eq!(answer, expected_answer(size), "seed {seed}");
        assert!(
            counters.lost > 0 && counters.duplicated > 0,
            "seed {seed}: {counters:?}"
        );
    }
}
