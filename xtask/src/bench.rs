//! `cargo xtask bench NAME`: the release benches (see each file under `benches/`).
//!
//! - `upload`: the two-machine bench (`benches/pinned.rs`: client and platform as separate
//!   processes pinned with taskset; bare quinn, quinn with the same I/O, vstream fixed mode,
//!   CPU per GiB each side, one then two platform cores), then frame mode and peak memory
//!   (`benches/upload.rs`, parts `frame,memory` unless `VSTREAM_BENCH_PART` says otherwise).
//! - `capacity`: 100 concurrent uploads and 1,000 idle devices into one platform.
//! - `capacity-profile`: where the platform's CPU per byte goes as the same bytes come
//!   over 1, 10, 100 connections (rusage, quinn's counts, perf syscall counts, callgrind).
//! - `callgrind`: the platform's instruction count receiving 64 MiB (needs valgrind).
//! - `first-segment`, `datagrams`, `media`: as before.
//! - `all`: upload, capacity, first-segment, datagrams, callgrind, in that order; the
//!   figures of issue 15 in one output.
//!
//! Extra arguments go to the bench binary.

use crate::cargo_command;

fn bench(name: &str, extra: &[&str], env: &[(&str, &str)]) -> anyhow::Result<bool> {
    let mut cmd = cargo_command();
    cmd.args(["bench", "-p", "vstream", "--bench", name, "--"])
        .args(extra);
    for (k, v) in env {
        if std::env::var_os(k).is_none() {
            cmd.env(k, v);
        }
    }
    Ok(cmd.status()?.success())
}

pub fn run(name: &str, extra: &[&str]) -> anyhow::Result<bool> {
    let ok = match name {
        "upload" => {
            bench("pinned", extra, &[])?
                & bench("upload", extra, &[("VSTREAM_BENCH_PART", "frame,memory")])?
        }
        "capacity" => bench("capacity", extra, &[])?,
        "capacity-profile" => bench("capacity", &[&["profile"], extra].concat(), &[])?,
        "callgrind" => bench("pinned", &[&["callgrind"], extra].concat(), &[])?,
        "first-segment" => bench("first_segment", extra, &[])?,
        "datagrams" | "media" => bench(name, extra, &[])?,
        "all" => {
            let mut ok = true;
            for part in [
                "upload",
                "capacity",
                "first-segment",
                "datagrams",
                "callgrind",
            ] {
                ok &= run(part, extra)?;
            }
            ok
        }
        other => anyhow::bail!(
            "no bench {other} (upload, capacity, capacity-profile, callgrind, first-segment, datagrams, media, all)"
        ),
    };
    Ok(ok)
}
