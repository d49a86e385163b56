//! `vstream client`'s reconnection flags: a bad value is refused with a readable message
//! before anything connects.

use std::process::Command;

fn client(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vstream"))
        .args([
            "client",
            "--server",
            "127.0.0.1:9",
            "--dir",
            ".",
            "--insecure",
        ])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn an_unknown_strategy_is_refused_by_name() {
    let (ok, stderr) = client(&["--reconnect", "fibonacci"]);
    assert!(!ok);
    assert!(
        stderr.contains("unknown reconnect strategy \"fibonacci\""),
        "{stderr}"
    );
}

#[test]
fn a_backoff_that_is_not_a_number_of_seconds_is_refused() {
    for bad in ["-1", "NaN", "inf", "soon"] {
        let flag = format!("--max-backoff={bad}");
        let (ok, stderr) = client(&[&flag]);
        assert!(!ok, "{bad}");
        assert!(stderr.contains("expected seconds"), "{bad}: {stderr}");
    }
}

#[test]
fn max_retries_must_be_a_count() {
    let (ok, stderr) = client(&["--max-retries=-3"]);
    assert!(!ok);
    assert!(stderr.contains("--max-retries"), "{stderr}");
}

#[test]
fn timeouts_must_be_seconds() {
    let (ok, stderr) = client(&["--stall-timeout=soon"]);
    assert!(!ok);
    assert!(stderr.contains("expected seconds"), "{stderr}");
    let (ok, stderr) = client(&["--connect-timeout=0"]);
    assert!(!ok);
    assert!(stderr.contains("expected seconds above 0"), "{stderr}");
}

#[test]
fn with_nothing_listening_the_client_gives_up_after_the_connect_timeout() {
    let started = std::time::Instant::now();
    let (ok, stderr) = client(&["--reconnect", "none", "--connect-timeout", "1.5"]);
    let took = started.elapsed();
    assert!(!ok);
    assert!(
        stderr.contains("no answer from the platform within 1.5s"),
        "{stderr}"
    );
    assert!(
        // Far below QUIC's 30 s idle timeout; generous for a loaded CI machine.
        took < std::time::Duration::from_secs(15),
        "took {took:?} (QUIC's idle timeout is 30 s)"
    );
}
