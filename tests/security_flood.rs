//! The flood figure of issue 13 (D99): a flood of QUIC handshakes from one address against
//! the built `vstream platform` (a separate process, with the CLI's default limits and
//! `--tokens`), then an authenticated device from that same address, which must be served
//! within 1 s of the flood ending; the platform's peak RSS (VmHWM of /proc/PID/status)
//! must stay under 64 MB. The flood's connections that get in are held open to the end.
//!
//! `cargo test --test security_flood -- --nocapture` runs the short variant (200
//! handshakes in 2 s, CI); `-- --ignored --nocapture` the full one (2000 in 20 s). Both
//! print their figures.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use vstream::auth::Token;
use vstream::catalog::Catalog;
use vstream::client::{Backoff, Client, ClientConfig, ReconnectPolicy};
use vstream::net::{
    client_config, client_crypto, client_endpoint, load_certs_pem, ServerVerification,
    TransportSettings, ALPN,
};
use vstream::session::TransferOutcome;
use vstream::wire::SessionStart;

const BIN: &str = env!("CARGO_BIN_EXE_vstream");
const RSS_BOUND_KB: u64 = 64 * 1024;

fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `vstream platform` with the CLI's default limits, requiring tokens, pulling one file
/// from `cam-1` only; its log goes to `log` (a pipe would fill under the flood's warnings).
fn platform(port: u16, dir: &Path, tokens: &Path, log: &Path, timeout: u64) -> Child {
    Command::new(BIN)
        .args(["platform", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--out")
        .arg(dir.join("out"))
        .arg("--tokens")
        .arg(tokens)
        .args(["--pull", "test_videos/aud.h264", "--from", "cam-1"])
        .args(["--mode", "frame", "--timeout", &timeout.to_string()])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_LOG", "info")
        .stdout(Stdio::from(File::create(dir.join("platform.out")).unwrap()))
        .stderr(Stdio::from(File::create(log).unwrap()))
        .spawn()
        .unwrap()
}

/// A field of /proc/PID/status, in kB.
fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Reads the platform's VmHWM every 20 ms while it lives; the last reading is its peak.
fn watch_peak_rss(pid: u32) -> Arc<AtomicU64> {
    let peak = Arc::new(AtomicU64::new(0));
    let seen = Arc::clone(&peak);
    std::thread::spawn(move || {
        while let Some(kb) = status_kb(pid, "VmHWM:") {
            seen.fetch_max(kb, Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    peak
}

fn wait_for(path: &Path) -> PathBuf {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !path.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(path.exists(), "{} never appeared", path.display());
    path.to_path_buf()
}

fn endpoint(ca: &Path) -> quinn::Endpoint {
    let roots = load_certs_pem(ca).unwrap();
    let crypto = client_crypto(&ServerVerification::Roots(roots), ALPN).unwrap();
    let config = client_config(crypto, &TransportSettings::default()).unwrap();
    client_endpoint("127.0.0.1:0".parse().unwrap(), config).unwrap()
}

/// What the flood met.
#[derive(Debug, Default)]
struct FloodOutcome {
    accepted: usize,
    refused: usize,
    other: usize,
}

/// `n` handshakes from one socket, evenly over `secs`; the connections that get in are
/// returned, held open.
async fn flood(
    ca: &Path,
    server: std::net::SocketAddr,
    n: usize,
    secs: f64,
) -> (FloodOutcome, Vec<quinn::Connection>) {
    let endpoint = endpoint(ca);
    let mut tick = tokio::time::interval(Duration::from_secs_f64(secs / n as f64));
    let mut attempts = tokio::task::JoinSet::new();
    for _ in 0..n {
        tick.tick().await;
        let connecting = endpoint.connect(server, "localhost").unwrap();
        attempts
            .spawn(async move { tokio::time::timeout(Duration::from_secs(10), connecting).await });
    }
    let mut outcome = FloodOutcome::default();
    let mut held = Vec::new();
    while let Some(done) = attempts.join_next().await {
        match done.unwrap() {
            Ok(Ok(conn)) => {
                outcome.accepted += 1;
                held.push(conn);
            }
            Ok(Err(quinn::ConnectionError::ConnectionClosed(close)))
                if close.error_code == quinn::TransportErrorCode::CONNECTION_REFUSED =>
            {
                outcome.refused += 1
            }
            _ => outcome.other += 1,
        }
    }
    (outcome, held)
}

/// The device `cam-1` with its token, connected and in session: refused connections are
/// tried again on the default reconnect schedule.
async fn device(ca: &Path, server: std::net::SocketAddr, token: &Token) -> Client {
    let endpoint = endpoint(ca);
    let mut backoff = Backoff::new(ReconnectPolicy::default());
    loop {
        let catalog = Catalog::new(env!("CARGO_MANIFEST_DIR")).unwrap();
        catalog.register("test_videos").unwrap();
        let mut config = ClientConfig::default();
        config.session.session_start = SessionStart::with_device("cam-1", Some(token.as_str()));
        match Client::connect(&endpoint, server, "localhost", Arc::new(catalog), config).await {
            Ok(mut client) => {
                client.wait_active().await.expect("the device's session");
                return client;
            }
            Err(e) => {
                let wait = backoff.next_delay().expect("retries forever");
                println!("device: {e}; again in {wait:?}");
                tokio::time::sleep(wait).await;
            }
        }
    }
}

fn run_flood(n: usize, secs: f64) {
    let dir = tempfile::tempdir().unwrap();
    let token = Token::generate().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, format!("cam-1 {}\n", token.hash())).unwrap();
    let log = dir.path().join("platform.log");
    let port = free_port();
    let mut child = platform(port, dir.path(), &tokens, &log, secs as u64 + 60);
    let pid = child.id();
    let ca = wait_for(&dir.path().join("out/platform-cert.pem"));
    std::thread::sleep(Duration::from_millis(200));
    let idle_kb = status_kb(pid, "VmHWM:").unwrap_or(0);
    let peak = watch_peak_rss(pid);
    let server: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (outcome, held, established, served) = runtime.block_on(async {
        let started = Instant::now();
        let (outcome, held) = flood(&ca, server, n, secs).await;
        let flood_took = started.elapsed();
        println!("flood: {n} handshakes in {flood_took:.1?}: {outcome:?}");
        // The flood is over: the device connects from the same address at once, on the
        // library's default reconnect schedule (its first attempt may meet the address's
        // empty bucket: refused, it tries again 100 ms later).
        let ended = Instant::now();
        let client = device(&ca, server, &token).await;
        let established = ended.elapsed();
        // Served: the pull completed (every segment sent) at the device.
        let deadline = Instant::now() + Duration::from_secs(30);
        while !client
            .progress()
            .transfers
            .iter()
            .any(|t| t.outcome == Some(TransferOutcome::Completed))
        {
            assert!(
                Instant::now() < deadline,
                "never served: {:?}",
                client.progress()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let served = ended.elapsed();
        let summary = tokio::time::timeout(Duration::from_secs(30), client.finished())
            .await
            .expect("the platform ends the session")
            .expect("the session ends well");
        assert_eq!(summary.transfers.len(), 1, "{summary:?}");
        (outcome, held, established, served)
    });
    let status = child.wait().unwrap();
    drop(held);
    let peak_kb = peak.load(Ordering::Relaxed);
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    let refusal_lines = log_text.matches("refused a connection").count();
    println!(
        "flood figure: {n} handshakes in {secs} s from 127.0.0.1: {} accepted (held), {} \
         refused, {} other; platform's log: {refusal_lines} refusal lines; after the flood ended \
         the device had its session in {} ms and its pull completed in {} ms; platform VmHWM \
         {} kB idle, {} kB peak (bound {RSS_BOUND_KB} kB)",
        outcome.accepted,
        outcome.refused,
        outcome.other,
        established.as_millis(),
        served.as_millis(),
        idle_kb,
        peak_kb
    );
    let report = std::fs::read_to_string(dir.path().join("platform.out")).unwrap_or_default();
    assert!(status.success(), "platform failed: {report}\n{log_text}");
    assert!(report.contains("OK"), "{report}");
    assert!(
        outcome.refused > 0,
        "the flood was not limited: {outcome:?}"
    );
    assert!(served < Duration::from_secs(1), "served after {served:?}");
    assert!(
        peak_kb > 0 && peak_kb < RSS_BOUND_KB,
        "peak RSS {peak_kb} kB"
    );
}

#[test]
fn a_short_flood_leaves_the_platform_serving_a_device_at_once_in_bounded_memory() {
    run_flood(200, 2.0);
}

#[test]
#[ignore = "20 s: the full figure of issue 13, run by hand"]
fn a_flood_of_2000_handshakes_in_20_s_leaves_the_platform_serving_within_1_s_under_64_mb() {
    run_flood(2000, 20.0);
}
