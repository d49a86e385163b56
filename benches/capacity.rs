//! Capacity of one platform process (issue 15), the platform pinned to CPU 1 and every
//! client in one other process pinned to CPU 0:
//! 1. 100 concurrent fixed-mode uploads of 32 MiB (one connection each) against one upload
//!    of the same size alone: aggregate MiB/s (target >= 0.9x the single upload's), the
//!    platform's CPU seconds per GiB, its peak RSS (target < 256 MB);
//! 2. 1,000 idle connected devices (sessions ready, keep-alives only): the platform's RSS
//!    (target < 128 MB) and the CPU it uses while idle over 10 s.
//!
//! The clients' catalogs hash the file before connecting (D100), as for files served
//! before. `cargo bench --bench capacity` (or `cargo xtask bench capacity`);
//! `VSTREAM_BENCH_SCALE` scales the file size, `VSTREAM_BENCH_UPLOADS` (100) and
//! `VSTREAM_BENCH_DEVICES` (1000) the counts.

mod common;

use common::*;
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use vstream::catalog::Catalog;
use vstream::client::{Client, ClientConfig};
use vstream::media::SegmentMode;
use vstream::platform::{Platform, PlatformConfig};
use vstream::wire::FileRequest;

const FILE: &str = "cap.bin";
/// How long the idle platform's CPU is measured.
const IDLE: Duration = Duration::from_secs(10);

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    if let Ok(role) = std::env::var("VSTREAM_BENCH_ROLE") {
        child_runtime().block_on(child(&role));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_cert(root);
    let size = scaled(32 * MIB);
    random_file(&root.join(FILE), size);
    let uploads: usize = env("VSTREAM_BENCH_UPLOADS").parse().unwrap_or(100);
    let devices: usize = env("VSTREAM_BENCH_DEVICES").parse().unwrap_or(1000);
    println!(
        "capacity: one platform process (CPU 1), the clients in one other process (CPU 0), loopback, release"
    );
    let single = pair(root, "uploads", 1, size);
    let many = pair(root, "uploads", uploads, size);
    let mib = |n: usize| (size * n as u64) as f64 / MIB as f64;
    let rate = |r: &serde_json::Value, n: usize| mib(n) / r["secs"].as_f64().unwrap();
    let cpu_gib = |r: &serde_json::Value, n: usize| {
        r["cpu"].as_f64().unwrap() / ((size * n as u64) as f64 / GIB)
    };
    println!(
        "  1 upload of {} MiB: {:8.1} MiB/s, platform CPU {:.2} s/GiB, peak RSS {:.1} MiB",
        size / MIB,
        rate(&single, 1),
        cpu_gib(&single, 1),
        single["hwm_kib"].as_f64().unwrap() / 1024.0
    );
    let ratio = rate(&many, uploads) / rate(&single, 1);
    let hwm = many["hwm_kib"].as_u64().unwrap();
    println!(
        "  {uploads} concurrent uploads of {} MiB: {:8.1} MiB/s aggregate, {ratio:.2}x the single upload (target >= 0.9) {}",
        size / MIB,
        rate(&many, uploads),
        verdict(ratio >= 0.9)
    );
    println!(
        "    platform CPU {:.2} s/GiB; peak RSS {:.1} MiB (target < 256 MB) {}",
        cpu_gib(&many, uploads),
        hwm as f64 / 1024.0,
        verdict(hwm * 1024 < 256_000_000)
    );
    let idle = pair(root, "idle", devices, size);
    let rss = idle["rss_kib"].as_u64().unwrap();
    println!(
        "  {devices} idle connected devices: platform RSS {:.1} MiB (target < 128 MB) {}; CPU while idle {:.2}% of a core ({:.3} s over {} s); connecting them took {:.1} s",
        rss as f64 / 1024.0,
        verdict(rss * 1024 < 128_000_000),
        idle["cpu"].as_f64().unwrap() / IDLE.as_secs_f64() * 100.0,
        idle["cpu"].as_f64().unwrap(),
        IDLE.as_secs(),
        idle["connect_secs"].as_f64().unwrap()
    );
}

/// A platform process and a client process with `n` connections; the platform's report.
fn pair(root: &Path, what: &str, n: usize, size: u64) -> serde_json::Value {
    let _ = std::fs::remove_file(root.join("addr"));
    let env = [
        ("VSTREAM_BENCH_WHAT", what.to_string()),
        ("VSTREAM_BENCH_N", n.to_string()),
        ("VSTREAM_BENCH_SIZE", size.to_string()),
    ];
    let platform = spawn_role(&[], "1", "platform", root, &env);
    let _ = read_addr(root);
    let clients = spawn_role(&[], "0", "clients", root, &env);
    let r = report(platform);
    report(clients);
    r
}

async fn child(role: &str) {
    let root = root_env();
    let n: usize = env("VSTREAM_BENCH_N").parse().unwrap();
    let idle = env("VSTREAM_BENCH_WHAT") == "idle";
    let line = match role {
        "platform" => platform(&root, n, idle).await,
        _ => clients(&root, n).await,
    };
    println!("{line}");
}

async fn platform(root: &Path, n: usize, idle: bool) -> serde_json::Value {
    let out = tempfile::tempdir_in(root).unwrap();
    let platform = Platform::start(server_endpoint(root), PlatformConfig::new(out.path()));
    publish_addr(root, platform.local_addr().unwrap());
    let connecting = Instant::now();
    let sessions = platform.wait_for_sessions(n).await;
    let connect_secs = connecting.elapsed().as_secs_f64();
    let report = if idle {
        // Let the last handshakes' work settle, then measure a quiet platform.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let cpu = process_cpu();
        tokio::time::sleep(IDLE).await;
        let cpu = process_cpu() - cpu;
        json!({"cpu": cpu, "rss_kib": status_kib("VmRSS:"), "connect_secs": connect_secs})
    } else {
        let (start, cpu) = (Instant::now(), process_cpu());
        let mut handles = Vec::new();
        for s in &sessions {
            let mut request = FileRequest::new(FILE);
            request.segment_mode = SegmentMode::Fixed;
            handles.push(platform.request_file(s.session_id, request).await.unwrap());
        }
        for handle in handles {
            assert!(handle.finished().await.unwrap().sha256_ok, "not verified");
        }
        let (secs, cpu) = (start.elapsed().as_secs_f64(), process_cpu() - cpu);
        json!({"secs": secs, "cpu": cpu, "hwm_kib": status_kib("VmHWM:")})
    };
    for s in sessions {
        let _ = platform.close_session(s.session_id);
    }
    platform.shutdown().await;
    report
}

async fn clients(root: &Path, n: usize) -> serde_json::Value {
    let catalog = Arc::new(Catalog::new(root).unwrap());
    catalog.register(FILE).unwrap();
    catalog.wait_for_checksums();
    let endpoint = client_endpoint_for(root);
    let addr = read_addr(root);
    let mut running = Vec::new();
    for _ in 0..n {
        let client = Client::connect(
            &endpoint,
            addr,
            "localhost",
            Arc::clone(&catalog),
            ClientConfig::default(),
        )
        .await
        .unwrap();
        running.push(tokio::spawn(client.finished()));
    }
    for c in running {
        let _ = c.await;
    }
    json!({})
}
