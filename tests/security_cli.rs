//! The security options of the built `vstream` binary (issue 13): `vstream token` and
//! `--tokens` / `--device-id` / `--token-file`, `vstream certs` and mutual TLS with
//! `--client-ca` / `--cert` / `--key`, and the platform's certificate kept in `--out`
//! across restarts. Child processes on a free loopback port.

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

fn vstream(args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn platform(port: u16, out: &Path, extra: &[&str]) -> Child {
    let listen = format!("127.0.0.1:{port}");
    let out = out.to_str().unwrap();
    let mut args = vec!["platform", "--listen", &listen, "--out", out];
    args.extend_from_slice(&[
        "--pull",
        "test_videos/aud.h264",
        "--mode",
        "frame",
        "--timeout",
        "20",
    ]);
    args.extend_from_slice(extra);
    vstream(&args).spawn().unwrap()
}

/// The platform's kept certificate, once it is written.
fn wait_for_cert(out: &Path) -> std::path::PathBuf {
    let path = out.join("platform-cert.pem");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !path.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    path
}

fn client(port: u16, ca: &Path, extra: &[&str]) -> Child {
    let server = format!("127.0.0.1:{port}");
    let ca = ca.to_str().unwrap();
    let mut args = vec![
        "client",
        "--server",
        &server,
        "--server-name",
        "localhost",
        "--ca",
        ca,
        "--dir",
        ".",
        "--register",
        "test_videos",
    ];
    args.extend_from_slice(extra);
    vstream(&args).spawn().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `vstream token --device ID`: (token, hash line).
fn new_token(device: &str) -> (String, String) {
    let o = vstream(&["token", "--device", device]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    let token = text
        .split_whitespace()
        .find(|w| w.starts_with("vst1_"))
        .unwrap()
        .to_string();
    let line = text
        .lines()
        .find(|l| l.starts_with(device))
        .unwrap()
        .to_string();
    (token, line)
}

#[test]
fn tokens_from_the_cli_admit_the_device_and_refuse_a_wrong_one() {
    let dir = tempfile::tempdir().unwrap();
    let (token, line) = new_token("cam-1");
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, format!("{line}\n")).unwrap();
    let token_file = dir.path().join("cam-1.token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let out = dir.path().join("out");
    let port = free_port();
    let tokens_arg = tokens.to_str().unwrap();
    let p = platform(port, &out, &["--tokens", tokens_arg]);
    let cert = wait_for_cert(&out);
    // A wrong token: refused promptly (1004), the client exits non-zero and says why.
    let started = Instant::now();
    let rogue = client(
        port,
        &cert,
        &["--device-id", "cam-1", "--token", "vst1_not-the-token"],
    )
    .wait_with_output()
    .unwrap();
    assert!(!rogue.status.success());
    assert!(stderr(&rogue).contains("1004"), "{}", stderr(&rogue));
    assert!(started.elapsed() < Duration::from_secs(10));
    // The device with its token: the pull completes.
    let good = client(
        port,
        &cert,
        &[
            "--device-id",
            "cam-1",
            "--token-file",
            token_file.to_str().unwrap(),
        ],
    );
    let p = p.wait_with_output().unwrap();
    let c = good.wait_with_output().unwrap();
    assert!(p.status.success(), "platform: {}", stderr(&p));
    assert!(c.status.success(), "client: {}", stderr(&c));
    assert!(stderr(&p).contains("refused device"), "{}", stderr(&p));
    assert!(stderr(&p).contains("cam-1 (token)"), "{}", stderr(&p));
}

#[test]
fn mutual_tls_from_the_cli_and_the_certificate_is_kept_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    let o = vstream(&["certs", "--dir", pki.to_str().unwrap(), "--device", "cam-7"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let out = dir.path().join("out");
    let ca = pki.join("ca.pem");
    let run = |first: bool| {
        let port = free_port();
        let p = platform(port, &out, &["--client-ca", ca.to_str().unwrap()]);
        let cert = wait_for_cert(&out);
        let kept = std::fs::read(&cert).unwrap();
        if first {
            // Without a certificate: 1004.
            let stranger = client(port, &cert, &[]).wait_with_output().unwrap();
            assert!(!stranger.status.success());
            assert!(stderr(&stranger).contains("1004"), "{}", stderr(&stranger));
        }
        let c = client(
            port,
            &cert,
            &[
                "--cert",
                pki.join("cam-7.pem").to_str().unwrap(),
                "--key",
                pki.join("cam-7-key.pem").to_str().unwrap(),
            ],
        );
        let p = p.wait_with_output().unwrap();
        let c = c.wait_with_output().unwrap();
        assert!(p.status.success(), "platform: {}", stderr(&p));
        assert!(c.status.success(), "client: {}", stderr(&c));
        assert!(stderr(&p).contains("cam-7 (certificate)"), "{}", stderr(&p));
        kept
    };
    let first = run(true);
    let second = run(false);
    assert_eq!(first, second, "the restarted platform kept its certificate");
}

#[test]
fn pull_from_a_device_ignores_a_rogue_client_that_connects_first() {
    let dir = tempfile::tempdir().unwrap();
    let (token, line) = new_token("cam-1");
    let (rogue_token, rogue_line) = new_token("rogue-9");
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, format!("{line}\n{rogue_line}\n")).unwrap();
    // The rogue serves its own file under the same path.
    let rogue_dir = dir.path().join("rogue");
    std::fs::create_dir_all(rogue_dir.join("test_videos")).unwrap();
    std::fs::write(rogue_dir.join("test_videos/aud.h264"), b"not the video").unwrap();
    let out = dir.path().join("out");
    let port = free_port();
    let p = platform(
        port,
        &out,
        &[
            "--tokens",
            tokens.to_str().unwrap(),
            "--from",
            "cam-1",
            "--json",
        ],
    );
    let cert = wait_for_cert(&out);
    let server = format!("127.0.0.1:{port}");
    let rogue = vstream(&[
        "client",
        "--server",
        &server,
        "--server-name",
        "localhost",
        "--ca",
        cert.to_str().unwrap(),
        "--dir",
        rogue_dir.to_str().unwrap(),
        "--device-id",
        "rogue-9",
        "--token",
        &rogue_token,
    ])
    .spawn()
    .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let good = client(port, &cert, &["--device-id", "cam-1", "--token", &token]);
    let p = p.wait_with_output().unwrap();
    let _ = good.wait_with_output().unwrap();
    let _ = rogue.wait_with_output();
    assert!(p.status.success(), "platform: {}", stderr(&p));
    let report: serde_json::Value = serde_json::from_slice(&p.stdout).unwrap();
    assert_eq!(report["sha256_ok"], true, "{report}");
    let output = report["output"].as_str().unwrap();
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("test_videos/aud.h264");
    assert_eq!(
        std::fs::read(output).unwrap(),
        std::fs::read(source).unwrap()
    );
}

#[test]
fn pull_from_without_authentication_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let o = platform(free_port(), dir.path(), &["--from", "cam-1"])
        .wait_with_output()
        .unwrap();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--from needs"), "{}", stderr(&o));
}

#[test]
fn sessions_per_device_from_the_cli_refuse_the_second_session_with_1009() {
    let dir = tempfile::tempdir().unwrap();
    let (token, line) = new_token("cam-1");
    let (_, absent) = new_token("cam-9");
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, format!("{line}\n{absent}\n")).unwrap();
    let out = dir.path().join("out");
    let port = free_port();
    // The platform waits for cam-9, which never comes: cam-1's sessions stay open.
    let mut p = platform(
        port,
        &out,
        &[
            "--tokens",
            tokens.to_str().unwrap(),
            "--from",
            "cam-9",
            "--max-sessions-per-device",
            "1",
        ],
    );
    let cert = wait_for_cert(&out);
    // 1009 is a reason to come back later (D68): without reconnection the refused client
    // exits, which is what this test watches for.
    let device = [
        "--device-id",
        "cam-1",
        "--token",
        token.as_str(),
        "--reconnect",
        "none",
    ];
    let mut clients = [client(port, &cert, &device), client(port, &cert, &device)];
    // Whichever comes second is refused with 1009 and exits; the other stays in session.
    let deadline = Instant::now() + Duration::from_secs(20);
    let refused = loop {
        if let Some(i) = (0..2).find(|&i| clients[i].try_wait().unwrap().is_some()) {
            break i;
        }
        assert!(Instant::now() < deadline, "neither client was refused");
        std::thread::sleep(Duration::from_millis(50));
    };
    std::thread::sleep(Duration::from_millis(500));
    let kept = 1 - refused;
    assert!(
        clients[kept].try_wait().unwrap().is_none(),
        "both sessions of cam-1 ended"
    );
    clients[kept].kill().unwrap();
    p.kill().unwrap();
    let [a, b] = clients;
    let outputs = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
    let o = &outputs[refused];
    assert!(!o.status.success());
    assert!(stderr(o).contains("1009"), "{}", stderr(o));
    let p = p.wait_with_output().unwrap();
    assert!(
        stderr(&p).contains("maximum of 1 live sessions"),
        "{}",
        stderr(&p)
    );
}
