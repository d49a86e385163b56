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
