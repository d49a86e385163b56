//! Crash safety of the platform's playable copy (D74, D76): `vstream platform` killed with
//! SIGKILL in the middle of a realtime pull leaves `<name>.mp4.part`, which FFmpeg plays
//! without an error message up to its last complete fragment. Needs ffmpeg and ffprobe.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_vstream");

fn free_port() -> u16 {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.local_addr().unwrap().port()
}

fn spawn(args: &[&str], out: Option<&Path>) -> Child {
    let mut command = Command::new(BIN);
    command.args(args);
    if let Some(out) = out {
        command.arg("--out").arg(out);
    }
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// The first file under `dir` whose name ends with `suffix`.
fn find(dir: &Path, suffix: &str) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if let Some(found) = find(&path, suffix) {
                return Some(found);
            }
        } else if path.to_string_lossy().ends_with(suffix) {
            return Some(path);
        }
    }
    None
}

/// Samples described by the complete `moof` boxes at the top level of `mp4`.
fn samples_in_complete_fragments(mp4: &[u8]) -> u64 {
    let (mut pos, mut samples) = (0usize, 0u64);
    while pos + 8 <= mp4.len() {
        let size = u32::from_be_bytes(mp4[pos..pos + 4].try_into().unwrap()) as usize;
        if size < 8 || pos + size > mp4.len() {
            break;
        }
        if &mp4[pos + 4..pos + 8] == b"moof" {
            let body = &mp4[pos..pos + size];
            let trun = body.windows(4).position(|w| w == b"trun").unwrap();
            let count = &body[trun + 8..trun + 12];
            samples += u64::from(u32::from_be_bytes(count.try_into().unwrap()));
        }
        pos += size;
    }
    samples
}

#[test]
fn a_platform_killed_mid_transfer_leaves_an_mp4_that_plays_up_to_its_last_fragment() {
    let out = tempfile::tempdir().unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut platform = spawn(
        &[
            "platform",
            "--listen",
            &listen,
            "--pull",
            "test_videos/main_bframes.h264",
            "--mode",
            "frame",
            "--pacing",
            "realtime",
            "--timeout",
            "30",
        ],
        Some(out.path()),
    );
    let mut client = spawn(
        &[
            "client",
            "--server",
            &listen,
            "--dir",
            ".",
            "--register",
            "test_videos",
            "--insecure",
        ],
        None,
    );
    // Realtime pacing: 10 s of video at 30 fps, a fragment per 2 s GOP. Kill once two
    // fragments are complete, whatever the platform is doing at that instant.
    let deadline = Instant::now() + Duration::from_secs(20);
    let part = loop {
        assert!(Instant::now() < deadline, "no fragment written in time");
        if let Some(part) = find(out.path(), ".mp4.part") {
            let written = std::fs::read(&part).unwrap_or_default();
            if samples_in_complete_fragments(&written) >= 120 {
                break part;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    platform.kill().unwrap(); // SIGKILL
    platform.wait().unwrap();
    let _ = client.kill();
    let _ = client.wait();

    let left = std::fs::read(&part).unwrap();
    let complete = samples_in_complete_fragments(&left);
    assert!((120..300).contains(&complete), "{complete}");
    assert!(find(out.path(), "main_bframes.h264.mp4").is_none_or(|p| p == part));
    let decoded = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&part)
        .args(["-f", "framemd5", "-"])
        .output()
        .expect("ffmpeg (apt-get install ffmpeg)");
    let errors = String::from_utf8_lossy(&decoded.stderr);
    assert!(errors.trim().is_empty(), "{errors}");
    let frames = String::from_utf8_lossy(&decoded.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .count() as u64;
    assert_eq!(frames, complete);
}
