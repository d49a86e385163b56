//! quinn inside the turmoil simulator through the runtime seam: the same endpoint code as
//! on real UDP, over `SimUdpSocket`, with seeded per-datagram faults.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use vstream::net::{
    build_endpoint, client_crypto_with, server_crypto_with, Congestion, LinkCounters, LinkFaults,
    SeededCrypto, ServerVerification, SimUdpSocket, TransportSettings, ALPN,
};

const PORT: u16 = 8080;

struct Outcome {
    answer: Vec<u8>,
    client: LinkCounters,
    platform: LinkCounters,
}

/// Moves `size` bytes client -> platform over one stream; the platform answers with the
/// byte count and a checksum it computed. Every source of randomness is drawn from `seed`.
fn transfer(seed: u64, faults: LinkFaults, size: usize, congestion: Congestion) -> Outcome {
    let transport = TransportSettings {
        congestion,
        ..TransportSettings::default()
    };
    let server_transport = transport.clone();
    let mut sim = turmoil::Builder::new()
        .simulation_duration(Duration::from_secs(120))
        .min_message_latency(Duration::from_millis(10))
        .max_message_latency(Duration::from_millis(10))
        .udp_capacity(4096)
        .rng_seed(seed)
        .build();
    let platform_rng = SeededCrypto::new(seed ^ 0x5eed_0001);
    let client_rng = SeededCrypto::new(seed ^ 0x5eed_0002);
    let cert = Arc::new(platform_rng.certificate(&["platform"]).unwrap());
    let server_cert = Arc::clone(&cert);
    let platform_counters = Arc::new(Mutex::new(None));
    let platform_counters_out = Arc::clone(&platform_counters);
    sim.host("platform", move || {
        let cert = Arc::clone(&server_cert);
        let transport = server_transport.clone();
        let counters_out = Arc::clone(&platform_counters_out);
        async move {
            let crypto = server_crypto_with(
                platform_rng.provider(),
                vec![cert.cert.clone()],
                cert.key.clone_key().into(),
            )?;
            let config = platform_rng.server_config(crypto, &transport)?;
            let addr = SocketAddr::from((Ipv4Addr::UNSPECIFIED, PORT));
            let socket = SimUdpSocket::bind(addr, faults, seed ^ 0xA5A5).await?;
            let endpoint =
                build_endpoint(socket.clone(), Some(config), platform_rng.endpoint_config())?;
            let conn = endpoint.accept().await.ok_or("no connection")?.await?;
            let mut recv = conn.accept_uni().await?;
            let data = recv.read_to_end(64 * 1024 * 1024).await?;
            let sum: u64 = data.iter().map(|&b| u64::from(b)).sum();
            let mut send = conn.open_uni().await?;
            send.write_all(format!("{} {}", data.len(), sum).as_bytes())
                .await?;
            send.finish()?;
            // The run ends when the client does: snapshot now, a deterministic point.
            *counters_out.lock().unwrap() = Some(socket.counters());
            conn.closed().await;
            Ok(())
        }
    });
    let answer = Arc::new(Mutex::new(Vec::new()));
    let counters = Arc::new(Mutex::new(None));
    let (answer_out, counters_out) = (Arc::clone(&answer), Arc::clone(&counters));
    sim.client("client", async move {
        let roots = ServerVerification::Roots(vec![cert.cert.clone()]);
        let crypto = client_crypto_with(client_rng.provider(), &roots, ALPN)?;
        let config = client_rng.client_config(crypto, &transport)?;
        let socket =
            SimUdpSocket::bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)), faults, seed).await?;
        let endpoint = build_endpoint(socket.clone(), None, client_rng.endpoint_config())?;
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
    let client = counters.lock().unwrap().expect("client finished");
    let platform = platform_counters
        .lock()
        .unwrap()
        .expect("platform finished");
    Outcome {
        answer,
        client,
        platform,
    }
}

fn expected_answer(size: usize) -> Vec<u8> {
    let sum: u64 = (0..size).map(|i| (i % 251) as u64).sum();
    format!("{size} {sum}").into_bytes()
}

#[test]
fn clean_link_moves_a_stream_intact() {
    let size = 1024 * 1024;
    let out = transfer(1, LinkFaults::default(), size, Congestion::Bbr);
    assert_eq!(out.answer, expected_answer(size));
    assert_eq!(out.client.lost, 0);
    assert!(out.client.sent > 700, "{:?}", out.client);
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
        let out = transfer(seed, faults, size, Congestion::Bbr);
        assert_eq!(out.answer, expected_answer(size), "seed {seed}");
        assert!(
            out.client.lost > 0 && out.client.duplicated > 0,
            "seed {seed}: {:?}",
            out.client
        );
    }
}

#[test]
fn same_seed_gives_identical_traffic_with_cubic() {
    let size = 256 * 1024;
    let faults = LinkFaults {
        loss: 0.02,
        ..LinkFaults::default()
    };
    let a = transfer(42, faults, size, Congestion::Cubic);
    let b = transfer(42, faults, size, Congestion::Cubic);
    assert_eq!(a.answer, expected_answer(size));
    assert_eq!(
        a.client, b.client,
        "client traffic differs between two runs of seed 42"
    );
    assert_eq!(
        a.platform, b.platform,
        "platform traffic differs between two runs of seed 42"
    );
    let c = transfer(43, faults, size, Congestion::Cubic);
    assert_ne!(
        a.client.trace_hash, c.client.trace_hash,
        "seeds 42 and 43 gave the same traffic"
    );
}
