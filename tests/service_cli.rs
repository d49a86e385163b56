//! `vstream platform --admin` and the configuration files as real processes: the admin
//! listener's token rule, `--config` with flags winning and `--print-config`, a service
//! started from files and driven over HTTP, SIGTERM stopping it cleanly with the reports
//! kept, and the progress display (plain lines when stderr is not a terminal, none with
//! `--quiet`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_vstream");
const TOKEN: &str = "cli-token-0123456789abcdef";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn vstream(args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args)
        .current_dir(repo())
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn run(args: &[&str]) -> Output {
    vstream(args).output().unwrap()
}

/// A child whose stderr lines are collected as they come.
struct Proc {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Proc {
    fn spawn(args: &[&str]) -> Proc {
        let mut child = vstream(args).spawn().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Proc { child, lines }
    }

    /// The text after `marker` on the first stderr line holding it (waits up to 20 s).
    fn wait_line(&self, marker: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(l) = self
                .lines
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.contains(marker))
            {
                return l[l.find(marker).unwrap() + marker.len()..]
                    .trim()
                    .to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "no line with {marker:?}: {:?}",
                self.lines.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stderr(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Waits (at most `secs`) for the exit.
    fn wait(&mut self, secs: u64) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "still running: {}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write(dir: &Path, name: &str, content: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn the_admin_listener_needs_a_token_off_loopback_and_files_merge_under_flags() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let out = out.to_str().unwrap();

    // Off loopback without a token: refused before anything listens.
    let o = run(&["platform", "--out", out, "--admin", "0.0.0.0:0"]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("reachable from the network without a token"),
        "{}",
        text(&o.stderr)
    );
    // A token too short is refused as well.
    let o = run(&[
        "platform",
        "--out",
        out,
        "--admin",
        "0.0.0.0:0",
        "--admin-token",
        "short",
    ]);
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("16 to 256"), "{}", text(&o.stderr));

    // A file under flags: the flag wins, the file fills the rest, the token is redacted.
    let config = write(
        dir.path(),
        "platform.toml",
        &format!(
            "listen = \"127.0.0.1:7000\"\nout = \"{out}\"\nmax_sessions = 7\nquiet = true\n\n[admin]\nlisten = \"127.0.0.1:9090\"\ntoken = \"{TOKEN}\"\n"
        ),
    );
    let o = run(&[
        "platform",
        "--config",
        &config,
        "--listen",
        "127.0.0.1:7001",
        "--print-config",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let printed = text(&o.stdout);
    for line in [
        "listen = \"127.0.0.1:7001\"",
        "max_sessions = 7",
        "quiet = true",
        "[admin]",
        "listen = \"127.0.0.1:9090\"",
        "token = \"<redacted>\"",
    ] {
        assert!(printed.contains(line), "{line} missing from\n{printed}");
    }
    assert!(!printed.contains(TOKEN), "{printed}");
    // What was printed reads back (the redacted token aside).
    let again = write(
        dir.path(),
        "again.toml",
        &printed.replace("token = \"<redacted>\"\n", ""),
    );
    let o = run(&["platform", "--config", &again, "--print-config"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("listen = \"127.0.0.1:7001\""));

    // An unknown key names its line; a missing file is a readable error.
    let bad = write(
        dir.path(),
        "bad.toml",
        &format!("out = \"{out}\"\nlsiten = \"x\"\n"),
    );
    let o = run(&["platform", "--config", &bad]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("line 2: unknown key `lsiten`"),
        "{}",
        text(&o.stderr)
    );
    let o = run(&["platform", "--config", "/nonexistent/platform.toml"]);
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("/nonexistent/platform.toml"));

    // The client's file, likewise.
    let client = write(
        dir.path(),
        "client.toml",
        "server = \"127.0.0.1:7000\"\ndir = \"test_videos\"\ninsecure = true\nregister = [\"a.mp4\", \"b.mp4\"]\n",
    );
    let o = run(&[
        "client",
        "--config",
        &client,
        "--server",
        "127.0.0.1:7002",
        "--print-config",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let printed = text(&o.stdout);
    assert!(printed.contains("server = \"127.0.0.1:7002\""), "{printed}");
    assert!(
        printed.contains("register = [\"a.mp4\", \"b.mp4\"]"),
        "{printed}"
    );
    assert!(printed.contains("insecure = true"), "{printed}");
}

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

async fn get(base: &str, path: &str) -> serde_json::Value {
    let r = http()
        .get(format!("{base}{path}"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.unwrap()
}

async fn post(base: &str, path: &str, body: &str) -> serde_json::Value {
    let r = http()
        .post(format!("{base}{path}"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_from_files_serves_pulls_over_http_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let token_file = write(dir.path(), "admin.token", &format!("{TOKEN}\n"));
    let cert = dir.path().join("cert.pem");
    let platform_toml = write(
        dir.path(),
        "platform.toml",
        &format!(
            "listen = \"127.0.0.1:0\"\nout = \"{}\"\nwrite_cert = \"{}\"\n\n[admin]\nlisten = \"127.0.0.1:0\"\ntoken_file = \"{token_file}\"\n",
            out.display(),
            cert.display()
        ),
    );
    let mut platform = Proc::spawn(&["platform", "--config", &platform_toml]);
    let quic = platform.wait_line("platform listening on ");
    let base = platform
        .wait_line("console on ")
        .trim_end_matches('/')
        .to_owned();
    let client_toml = write(
        dir.path(),
        "client.toml",
        &format!(
            "server = \"{quic}\"\ndir = \".\"\nregister = [\"test_videos\"]\nca = \"{}\"\nno_checksum_cache = true\nreconnect = \"none\"\n",
            cert.display()
        ),
    );
    let mut client = Proc::spawn(&["client", "--config", &client_toml]);

    // Without the token: 401.
    let r = http()
        .get(format!("{base}/api/sessions"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let deadline = Instant::now() + Duration::from_secs(20);
    let sid = loop {
        let sessions = get(&base, "/api/sessions").await;
        if let Some(s) = sessions
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["state"] == "ready")
        {
            break s["session_id"].as_str().unwrap().to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no device: {}",
            platform.stderr()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let files = get(&base, &format!("/api/sessions/{sid}/files?filter=mp4")).await;
    assert!(files["files"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["file_path"] == "test_videos/av.mp4"));

    // A pull over HTTP, verified.
    let ack = post(
        &base,
        &format!("/api/sessions/{sid}/transfers"),
        r#"{"file_path":"test_videos/av.mp4"}"#,
    )
    .await;
    let tid = ack["transfer_id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let t = get(&base, &format!("/api/transfers/{tid}")).await;
        if t["state"] == "completed" {
            assert_eq!(t["sha256_ok"], true, "{t}");
            break;
        }
        assert!(Instant::now() < deadline, "{t}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let metrics = http()
        .get(format!("{base}/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("vstream_sessions_total 1\n"), "{metrics}");
    assert!(
        metrics.contains("vstream_transfers_total{outcome=\"completed\"} 1\n"),
        "{metrics}"
    );

    // A realtime pull under way when SIGTERM comes: the platform closes the session (200),
    // writes what arrived and its report, and exits 0; the client ends with it.
    let ack = post(
        &base,
        &format!("/api/sessions/{sid}/transfers"),
        r#"{"file_path":"test_videos/main_bframes.h264","segment_mode":"frame","pacing":"realtime"}"#,
    )
    .await;
    let tid = ack["transfer_id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    while get(&base, &format!("/api/transfers/{tid}")).await["bytes_received"] == 0 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    platform.signal("TERM");
    let status = platform.wait(15);
    assert!(status.success(), "{}", platform.stderr());
    assert!(
        platform.stderr().contains("SIGTERM: closing every session"),
        "{}",
        platform.stderr()
    );
    let report = out.join(&sid).join("main_bframes.h264.report");
    let report = std::fs::read_to_string(&report)
        .unwrap_or_else(|e| panic!("{}: {e}; {}", report.display(), platform.stderr()));
    assert!(report.contains("main_bframes.h264"), "{report}");
    let status = client.wait(15);
    assert!(status.success(), "{}", client.stderr());
    // The client's progress: plain lines (stderr is a pipe), av.mp4 ended completed.
    let progress = client.stderr();
    assert!(
        progress.contains("progress: test_videos/av.mp4") && progress.contains("completed"),
        "{progress}"
    );
    // The per-segment lines are at DEBUG now.
    assert!(!progress.contains("Transmitted H.264 frame"), "{progress}");
    assert!(!platform.stderr().contains("Received video segment"));
}

#[test]
fn a_pull_shows_plain_progress_lines_and_quiet_silences_them() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let out = out.to_str().unwrap();
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let mut platform = Proc::spawn(&[
        "platform",
        "--listen",
        &listen,
        "--out",
        out,
        "--pull",
        "test_videos/av.mp4",
        "--timeout",
        "30",
    ]);
    let mut client = Proc::spawn(&[
        "client",
        "--server",
        &listen,
        "--dir",
        ".",
        "--register",
        "test_videos",
        "--insecure",
        "--no-checksum-cache",
        "--quiet",
    ]);
    assert!(platform.wait(40).success(), "{}", platform.stderr());
    assert!(client.wait(20).success(), "{}", client.stderr());
    let shown = platform.stderr();
    assert!(
        shown.contains("progress: test_videos/av.mp4 634.3/634.3 KiB 100%")
            && shown.contains("3/3 segments, completed"),
        "{shown}"
    );
    assert!(
        !client.stderr().contains("progress:"),
        "{}",
        client.stderr()
    );
}

#[test]
fn ctrl_c_interrupts_a_waiting_pull_and_sigterm_ends_a_client_session() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let out = out.to_str().unwrap();
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");

    // A pull still waiting for its client: Ctrl-C (SIGINT) ends it with a message, exit 1.
    let mut pull = Proc::spawn(&[
        "platform",
        "--listen",
        &listen,
        "--out",
        out,
        "--pull",
        "test_videos/av.mp4",
    ]);
    pull.wait_line("waiting for a client");
    pull.signal("INT");
    assert!(!pull.wait(10).success());
    assert!(
        pull.stderr().contains("Ctrl-C: pull interrupted"),
        "{}",
        pull.stderr()
    );
    drop(pull);

    // A long-running platform and a client: SIGTERM to the client ends its session
    // (SessionEnd, the platform sees it end) and the client exits 0.
    let platform = Proc::spawn(&["platform", "--listen", &listen, "--out", out]);
    platform.wait_line("platform listening on");
    let mut client = Proc::spawn(&[
        "client",
        "--server",
        &listen,
        "--dir",
        ".",
        "--register",
        "test_videos",
        "--insecure",
        "--no-checksum-cache",
        "--reconnect",
        "none",
    ]);
    platform.wait_line("ready, device");
    client.signal("TERM");
    assert!(client.wait(10).success(), "{}", client.stderr());
    assert!(
        client.stderr().contains("SIGTERM: ending the session"),
        "{}",
        client.stderr()
    );
    platform.wait_line("ended:");
}

#[test]
fn on_a_terminal_a_pull_draws_a_bar() {
    // `script` (util-linux) runs the platform on a pseudo-terminal.
    if Command::new("script").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "script (util-linux) is missing"
        );
        eprintln!("SKIPPED: no `script` command to give the platform a terminal");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let line = format!(
        "{BIN} platform --listen {listen} --out {} --pull test_videos/av.mp4 --timeout 30",
        out.display()
    );
    let mut platform = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .current_dir(repo())
        .env("RUST_LOG", "warn")
        .env("COLUMNS", "160")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let mut client = Proc::spawn(&[
        "client",
        "--server",
        &listen,
        "--dir",
        ".",
        "--register",
        "test_videos",
        "--insecure",
        "--no-checksum-cache",
        "--quiet",
    ]);
    let deadline = Instant::now() + Duration::from_secs(40);
    while platform.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the pull did not end");
        std::thread::sleep(Duration::from_millis(50));
    }
    let o = platform.wait_with_output().unwrap();
    let shown = text(&o.stdout);
    assert!(o.status.success(), "{shown}");
    assert!(
        shown.contains("test_videos/av.mp4 [==============================] 634.25 KiB/634.25 KiB"),
        "{shown}"
    );
    assert!(shown.contains("3/3 segments, completed"), "{shown}");
    assert!(
        !shown.contains("progress: "),
        "plain lines on a terminal: {shown}"
    );
    assert!(client.wait(20).success(), "{}", client.stderr());
}
