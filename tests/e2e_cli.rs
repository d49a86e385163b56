//! The built `vstream` binary end to end: `vstream platform --pull ... --json` and
//! `vstream client` as child processes on a free loopback port.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_vstream");

fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn platform(port: u16, out: &Path, extra: &[&str]) -> Child {
    Command::new(BIN)
        .args([
            "platform",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--out",
        ])
        .arg(out)
        .args([
            "--pull",
            "test_videos/main_bframes.h264",
            "--mode",
            "frame",
            "--json",
            "--timeout",
            "30",
        ])
        .args(extra)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn client(port: u16, trust: &[&str]) -> Child {
    Command::new(BIN)
        .args(["client", "--server", &format!("127.0.0.1:{port}")])
        .args(["--dir", ".", "--register", "test_videos"])
        .args(trust)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for both, checks both exited 0, and returns the platform's JSON.
fn finish(platform: Child, client: Child) -> serde_json::Value {
    let p: Output = platform.wait_with_output().unwrap();
    let c: Output = client.wait_with_output().unwrap();
    let stderr = |o: &Output| String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(p.status.success(), "platform failed: {}", stderr(&p));
    assert!(c.status.success(), "client failed: {}", stderr(&c));
    serde_json::from_slice(&p.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&p.stdout)))
}

fn check(report: &serde_json::Value) {
    assert_eq!(report["sha256_ok"], true, "{report}");
    assert_eq!(report["file_path"], "test_videos/main_bframes.h264");
    assert_eq!(report["bytes"], 381041);
    assert_eq!(report["segments"], 300);
    assert_eq!(report["video_segments"], 300);
    assert_eq!(report["audio_segments"], 0);
    assert_eq!(report["keyframes"], 5);
    let output = report["output"].as_str().unwrap();
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("test_videos/main_bframes.h264");
    assert_eq!(
        std::fs::read(output).unwrap(),
        std::fs::read(source).unwrap()
    );
}

#[test]
fn platform_pull_and_insecure_client_as_processes() {
    let out = tempfile::tempdir().unwrap();
    let port = free_port();
    let p = platform(port, out.path(), &[]);
    let c = client(port, &["--insecure"]);
    check(&finish(p, c));
}

#[test]
fn client_verifies_the_certificate_the_platform_wrote() {
    let out = tempfile::tempdir().unwrap();
    let cert = out.path().join("platform.pem");
    let port = free_port();
    let p = platform(
        port,
        &out.path().join("out"),
        &["--write-cert", cert.to_str().unwrap()],
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cert.exists() {
        assert!(
            Instant::now() < deadline,
            "the platform wrote no certificate"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let c = client(port, &["--ca", cert.to_str().unwrap()]);
    check(&finish(p, c));
}

#[test]
fn client_without_ca_or_insecure_exits_with_a_message() {
    let out = Command::new(BIN)
        .args(["client", "--server", "127.0.0.1:9", "--dir", "."])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--ca"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
