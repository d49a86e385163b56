//! Datagram size (issue 15, D102): 256 MiB uploaded over loopback at 1452-byte payloads
//! (the default, segmentation offload on) and at 8952 (`max_udp_payload`, offload off), by
//! plain quinn (one stream, bytes from memory) and by vstream fixed mode (file read,
//! written, SHA-256 verified), side by side in one run; plus plain quinn at 8952 with offload
//! left on, the combination that black-holed back to 1200 bytes. Each plain quinn line
//! shows the MTU the sender ended at and the black holes quinn detected.
//!
//! `cargo bench --bench datagrams` (or `cargo xtask bench datagrams`); `VSTREAM_BENCH_SCALE`
//! scales the size down. Client and platform share this process (and the machine's cores).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use vstream::catalog::Catalog;
use vstream::client::{Client, ClientConfig};
use vstream::media::SegmentMode;
use vstream::net::{
    client_config, client_crypto, client_endpoint_with, platform_endpoint_with, server_config,
    server_crypto, SelfSignedCert, ServerVerification, TransportSettings, ALPN,
};
use vstream::platform::{Platform, PlatformConfig};
use vstream::wire::FileRequest;

const MIB: u64 = 1024 * 1024;
const LOOPBACK: &str = "127.0.0.1:0";

fn settings(max_udp_payload: u16) -> TransportSettings {
    TransportSettings {
        max_udp_payload,
        ..TransportSettings::default()
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let scale: f64 = std::env::var("VSTREAM_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let size = ((256 * MIB) as f64 * scale) as u64 / MIB * MIB;
    let size = size.max(MIB);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    make_file(&dir.path().join("bulk.bin"), size);
    let mib = size as f64 / MIB as f64;
    println!("datagram size, {mib:.0} MiB over loopback (release, one process, best of 2):");
    let mut base = None;
    for (label, payload, offload) in [
        ("plain quinn 1452, offload on ", 1452, None),
        ("plain quinn 8952, offload off", 8952, None),
        ("plain quinn 8952, offload on ", 8952, Some(true)),
    ] {
        let (t, mtu, holes) = best(|| rt.block_on(plain(size, settings(payload), offload)));
        let rate = mib / t.as_secs_f64();
        let ratio = base.map_or(String::new(), |b: f64| format!("  {:.2}x 1452", rate / b));
        base.get_or_insert(rate);
        println!("  {label}  {rate:8.1} MiB/s  MTU {mtu:5}  black holes {holes}{ratio}");
    }
    let mut base = None;
    for payload in [1452, 8952] {
        let (t, mtu, holes) = best(|| rt.block_on(vstream_upload(dir.path(), settings(payload))));
        let rate = mib / t.as_secs_f64();
        let ratio = base.map_or(String::new(), |b: f64| format!("  {:.2}x 1452", rate / b));
        base.get_or_insert(rate);
        let _ = (mtu, holes);
        println!("  vstream fixed {payload}          {rate:8.1} MiB/s{ratio}");
    }
}

fn best(mut f: impl FnMut() -> (Duration, u16, u64)) -> (Duration, u16, u64) {
    let a = f();
    let b = f();
    if a.0 <= b.0 {
        a
    } else {
        b
    }
}

fn make_file(path: &Path, size: u64) {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let bytes: Vec<u8> = (0..size / 8)
        .flat_map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()
        })
        .collect();
    std::fs::write(path, bytes).unwrap();
}

/// quinn configs from `transport`, with segmentation offload forced if `offload` is set.
fn configs(
    cert: &SelfSignedCert,
    transport: &TransportSettings,
    offload: Option<bool>,
) -> (quinn::ServerConfig, quinn::ClientConfig) {
    let crypto = server_crypto(vec![cert.cert.clone()], cert.key.clone_key().into()).unwrap();
    let mut server = server_config(crypto, transport).unwrap();
    let roots = ServerVerification::Roots(vec![cert.cert.clone()]);
    let mut client = client_config(client_crypto(&roots, ALPN).unwrap(), transport).unwrap();
    if let Some(on) = offload {
        let mut t = transport.to_quinn();
        t.enable_segmentation_offload(on);
        let t = Arc::new(t);
        server.transport_config(Arc::clone(&t));
        client.transport_config(t);
    }
    (server, client)
}

/// One plain quinn stream of `size` bytes from memory; (time, sender's MTU, black holes).
async fn plain(
    size: u64,
    transport: TransportSettings,
    offload: Option<bool>,
) -> (Duration, u16, u64) {
    let cert = SelfSignedCert::generate(&["localhost"]).unwrap();
    let (server_cfg, client_cfg) = configs(&cert, &transport, offload);
    let server = platform_endpoint_with(LOOPBACK.parse().unwrap(), server_cfg, &transport).unwrap();
    let addr = server.local_addr().unwrap();
    let receiver = tokio::spawn(async move {
        let conn = server.accept().await.unwrap().await.unwrap();
        let mut recv = conn.accept_uni().await.unwrap();
        let mut total = 0u64;
        while let Some(chunk) = recv.read_chunk(1 << 20, true).await.unwrap() {
            total += chunk.bytes.len() as u64;
        }
        conn.close(0u32.into(), b"done");
        total
    });
    let client = client_endpoint_with(LOOPBACK.parse().unwrap(), client_cfg, &transport).unwrap();
    let conn = client.connect(addr, "localhost").unwrap().await.unwrap();
    let start = Instant::now();
    let mut send = conn.open_uni().await.unwrap();
    let chunk = bytes::Bytes::from(vec![0xa5u8; MIB as usize]);
    for _ in 0..size / MIB {
        send.write_chunk(chunk.clone()).await.unwrap();
    }
    send.finish().unwrap();
    assert_eq!(receiver.await.unwrap(), size);
    let elapsed = start.elapsed();
    let path = conn.stats().path;
    (elapsed, path.current_mtu, path.black_holes_detected)
}

/// vstream fixed mode, the file verified; (time, 0, 0).
async fn vstream_upload(root: &Path, transport: TransportSettings) -> (Duration, u16, u64) {
    let cert = SelfSignedCert::generate(&["localhost"]).unwrap();
    let (server_cfg, client_cfg) = configs(&cert, &transport, None);
    let out = tempfile::tempdir_in(root).unwrap();
    let server = platform_endpoint_with(LOOPBACK.parse().unwrap(), server_cfg, &transport).unwrap();
    let platform = Platform::start(server, PlatformConfig::new(out.path()));
    let addr = platform.local_addr().unwrap();
    let endpoint = client_endpoint_with(LOOPBACK.parse().unwrap(), client_cfg, &transport).unwrap();
    let catalog = Arc::new(Catalog::new(root).unwrap());
    let mut client = Client::connect(
        &endpoint,
        addr,
        "localhost",
        Arc::clone(&catalog),
        ClientConfig::default(),
    )
    .await
    .unwrap();
    client.register("bulk.bin").await.unwrap();
    catalog.wait_for_checksums();
    client.wait_active().await.unwrap();
    let session = platform.wait_for_session().await.session_id;
    let mut request = FileRequest::new("bulk.bin");
    request.segment_mode = SegmentMode::Fixed;
    let start = Instant::now();
    let handle = platform.request_file(session, request).await.unwrap();
    let result = handle.finished().await.unwrap();
    let elapsed = start.elapsed();
    assert!(result.sha256_ok, "SHA-256 mismatch");
    let _ = client.close().await;
    platform.shutdown().await;
    // The library API does not expose the connection's path statistics: the plain quinn
    // lines above show what the same settings reach.
    (elapsed, 0, 0)
}
