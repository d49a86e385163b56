//! Upload benchmark: vstream against plain quinn on loopback, in the same run.
//!
//! `cargo bench --bench upload` (or `cargo xtask bench upload`) prints:
//! 1. fixed mode: a 256 MiB file uploaded and SHA-256 verified, beside one plain quinn
//!    stream moving the same bytes with the same TLS and transport settings (target >= 0.85x);
//! 2. frame mode: H.264 access units per second (one stream each, `.debug` written), beside
//!    plain quinn opening one stream per segment of the same sizes with the same concurrency
//!    (target >= 0.5x);
//! 3. peak RSS (VmHWM), each side in its own process: the client uploading a 1 GiB file in
//!    fixed and in frame mode (target < 64 MB), and the platform receiving 10 uploads at once
//!    (target < 128 MB).
//!
//! Files are made in a temporary folder and deleted. `VSTREAM_BENCH_SCALE` (default 1.0)
//! scales every size down for a quick run. `VSTREAM_BENCH_PART` picks parts, a comma list
//! of `plain` (the fixed-mode plain quinn baseline), `fixed`, `frame` and `memory`: all when unset;
//! `VSTREAM_BENCH_PART=fixed` profiles vstream's fixed mode alone. Child processes re-run
//! this binary with `VSTREAM_BENCH_ROLE` set.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use vstream::catalog::Catalog;
use vstream::client::{Client, ClientConfig};
use vstream::media::plan::PlanOptions;
use vstream::media::probe::plan_file;
use vstream::media::SegmentMode;
use vstream::net::{
    client_config, client_crypto, client_endpoint, platform_endpoint, server_config, server_crypto,
    SelfSignedCert, ServerVerification, TransportSettings, ALPN,
};
use vstream::platform::{Platform, PlatformConfig};
use vstream::wire::FileRequest;

mod common;

use common::{process_cpu, random_file, scaled, status_kib, verdict, LOOPBACK, MIB};

/// Whether `part` ("fixed", "frame" or "memory") is selected by `VSTREAM_BENCH_PART`
/// (a comma-separated list; all parts when unset), e.g. to profile one of them alone.
/// Without "plain" the plain quinn baselines are skipped (to profile vstream alone).
fn part(part: &str) -> bool {
    std::env::var("VSTREAM_BENCH_PART").map_or(true, |parts| parts.split(',').any(|p| p == part))
}

fn scale() -> f64 {
    std::env::var("VSTREAM_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for a list; nothing to list.
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    if let Ok(role) = std::env::var("VSTREAM_BENCH_ROLE") {
        rt.block_on(child(&role));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    println!(
        "upload bench (loopback, release, same run; scale {})",
        scale()
    );
    rt.block_on(throughput(dir.path()));
    drop(rt);
    if part("memory") {
        peak_memory(dir.path());
    }
}

// ---------------------------------------------------------------- endpoints

struct Tls {
    cert: SelfSignedCert,
}

impl Tls {
    fn new() -> Tls {
        Tls {
            cert: SelfSignedCert::generate(&["localhost"]).unwrap(),
        }
    }
    fn server(&self) -> quinn::Endpoint {
        let crypto = server_crypto(
            vec![self.cert.cert.clone()],
            self.cert.key.clone_key().into(),
        )
        .unwrap();
        let config = server_config(crypto, &TransportSettings::default()).unwrap();
        platform_endpoint(LOOPBACK.parse().unwrap(), config).unwrap()
    }
    fn client(&self) -> quinn::Endpoint {
        let roots = ServerVerification::Roots(vec![self.cert.cert.clone()]);
        let crypto = client_crypto(&roots, ALPN).unwrap();
        let config = client_config(crypto, &TransportSettings::default()).unwrap();
        client_endpoint(LOOPBACK.parse().unwrap(), config).unwrap()
    }
}

// ---------------------------------------------------------------- files

/// An H.264 stream of about `size` bytes: the bundled 10 s clip repeated.
fn h264_file(path: &Path, size: u64) {
    use std::io::Write;
    let clip = std::fs::read(repo().join("test_videos/main_bframes.h264")).unwrap();
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut written = 0;
    while written < size {
        f.write_all(&clip).unwrap();
        written += clip.len() as u64;
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

// ---------------------------------------------------------------- plain quinn

/// Gives a plain quinn receiver the window a lone platform connection gets (the
/// handshake advertises less: `TransportSettings::initial_receive_window`).
fn full_window(conn: &quinn::Connection) {
    let window = TransportSettings::default().receive_window;
    conn.set_receive_window(quinn::VarInt::from_u32(window));
}

/// One stream carrying `size` bytes; returns the time until the receiver has them all.
async fn plain_bulk(size: u64) -> Duration {
    let tls = Tls::new();
    let server = tls.server();
    let addr = server.local_addr().unwrap();
    let receiver = tokio::spawn(async move {
        let conn = server.accept().await.unwrap().await.unwrap();
        full_window(&conn);
        let mut recv = conn.accept_uni().await.unwrap();
        let mut got = 0u64;
        while let Some(chunk) = recv.read_chunk(usize::MAX, true).await.unwrap() {
            got += chunk.bytes.len() as u64;
        }
        (got, Instant::now())
    });
    let client = tls.client();
    let conn = client.connect(addr, "localhost").unwrap().await.unwrap();
    let block = bytes::Bytes::from(vec![7u8; MIB as usize]);
    let start = Instant::now();
    let mut send = conn.open_uni().await.unwrap();
    let mut left = size;
    while left > 0 {
        let n = left.min(MIB);
        send.write_chunk(block.slice(..n as usize)).await.unwrap();
        left -= n;
    }
    send.finish().unwrap();
    let (got, end) = receiver.await.unwrap();
    assert_eq!(got, size);
    conn.close(0u32.into(), b"");
    end - start
}

/// One stream carrying the file at `source`, with the disk and digest work the job needs
/// and nothing of vstream's: the sender reads the file in 128 KiB positioned reads, the
/// receiver writes what arrives at its offset in `dest` and hashes it (SHA-256) in order.
/// The time until the receiver has written and hashed everything: the floor for a
/// verified upload on this machine.
async fn plain_bulk_with_io(source: &Path, dest: &Path) -> Duration {
    use sha2::{Digest, Sha256};
    use std::os::unix::fs::FileExt;
    let size = std::fs::metadata(source).unwrap().len();
    let tls = Tls::new();
    let server = tls.server();
    let addr = server.local_addr().unwrap();
    let out = std::fs::File::create(dest).unwrap();
    let receiver = tokio::spawn(async move {
        let conn = server.accept().await.unwrap().await.unwrap();
        full_window(&conn);
        let mut recv = conn.accept_uni().await.unwrap();
        let (mut got, mut hasher) = (0u64, Sha256::new());
        while let Some(chunk) = recv.read_chunk(usize::MAX, true).await.unwrap() {
            out.write_all_at(&chunk.bytes, got).unwrap();
            hasher.update(&chunk.bytes);
            got += chunk.bytes.len() as u64;
        }
        std::hint::black_box(hasher.finalize());
        (got, Instant::now())
    });
    let client = tls.client();
    let conn = client.connect(addr, "localhost").unwrap().await.unwrap();
    let file = Arc::new(std::fs::File::open(source).unwrap());
    let start = Instant::now();
    let mut send = conn.open_uni().await.unwrap();
    let mut pos = 0;
    while pos < size {
        let n = (size - pos).min(128 * 1024) as usize;
        let mut buf = vec![0u8; n];
        let file = Arc::clone(&file);
        let buf = tokio::task::spawn_blocking(move || {
            file.read_exact_at(&mut buf, pos).unwrap();
            buf
        })
        .await
        .unwrap();
        send.write_chunk(bytes::Bytes::from(buf)).await.unwrap();
        pos += n as u64;
    }
    send.finish().unwrap();
    let (got, end) = receiver.await.unwrap();
    assert_eq!(got, size);
    conn.close(0u32.into(), b"");
    end - start
}

/// One stream per segment of the given sizes, at most `concurrency` open at once.
async fn plain_streams(sizes: Arc<Vec<u64>>, concurrency: usize) -> Duration {
    let tls = Tls::new();
    let server = tls.server();
    let addr = server.local_addr().unwrap();
    let count = sizes.len();
    let receiver = tokio::spawn(async move {
        let conn = server.accept().await.unwrap().await.unwrap();
        full_window(&conn);
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..count {
            let mut recv = conn.accept_uni().await.unwrap();
            tasks.spawn(async move { recv.read_to_end(64 * MIB as usize).await.unwrap().len() });
        }
        while tasks.join_next().await.is_some() {}
        Instant::now()
    });
    let client = tls.client();
    let conn = client.connect(addr, "localhost").unwrap().await.unwrap();
    let block = bytes::Bytes::from(vec![7u8; 4 * MIB as usize]);
    let permits = Arc::new(Semaphore::new(concurrency));
    let start = Instant::now();
    for &size in sizes.iter() {
        let permit = Arc::clone(&permits).acquire_owned().await.unwrap();
        let conn = conn.clone();
        let data = block.slice(..(size as usize).min(block.len()));
        tokio::spawn(async move {
            let mut send = conn.open_uni().await.unwrap();
            send.write_chunk(data).await.unwrap();
            send.finish().unwrap();
            let _ = send.stopped().await;
            drop(permit);
        });
    }
    let end = receiver.await.unwrap();
    conn.close(0u32.into(), b"");
    end - start
}

// ---------------------------------------------------------------- vstream

/// Uploads `file` (under `root`) once; returns the time from request to verified end, the
/// segments, and the CPU time both ends used meanwhile.
async fn vstream_upload(root: &Path, file: &str, mode: SegmentMode) -> (Duration, u64, f64) {
    let tls = Tls::new();
    let out = tempfile::tempdir_in(root).unwrap();
    let platform = Platform::start(tls.server(), PlatformConfig::new(out.path()));
    let addr = platform.local_addr().unwrap();
    let endpoint = tls.client();
    let catalog = Arc::new(Catalog::new(root).unwrap());
    let mut client = Client::connect(
        &endpoint,
        addr,
        "localhost",
        catalog,
        ClientConfig::default(),
    )
    .await
    .unwrap();
    client.register(file).await.unwrap();
    client.wait_active().await.unwrap();
    let session = platform.wait_for_session().await.session_id;
    // Listing hashes the file once (the catalog caches it), so the timed part is the upload.
    platform.query_files(session, None).await.unwrap();
    let mut request = FileRequest::new(file);
    request.segment_mode = mode;
    let (start, cpu) = (Instant::now(), process_cpu());
    let handle = platform.request_file(session, request).await.unwrap();
    let segments = u64::from(handle.ack.total_segments);
    let result = handle.finished().await.unwrap();
    let (elapsed, cpu) = (start.elapsed(), process_cpu() - cpu);
    assert!(result.sha256_ok, "{file}: SHA-256 mismatch");
    let _ = client.close().await;
    platform.shutdown().await;
    (elapsed, segments, cpu)
}

async fn best_of<F, Fut, T>(runs: usize, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
    T: PartialOrd,
{
    let mut best = f().await;
    for _ in 1..runs {
        let t = f().await;
        if t < best {
            best = t;
        }
    }
    best
}

async fn throughput(root: &Path) {
    if part("fixed") {
        fixed_throughput(root).await;
    }
    if part("frame") {
        frame_throughput(root).await;
    }
}

/// Fixed mode against one plain quinn stream.
async fn fixed_throughput(root: &Path) {
    let size = scaled(256 * MIB);
    random_file(&root.join("bulk.bin"), size);
    let mib = size as f64 / MIB as f64;
    println!("fixed mode, {mib:.0} MiB:");
    // Plain quinn: best of 3, with the CPU time both ends used per GiB.
    let plain = if part("plain") {
        let cpu = process_cpu();
        let time = best_of(3, || plain_bulk(size)).await;
        let cpu = (process_cpu() - cpu) / 3.0;
        println!(
            "  plain quinn, one stream   {:8.1} MiB/s  CPU {:.2} s/GiB (both ends)",
            mib / time.as_secs_f64(),
            cpu * 1024.0 / mib
        );
        let (source, dest) = (root.join("bulk.bin"), root.join("bulk.copy"));
        let cpu = process_cpu();
        let io = best_of(3, || plain_bulk_with_io(&source, &dest)).await;
        let cpu = (process_cpu() - cpu) / 3.0;
        let _ = std::fs::remove_file(&dest);
        println!(
            "  plain quinn + file read, write and SHA-256 (no vstream)  {:8.1} MiB/s  CPU {:.2} s/GiB",
            mib / io.as_secs_f64(),
            cpu * 1024.0 / mib
        );
        Some((mib / time.as_secs_f64(), mib / io.as_secs_f64()))
    } else {
        None
    };
    let (ours, _, ours_cpu) =
        best_of(3, || vstream_upload(root, "bulk.bin", SegmentMode::Fixed)).await;
    let o = mib / ours.as_secs_f64();
    print!(
        "  vstream fixed (verified)  {o:8.1} MiB/s  CPU {:.2} s/GiB (both ends)",
        ours_cpu * 1024.0 / mib
    );
    match plain {
        Some((p, io)) => println!(
            "  ratio {:.2} (target >= 0.85) {}; {:.2} of plain quinn with the same I/O",
            o / p,
            verdict(o / p >= 0.85),
            o / io
        ),
        None => println!(),
    }
}

/// Frame mode against plain quinn streams of the same sizes.
async fn frame_throughput(root: &Path) {
    h264_file(&root.join("frames.h264"), scaled(24 * MIB));
    let (_, plan, _) = plan_file(
        &root.join("frames.h264"),
        SegmentMode::Frame,
        PlanOptions::default(),
    )
    .unwrap();
    let sizes: Arc<Vec<u64>> = Arc::new(plan.iter().map(|s| s.len).collect());
    let n = sizes.len() as f64;
    let concurrency = vstream::session::SessionConfig::default().max_in_flight_segments;
    let plain = best_of(3, || plain_streams(Arc::clone(&sizes), concurrency)).await;
    let (ours, segments, _) = best_of(3, || {
        vstream_upload(root, "frames.h264", SegmentMode::Frame)
    })
    .await;
    assert_eq!(segments as f64, n);
    let (p, o) = (n / plain.as_secs_f64(), n / ours.as_secs_f64());
    println!(
        "frame mode, {} access units (mean {:.0} bytes):",
        sizes.len(),
        plan.file_size() as f64 / n
    );
    println!("  plain quinn, stream each  {p:8.0} segments/s ({concurrency} in flight)");
    println!(
        "  vstream frame (+ .debug)  {o:8.0} segments/s  ratio {:.2} (target >= 0.5) {}",
        o / p,
        verdict(o / p >= 0.5)
    );
}

// ---------------------------------------------------------------- peak memory

/// Runs the roles in child processes and prints each one's VmHWM.
fn peak_memory(root: &Path) {
    let gib = scaled(1024 * MIB);
    random_file(&root.join("big.bin"), gib);
    h264_file(&root.join("big.h264"), gib);
    for (file, mode) in [("big.bin", "fixed"), ("big.h264", "frame")] {
        let (platform_kib, client_kib) = run_pair(root, &[file], mode);
        let client_mib = client_kib as f64 / 1024.0;
        println!(
            "client peak RSS, {} MiB {mode} upload: {client_mib:6.1} MiB (target < 64 MB) {}  [platform {:.1} MiB]",
            gib / MIB,
            verdict(client_kib * 1024 < 64_000_000),
            platform_kib as f64 / 1024.0
        );
    }
    let each = scaled(128 * MIB);
    let names: Vec<String> = (0..10).map(|i| format!("ten-{i}.bin")).collect();
    for name in &names {
        random_file(&root.join(name), each);
    }
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let (platform_kib, _) = run_pair(root, &refs, "fixed");
    println!(
        "platform peak RSS, 10 concurrent uploads of {} MiB: {:6.1} MiB (target < 128 MB) {}",
        each / MIB,
        platform_kib as f64 / 1024.0,
        verdict(platform_kib * 1024 < 128_000_000)
    );
}

/// A platform process pulling `files` (one client connection each, all in one client
/// process); returns both processes' VmHWM in KiB.
fn run_pair(root: &Path, files: &[&str], mode: &str) -> (u64, u64) {
    let exe = std::env::current_exe().unwrap();
    let cert = root.join("cert.pem");
    let key = root.join("key.pem");
    let tls = SelfSignedCert::generate(&["localhost"]).unwrap();
    std::fs::write(&cert, &tls.cert_pem).unwrap();
    std::fs::write(&key, &tls.key_pem).unwrap();
    let addr_file = root.join("addr");
    let _ = std::fs::remove_file(&addr_file);
    let spawn = |role: &str| {
        Command::new(&exe)
            .env("VSTREAM_BENCH_ROLE", role)
            .env("VSTREAM_BENCH_ROOT", root)
            .env("VSTREAM_BENCH_FILES", files.join(","))
            .env("VSTREAM_BENCH_MODE", mode)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let platform = spawn("platform");
    while !addr_file.exists() {
        std::thread::sleep(Duration::from_millis(20));
    }
    let client = spawn("client");
    let read = |child: std::process::Child| -> u64 {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "bench child failed");
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    };
    let platform_kib = read(platform);
    let client_kib = read(client);
    (platform_kib, client_kib)
}

async fn child(role: &str) {
    let root = PathBuf::from(std::env::var("VSTREAM_BENCH_ROOT").unwrap());
    let files: Vec<String> = std::env::var("VSTREAM_BENCH_FILES")
        .unwrap()
        .split(',')
        .map(String::from)
        .collect();
    let mode = SegmentMode::from_name(&std::env::var("VSTREAM_BENCH_MODE").unwrap()).unwrap();
    let certs = vstream::net::load_certs_pem(&root.join("cert.pem")).unwrap();
    match role {
        "platform" => {
            let key = vstream::net::load_key_pem(&root.join("key.pem")).unwrap();
            let crypto = server_crypto(certs, key).unwrap();
            let config = server_config(crypto, &TransportSettings::default()).unwrap();
            let endpoint = platform_endpoint(LOOPBACK.parse().unwrap(), config).unwrap();
            let out = tempfile::tempdir_in(&root).unwrap();
            let platform = Platform::start(endpoint, PlatformConfig::new(out.path()));
            let addr = platform.local_addr().unwrap();
            std::fs::write(root.join("addr.tmp"), addr.to_string()).unwrap();
            std::fs::rename(root.join("addr.tmp"), root.join("addr")).unwrap();
            let sessions = platform.wait_for_sessions(files.len()).await;
            let mut handles = Vec::new();
            for (session, file) in sessions.iter().zip(&files) {
                let mut request = FileRequest::new(file.as_str());
                request.segment_mode = mode;
                handles.push(
                    platform
                        .request_file(session.session_id, request)
                        .await
                        .unwrap(),
                );
            }
            for handle in handles {
                assert!(handle.finished().await.unwrap().sha256_ok);
            }
            for session in sessions {
                let _ = platform.close_session(session.session_id);
            }
            platform.shutdown().await;
            println!("{}", status_kib("VmHWM:"));
        }
        _ => {
            let addr: SocketAddr = std::fs::read_to_string(root.join("addr"))
                .unwrap()
                .trim()
                .parse()
                .unwrap();
            let crypto = client_crypto(&ServerVerification::Roots(certs), ALPN).unwrap();
            let config = client_config(crypto, &TransportSettings::default()).unwrap();
            let endpoint = client_endpoint(LOOPBACK.parse().unwrap(), config).unwrap();
            let mut clients = Vec::new();
            // Every client serves every file: the platform pairs sessions and files in
            // whatever order the handshakes complete.
            for _ in &files {
                let catalog = Arc::new(Catalog::new(&root).unwrap());
                for file in &files {
                    catalog.register(file).unwrap();
                }
                let c = Client::connect(
                    &endpoint,
                    addr,
                    "localhost",
                    catalog,
                    ClientConfig::default(),
                )
                .await
                .unwrap();
                clients.push(c);
            }
            for c in clients {
                let _ = c.finished().await;
            }
            println!("{}", status_kib("VmHWM:"));
        }
    }
}
