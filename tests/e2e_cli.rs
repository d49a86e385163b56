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

/// `--pacing realtime --rate 4 --script ...`: every command is acknowledged in the JSON's
/// `playback` array, a command after the end is skipped, the exit status is 0 although
/// the seek left a part of the file out, and the report lists the ranges received.
#[test]
fn platform_pull_runs_a_playback_script() {
    let out = tempfile::tempdir().unwrap();
    let port = free_port();
    let script = "pause@0.3,resume@0.5,seek:7.5@0.8,rate:2@1.0,quality:50M@1.1,stop@20";
    let p = platform(
        port,
        out.path(),
        &["--pacing", "realtime", "--rate", "4", "--script", script],
    );
    let c = client(port, &["--insecure"]);
    let report = finish(p, c);
    let steps = report["playback"].as_array().unwrap();
    let commands: Vec<&str> = steps
        .iter()
        .map(|s| s["command"].as_str().unwrap())
        .collect();
    assert_eq!(
        commands,
        [
            "pause",
            "resume",
            "seek:7.5",
            "rate:2",
            "quality:50000000",
            "stop"
        ]
    );
    assert_eq!(steps[0]["ack"]["state"], "paused");
    assert_eq!(steps[1]["ack"]["state"], "streaming");
    assert_eq!(
        steps[2]["ack"]["start_segment"], 180,
        "the IDR at or before 7.5 s"
    );
    assert_eq!(steps[3]["ack"]["rate"], 2.0);
    assert_eq!(steps[4]["ack"]["bandwidth_cap"], 50_000_000);
    assert_eq!(
        steps[5]["skipped"], true,
        "the transfer had ended: {}",
        steps[5]
    );
    assert_eq!(report["outcome"], "completed");
    assert_eq!(report["sha256_ok"], false);
    let ranges = report["index_ranges"].as_array().unwrap();
    assert_eq!(ranges.len(), 2, "{report}");
    assert_eq!(ranges[1], serde_json::json!([180, 299]));
}

#[test]
fn a_bad_script_is_refused_before_anything_starts() {
    let out = Command::new(BIN)
        .args(["platform", "--out", "/nonexistent", "--pull", "x"])
        .args(["--script", "pause@2,resume@1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("item 2") && stderr.contains("must not decrease"),
        "{stderr}"
    );
}
